"""The county team sees a case only once it is appealed, on the staff pages and the JSON API alike: its
localities are the county's, but it hears of a case only through an appeal (api.auth.scope_of)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import StaffUser
from domain.staff import new_api_key
from tests.staff_support import open_threshold_case, staff_browser
from tests.support import CaseService

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_county_team_cannot_reach_a_case_without_an_appeal(service: CaseService) -> None:
    reference = await open_threshold_case(service)
    county = await staff_browser(service, role="county_team")
    api = service.browser()
    try:
        for path in (f"/staff/cases/{reference}", f"/staff/cases/{reference}/withdraw"):
            assert (await county.get(path)).status_code == 404, path
        assert (await county.get(f"/staff/cases/{reference}/appeal-chair")).status_code == 404
        # Failed mail is the SPOC's to put right.
        assert (await county.get("/staff/failed-mail")).status_code == 403

        key, key_hash = new_api_key()
        with service.sessions() as session:
            user = session.scalar(
                select(StaffUser).where(StaffUser.role == "county_team").order_by(StaffUser.id.desc())
            )
            assert user is not None
            user.api_key_hash = key_hash
            session.commit()
        signed = {"Authorization": f"Bearer {key}"}
        assert (await api.get(f"/api/cases/{reference}", headers=signed)).status_code == 404
        listed = await api.get("/api/cases", headers=signed)
        assert listed.status_code == 200
        assert reference not in {case["reference"] for case in listed.json()}
    finally:
        await county.aclose()
        await api.aclose()
        await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
