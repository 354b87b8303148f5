"""The staff action pages of a case's appeal: each form's bad input answered on the page with nothing written,
a step that does not fit the appeal's stage shown with why, and the chair named from the page reaching the
appeal workflow. The real API, the case and appeal workflows on the time-skipping server, SQLite and the
SMTP sink (conftest's `service`)."""

from __future__ import annotations

import datetime as dt
import html

import pytest

from tests.staff_support import date_parts, open_form, send, shows, staff_browser, submissions
from tests.support import CaseService
from tests.test_appeals import chair_asked_for, request_appeal, to_not_met

pytestmark = pytest.mark.asyncio(loop_scope="session")

APPEAL_KINDS = {
    "appeal-consent": "appeal_consent",
    "appeal-chair": "appeal_chair",
    "appeal-withdraw": "appeal_withdrawal",
    "appeal-chair-link-resend": "chair_link_resend",
    "appeal-chair-link-extend": "chair_link_extension",
    "appeal-acknowledge": "appeal_acknowledgement",
    "appeal-criteria": "appeal_criteria",
    "appeal-panel": "appeal_panel",
    "appeal-decision": "appeal_decision",
}


async def test_the_appeal_forms_refuse_bad_input_and_the_chair_named_reaches_the_appeal(
    service: CaseService,
) -> None:
    reference = await to_not_met(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)
    browser = await staff_browser(service)
    today = await service.today()
    bad: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
        (
            "appeal-consent",
            {"received_on-day": "", "received_on-month": "", "received_on-year": ""},
            ("Enter the date the consent arrived",),
        ),
        ("appeal-chair", {}, ("Select who will hear the appeal",)),
        # The chair of the applicant's own partnership is not offered, and not taken.
        ("appeal-chair", {"chair": "blaby-csp-chair"}, ("Select who will hear the appeal",)),
        (
            "appeal-withdraw",
            {},
            (
                "Select who asked for the appeal to be withdrawn",
                "Enter the reason for withdrawing the appeal",
            ),
        ),
        (
            "appeal-chair-link-resend",
            {"reason": "x" * 2001},
            ("The reason must be 2,000 characters or fewer",),
        ),
        (
            "appeal-chair-link-extend",
            {**date_parts("valid_until", today + dt.timedelta(days=400)), "reason": "Away."},
            ("A link can be kept working for up to a year from today",),
        ),
        ("appeal-acknowledge", {"note": "x" * 2001}, ("The note must be 2,000 characters or fewer",)),
        (
            "appeal-criteria",
            {},
            ("Select whether the appeal meets the grounds", "Enter the reasons for the chair's decision"),
        ),
        (
            "appeal-panel",
            {
                "meeting-day": "1",
                "meeting-month": "13",
                "meeting-year": "2027",
                "meeting-time": "25:00",
                "location": "County Hall",
                "member-rows": "1",
                "member-1-name": "Pat Chair",
            },
            (
                "The date of the panel meeting must be a real date, like 27 3 2027",
                "Enter the time of the panel meeting like 14:30 or 2:30pm",
                "Enter the role of panel member 1",
            ),
        ),
        ("appeal-decision", {}, ("Select whether the appeal is upheld", "Enter the reasons for the outcome")),
    ]
    for slug, fields, messages in bad:
        form = await open_form(browser, reference, slug)
        shows(await send(browser, reference, slug, {**form, **fields}), *messages)
    for slug, kind in APPEAL_KINDS.items():
        assert submissions(service, reference, kind) == 0, slug

    # Acknowledging before anyone is named does not fit the appeal's stage.
    form = await open_form(browser, reference, "appeal-acknowledge")
    early = await send(browser, reference, "appeal-acknowledge", form)
    assert early.status_code == 409
    assert "can only be recorded at the “Waiting for the chair's acknowledgement” stage" in html.unescape(
        early.text
    )
    assert "appeal_chair_named" not in early.text
    assert submissions(service, reference, "appeal_acknowledgement") == 0

    # The county team names who hears the appeal (and may record nothing else of it).
    county = await staff_browser(service, role="county_team")
    assert (await county.get(f"/staff/cases/{reference}/appeal-withdraw")).status_code == 403
    page = await county.get(f"/staff/cases/{reference}/appeal-chair")
    assert "Chair, Melton Community Safety Partnership" in page.text
    assert 'value="blaby-csp-chair"' not in page.text
    form = await open_form(county, reference, "appeal-chair")
    named = await send(county, reference, "appeal-chair", {**form, "chair": "melton-csp-chair"})
    assert named.status_code == 303, named.text
    assert named.headers["Location"] == f"/staff/cases/{reference}?done=appeal-chair"
    case = await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    assert case["appeal"]["stage"] == "appeal_chair_named"
    assert case["appeal"]["chair"] == "Chair, Melton Community Safety Partnership"
    assert [m.recipient for m in service.outbox(reference, "appeal-bundle")] == [
        "csp.chair@melton.council.example"
    ]
    assert submissions(service, reference, "appeal_chair") == 1
    await service.act(reference, "appeal/withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
