"""Numbers no form expects (a superscript digit, a twenty-digit day) get the form's message, never a 500:
`str.isdigit` takes digits that `int` refuses, and a huge day overflows a date."""

from __future__ import annotations

import re

import pytest

from tests.staff_support import open_form, open_threshold_case, send, staff_browser, submissions
from tests.support import CaseService

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_odd_numbers_in_staff_forms_are_refused_on_the_page(service: CaseService) -> None:
    reference = await open_threshold_case(service)
    browser = await staff_browser(service)
    try:
        form = await open_form(browser, reference, "panel-decision")
        rows = await send(browser, reference, "panel-decision", {**form, "plan-rows": "²", "findings": "x"})
        assert rows.status_code in (400, 409)

        form = await open_form(browser, reference, "impact-statement")
        minutes = await send(
            browser, reference, "impact-statement", {**form, "method": "in_person", "minutes": "²"}
        )
        assert minutes.status_code in (400, 409)

        page = await browser.get(f"/staff/cases/{reference}")
        request_key = re.findall(r"request=([A-Za-z0-9_%:-]+)", page.text)[0]
        form = await open_form(browser, reference, "extend", f"?request={request_key}")
        huge_day = {"due_on-day": "9" * 20, "due_on-month": "1", "due_on-year": "2027"}
        huge_day["reason"] = "More time."
        extended = await send(browser, reference, "extend", {**form, **huge_day})
        assert extended.status_code == 400
        assert "must be a real date" in extended.text
        assert submissions(service, reference, "extension") == 0
    finally:
        await browser.aclose()
        await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
