"""The staff page of emails that could not be delivered: what failed for the cases of the staff member's areas
(and nothing of other areas), and an information request sent again to a corrected address from it. The
real API, the case workflow on the time-skipping server, SQLite and the SMTP sink, which refuses the
addresses the test names (conftest's `service`)."""

from __future__ import annotations

import html
import uuid

import pytest
from sqlalchemy import select

from db.models import AuditEntry
from tests.staff_support import open_form, send, staff_browser
from tests.support import CaseService, application
from tests.test_case_workflow import next_working_morning

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLICE = "asb.casereview@leicestershire-police.example"
POLICE_KEY = "threshold:leicestershire-police"


async def test_failed_mail_lists_what_failed_and_a_request_is_resent_to_a_corrected_address(
    service: CaseService,
) -> None:
    today = await next_working_morning(service)
    applicant_address = f"gone-{uuid.uuid4().hex[:8]}@example.test"
    body = application(today=today)
    body["applicant"] = {**body["applicant"], "email": applicant_address}
    # Only while this case's first emails go: no other case sends to the police without time passing.
    service.mail.refuse |= {POLICE, applicant_address}
    try:
        reference = await service.open_case(body)
        await service.wait_for(
            reference,
            lambda c: (
                any(
                    r["request_key"] == POLICE_KEY and r["delivery"] == "failed"
                    for r in c["information_requests"]
                )
                and any(m["recipient"] == applicant_address for m in c["failed_mail"])
            ),
        )
    finally:
        service.mail.refuse -= {POLICE, applicant_address}

    browser = await staff_browser(service)
    page = await browser.get("/staff/failed-mail")
    assert page.status_code == 200
    text = html.unescape(page.text)
    resend_link = f"/staff/cases/{reference}/resend?request=threshold%3Aleicestershire-police"
    assert resend_link in text
    assert POLICE in text and applicant_address in text
    with service.sessions() as session:
        listed = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "list_failed_mail")
        ).all()
    assert any(actor.startswith("Sam Spoc") for actor in listed)
    # Another area's staff see nothing of this case.
    elsewhere = await (await staff_browser(service, locality="charnwood")).get("/staff/failed-mail")
    assert reference not in elsewhere.text and applicant_address not in elsewhere.text

    # The link opens the resend page for that request; sent to a working address, it is delivered.
    form = await open_form(browser, reference, "resend", "?request=threshold%3Aleicestershire-police")
    assert form["request_key"] == POLICE_KEY
    corrected = "asb.team@leicestershire-police.example"
    sent = await send(
        browser, reference, "resend", {**form, "to": corrected, "reason": "The old address bounced."}
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["Location"] == f"/staff/cases/{reference}?done=resend"
    await service.wait_for(
        reference,
        lambda c: any(
            r["request_key"] == POLICE_KEY and r["delivery"] == "sent" for r in c["information_requests"]
        ),
    )
    assert any(str(m["To"]) == corrected for m in service.mail_about(reference))
    page = await browser.get("/staff/failed-mail")
    assert resend_link not in html.unescape(page.text)
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
