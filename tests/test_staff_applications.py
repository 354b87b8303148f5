"""Recording an application taken by phone, on paper, in person or by email from the staff page: its
questions checked as the online form checks them, nothing opened on bad input, and the case started as
`POST /api/cases` starts one, once however often the form is sent, with how it came in audited. The real
API, the case workflow on the time-skipping server, SQLite and the SMTP sink (conftest's `service`)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import func, select

from db.models import AuditEntry, Case
from tests.staff_support import date_parts, hidden, shows, staff_browser
from tests.support import CaseService
from tests.test_case_workflow import next_working_morning

pytestmark = pytest.mark.asyncio(loop_scope="session")


def incident_row(row: int, today: dt.date, days: int, reported_to: str, organisation: str) -> dict[str, str]:
    return {
        **date_parts(f"incident-{row}-occurred_on", today - dt.timedelta(days=days)),
        **date_parts(f"incident-{row}-reported_on", today - dt.timedelta(days=days - 1)),
        f"incident-{row}-reported_to": reported_to,
        f"incident-{row}-organisation": organisation,
        f"incident-{row}-reference": f"REF-{days}",
        f"incident-{row}-description": "Loud music and shouting late at night.",
    }


async def test_an_application_taken_by_phone_starts_a_case_with_its_channel(service: CaseService) -> None:
    today = await next_working_morning(service)
    browser = await staff_browser(service)
    page = await browser.get("/staff/applications/new")
    assert page.status_code == 200
    form = {"csrf": hidden(page.text, "csrf"), "form_key": hidden(page.text, "form_key")}
    assert hidden(page.text, "locality") == "blaby"  # the staff member's one area
    with service.sessions() as session:
        cases_before = session.scalar(select(func.count()).select_from(Case))

    # Nothing answered: every question says what it needs, and no case is opened.
    empty = await browser.post("/staff/applications/new", data={**form, "received_on-day": ""})
    shows(
        empty,
        "Select how the application came in",
        "Enter the date the application arrived",
        "Select who is applying",
        "Enter the applicant's full name",
        "Select how the applicant wants their letters",
        "Enter at least one incident",
        "Select yes if any of the incidents was a hate incident",
        "Select yes if the applicant thinks enough has been done",
        "Confirm the applicant agrees to their information being shared",
    )
    # Another council's area is not one to choose.
    elsewhere = await browser.post("/staff/applications/new", data={**form, "locality": "charnwood"})
    assert elsewhere.status_code == 400 and "Select the council area" in html.unescape(elsewhere.text)

    answers = {
        **form,
        "locality": "blaby",
        "channel": "phone",
        **date_parts("received_on", today),
        "who": "myself",
        "name": "Robin Caller",
        "contact_preference": "post",
        "address": "2 Mill Lane, Narborough",
        "postcode": "le19 2bb",
        "phone": "0116 496 0000",
        "hate_incident": "no",
        "effective_action": "no",
        "consent_to_share": "yes",
        "truthful": "yes",
        "incident-rows": "1",
    }
    # Three incidents, each added with "Add another incident".
    incidents = [
        (60, "police", "Leicestershire Police"),
        (40, "council", "Blaby District Council"),
        (20, "housing_provider", "East Midlands Homes"),
    ]
    for row, (days, reported_to, organisation) in enumerate(incidents, start=1):
        answers.update(incident_row(row, today, days, reported_to, organisation))
        if row < len(incidents):
            added = await browser.post("/staff/applications/new", data={**answers, "step": "add-incident"})
            assert added.status_code == 200 and f'name="incident-rows" value="{row + 1}"' in added.text
            answers["incident-rows"] = str(row + 1)
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == cases_before

    sent = await browser.post("/staff/applications/new", data=answers)
    assert sent.status_code == 303, sent.text
    location = sent.headers["Location"]
    match = re.fullmatch(r"/staff/cases/(CT-BLA-\d{4}-\d{4})\?done=application", location)
    assert match, location
    reference = match.group(1)
    # Sent again (a double click): the same case, not a second one.
    again = await browser.post("/staff/applications/new", data=answers)
    assert again.status_code == 303 and again.headers["Location"] == location
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == cases_before + 1
        recorded = session.scalars(
            select(AuditEntry).where(
                AuditEntry.case_reference == reference, AuditEntry.action == "application_recorded"
            )
        ).all()
    assert [entry.detail for entry in recorded] == ["taken by phone; letters by post"]
    assert recorded[0].actor.startswith("Sam Spoc (spoc, staff #")

    case = await service.wait_for(reference, lambda c: c["stage"] == "threshold_check" and bool(c["letters"]))
    application_sent = case["application"]
    assert application_sent["applicant"]["name"] == "Robin Caller"
    assert application_sent["applicant"]["postcode"] == "LE19 2BB"
    assert application_sent["contact_preference"] == "post"
    assert application_sent["received_on"] == today.isoformat()
    assert application_sent["channel"] == "phone"
    page = await browser.get(f"/staff/cases/{reference}")
    assert "How the application came in" in page.text and "Taken by phone" in page.text
    assert [i["organisation"] for i in application_sent["incidents"]] == [o for _, _, o in incidents]
    assert case["assessment"]["met"] is True
    assert [(letter["code"], letter["channel"]) for letter in case["letters"]] == [("letter-1", "post")]
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
