"""Chasing agencies end to end: links in the request emails, reminders and escalation on working days,
resend (new link, old one revoked), extension, proceeding without an answer, and mail that fails for good.

Real parts throughout: the time-skipping Temporal server, the worker, the API, the SMTP sink, SQLite.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from db.models import AccessToken, AuditEntry, InformationRequest, OutboxMessage
from domain.calendar import add_working_days, is_working_day, london_date
from domain.deadlines import working_days_before
from domain.links import hash_token, link_expires_at
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"
SPOC = "community.trigger@blaby.council.example"
POLICE = "asb.casereview@leicestershire-police.example"
POLICE_KEY = "threshold:leicestershire-police"
LINK = re.compile(r"http://testserver/agency/r/([A-Za-z0-9_-]{43})")


async def fresh_day(service: CaseService) -> dt.date:
    day = await service.today() + dt.timedelta(days=1)
    while not is_working_day(day, NATION):
        day += dt.timedelta(days=1)
    await service.travel_to(day)
    return day


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def links_in(message: EmailMessage) -> list[str]:
    return LINK.findall(text_of(message))


def sent_to(service: CaseService, reference: str, address: str) -> list[EmailMessage]:
    return [m for m in service.mail_about(reference) if str(m["To"]) == address]


def events(case: dict[str, Any], text: str) -> list[dict[str, Any]]:
    return [entry for entry in case["chronology"] if text in entry["event"]]


def on(entry: dict[str, Any]) -> dt.date:
    return london_date(dt.datetime.fromisoformat(entry["at"]))


def tokens(service: CaseService, reference: str, request_key: str) -> list[AccessToken]:
    with service.sessions() as session:
        request = session.scalar(
            select(InformationRequest).where(
                InformationRequest.case.has(reference=reference),
                InformationRequest.request_key == request_key,
            )
        )
        assert request is not None
        return list(
            session.scalars(
                select(AccessToken).where(AccessToken.request_id == request.id).order_by(AccessToken.id)
            )
        )


async def test_request_email_carries_a_link_whose_token_is_stored_only_as_a_hash(
    service: CaseService,
) -> None:
    today = await fresh_day(service)
    reference = await service.open_case(application(today=today))
    case = await service.wait_for(
        reference, lambda c: all(r["delivery"] == "sent" for r in c["information_requests"])
    )
    police_mail = sent_to(service, reference, POLICE)
    assert len(police_mail) == 1
    (token,) = links_in(police_mail[0])
    assert reference not in token and "Alex" not in token
    # The HTML part carries the same link.
    html = police_mail[0].get_body(("html",))
    assert html is not None and token in str(html.get_content())

    (stored,) = tokens(service, reference, POLICE_KEY)
    assert stored.token_hash == hash_token(token) and stored.purpose == "agency_link"
    due = add_working_days(today, 5, NATION)
    assert stored.expires_at == link_expires_at(due, 15, NATION)
    # The expiry follows the working-day rule: the end of the 15th working day after the due date.
    assert london_date(stored.expires_at - dt.timedelta(seconds=1)) == add_working_days(due, 15, NATION)

    # Once sent, the outbox keeps the email without the secret; nothing else in the database holds it.
    with service.sessions() as session:
        bodies = session.scalars(
            select(OutboxMessage.body_text + OutboxMessage.body_html).where(
                OutboxMessage.case_reference == reference
            )
        ).all()
        audit = session.scalars(select(AuditEntry.detail).where(AuditEntry.case_reference == reference)).all()
    assert bodies and not any(token in body for body in bodies)
    assert any("/agency/r/[link removed" in body for body in bodies)
    assert not any(token in (detail or "") for detail in audit)
    assert {r["state"] for r in case["information_requests"]} == {"requested"}


async def test_agencies_are_reminded_before_the_due_date_and_the_spoc_told_on_it(
    service: CaseService,
) -> None:
    today = await fresh_day(service)
    reference = await service.open_case(application(today=today))
    due = add_working_days(today, 5, NATION)
    reminder_on = working_days_before(due, 2, NATION)

    await service.travel_to(due, dt.time(12, 0))
    case = await service.wait_for(reference, lambda c: len(events(c, "is due today")) == 3)
    reminders = events(case, "reminder sent to the agency")
    assert [on(entry) for entry in reminders] == [reminder_on] * 3 + [due] * 3  # before, on the day
    due_today = events(case, "is due today")
    assert {on(entry) for entry in due_today} == {due}
    assert all("escalated to the SPOC" in entry["event"] for entry in due_today)

    agency_reminders = service.outbox(reference, "agency-reminder")
    assert sorted(m.recipient for m in agency_reminders) == sorted(
        [
            "asb.casereview@leicestershire-police.example",
            "asb@blaby.council.example",
            "asb@east-midlands-homes.example",
        ]
        * 2
    )
    assert all(m.status == "sent" for m in agency_reminders)
    overdue = service.outbox(reference, "agency-overdue")
    assert [m.recipient for m in overdue] == [SPOC] * 3
    # Each reminder has a link of its own, and every link of the request still works.
    police_mail = sent_to(service, reference, POLICE)
    assert len(police_mail) == 3
    assert len({token for m in police_mail for token in links_in(m)}) == 3
    assert all(t.revoked_at is None for t in tokens(service, reference, POLICE_KEY))
    # Reminders to agencies carry no personal data of the applicant.
    reminder_mail = [
        m for m in police_mail if "Reminder" in str(m["Subject"]) or "Due today" in str(m["Subject"])
    ]
    assert len(reminder_mail) == 2
    assert not any("Alex" in text_of(m) or "High Street" in text_of(m) for m in reminder_mail)

    # Nothing more is sent to agencies after the due date: the SPOC decides what to do.
    await service.travel_to(add_working_days(due, 3, NATION))
    assert len(service.outbox(reference, "agency-reminder")) == 6
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    await service.result(reference, history="agencies-chased-v3")


async def test_decision_waits_until_every_request_is_answered_or_waived(service: CaseService) -> None:
    today = await fresh_day(service)
    reference = await service.open_case(application(today=today))
    decision = {"outcome": "met", "reasons": "Three incidents reported in time."}
    refused = await service.act(reference, "threshold-decision", decision)
    assert refused.status_code == 409
    assert "3 information request(s)" in refused.json()["detail"] and POLICE_KEY in refused.json()["detail"]

    response = await service.act(
        reference,
        "information-requests/waive",
        {"request_key": POLICE_KEY, "reasons": "The police log was shared at the last partnership meeting."},
    )
    assert response.status_code == 200, response.text
    again = await service.act(
        reference, "information-requests/waive", {"request_key": POLICE_KEY, "reasons": "x"}
    )
    assert again.status_code == 409 and "already waived" in again.json()["detail"]
    waived = await service.act(
        reference, "information-requests/waive", {"request_key": "threshold:nobody", "reasons": "x"}
    )
    assert waived.status_code == 409 and "no information request" in waived.json()["detail"]
    assert (await service.act(reference, "threshold-decision", decision)).status_code == 409

    await service.answer_requests(reference, "threshold")
    case = await service.wait_for(reference, lambda c: events(c, "ready for the threshold decision"))
    (complete,) = events(case, "ready for the threshold decision")
    assert "answered (2) or waived (1)" in complete["event"]
    police = next(r for r in case["information_requests"] if r["request_key"] == POLICE_KEY)
    assert police["state"] == "waived" and "partnership meeting" in police["waived_reason"]
    waiver = next(e for e in case["chronology"] if "Proceeding without an answer" in e["event"])
    assert "Development SPOC" in waiver["actor"] and "partnership meeting" in waiver["event"]
    await service.wait_for(reference, lambda c: service.outbox(reference, "information-complete"))
    (told,) = service.outbox(reference, "information-complete")
    assert told.recipient == SPOC

    # A late answer to a waived request is still welcome.
    late = await service.act(
        reference,
        "agency-responses",
        {"request_key": POLICE_KEY, "records_found": "Two calls.", "received_by": "phone"},
    )
    assert late.status_code == 200, late.text
    assert (await service.act(reference, "threshold-decision", decision)).status_code == 200
    case = await service.wait_for(reference, lambda c: service.letters(c, "letter-2a"))
    police = next(r for r in case["information_requests"] if r["request_key"] == POLICE_KEY)
    assert police["state"] == "answered"
    # The panel, too, waits for the review's requests, from the moment the threshold is met.
    meeting = {
        "meeting_at": "2030-01-10T10:00:00+00:00",
        "location": "Council offices",
        "attendees": [{"name": "A. Officer", "organisation": "Leicestershire Police"}],
    }
    assert (await service.act(reference, "review-meeting", meeting)).status_code == 200
    panel = await service.act(reference, "panel-decision", {"findings": "Agreed actions."})
    assert panel.status_code == 409 and "case review" in panel.json()["detail"]
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    await service.result(reference, history="request-waived-v3")


async def test_extension_moves_the_chasing_and_the_link_expiry(service: CaseService) -> None:
    today = await fresh_day(service)
    reference = await service.open_case(application(today=today))
    due = add_working_days(today, 5, NATION)
    new_due = add_working_days(due, 5, NATION)
    earlier = await service.act(
        reference,
        "information-requests/extend",
        {"request_key": POLICE_KEY, "due_on": today.isoformat(), "reason": "x"},
    )
    assert earlier.status_code == 409 and "after the current one" in earlier.json()["detail"]
    response = await service.act(
        reference,
        "information-requests/extend",
        {"request_key": POLICE_KEY, "due_on": new_due.isoformat(), "reason": "The analyst is on leave."},
    )
    assert response.status_code == 200, response.text
    case = await service.case(reference)
    police = next(r for r in case["information_requests"] if r["request_key"] == POLICE_KEY)
    assert police["due_on"] == new_due.isoformat()
    assert all(
        t.expires_at == link_expires_at(new_due, 15, NATION) for t in tokens(service, reference, POLICE_KEY)
    )

    # On the old due date the other two are chased; the police are not.
    await service.travel_to(due, dt.time(12, 0))
    case = await service.wait_for(reference, lambda c: len(events(c, "is due today")) == 2)
    assert not any(POLICE_KEY in e["event"] for e in events(case, "is due today"))
    # Then the police are reminded for the new date, and chased on it.
    await service.travel_to(new_due, dt.time(12, 0))
    case = await service.wait_for(reference, lambda c: len(events(c, "is due today")) == 3)
    police_chases = [
        e for e in case["chronology"] if POLICE_KEY in e["event"] and "reminder sent" in e["event"]
    ]
    assert [on(e) for e in police_chases] == [working_days_before(new_due, 2, NATION), new_due]
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    await service.result(reference, history="request-extended-v3")


async def test_resend_sends_a_new_link_and_revokes_the_old_one(service: CaseService) -> None:
    today = await fresh_day(service)
    reference = await service.open_case(application(today=today))
    await service.wait_for(
        reference, lambda c: all(r["delivery"] == "sent" for r in c["information_requests"])
    )
    (old_token,) = links_in(sent_to(service, reference, POLICE)[0])
    new_address = "analyst@leicestershire-police.example"
    response = await service.act(
        reference,
        "information-requests/resend",
        {"request_key": POLICE_KEY, "to": new_address, "reason": "The analyst asked for it directly."},
    )
    assert response.status_code == 200, response.text
    case = await service.wait_for(reference, lambda c: events(c, "sent again (resend 1)"))
    police = next(r for r in case["information_requests"] if r["request_key"] == POLICE_KEY)
    assert (
        police["agency_email"] == new_address and police["resent_count"] == 1 and police["delivery"] == "sent"
    )
    (resent,) = sent_to(service, reference, new_address)
    assert "no longer work" in text_of(resent)
    (new_token,) = links_in(resent)
    old, new = tokens(service, reference, POLICE_KEY)
    assert old.token_hash == hash_token(old_token) and old.revoked_reason == "resent"
    assert new.token_hash == hash_token(new_token) and new.revoked_at is None

    # The old link is refused and says nothing about the case; the new one opens the reply page.
    async with service.browser() as browser:
        refused = await browser.get(f"/agency/r/{old_token}")
        assert refused.status_code in (404, 410) and reference not in refused.text
        opened = await browser.get(f"/agency/r/{new_token}")
        assert opened.status_code == 303 and opened.headers["location"].endswith("/agency/reply")
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    await service.result(reference, history="request-resent-v3")


async def test_a_permanent_failure_is_marked_on_the_case_and_the_spoc_told(service: CaseService) -> None:
    today = await fresh_day(service)
    body = application(today=today)
    body["applicant"] = dict(body["applicant"], email="bounces@example.test")
    bad_agency = "wrong.person@leicestershire-police.example"
    service.mail.refuse |= {"bounces@example.test", bad_agency}
    try:
        reference = await service.open_case(body)
        # Letter 1 bounced: marked failed on the case, in the chronology and the failed-mail list.
        case = await service.wait_for(
            reference, lambda c: c["failed_mail"] and service.letters(c, "letter-1")
        )
        (letter,) = service.letters(case, "letter-1")
        assert letter["status"] == "failed"
        (failed,) = case["failed_mail"]
        assert failed["purpose"] == "letter-1" and "550" in failed["error"]
        assert events(case, "could not be delivered")
        listed = await service.api.get("/api/mail/failed", headers=service.spoc())
        assert listed.status_code == 200
        assert any(m["case_reference"] == reference and m["purpose"] == "letter-1" for m in listed.json())
        other = await service.api.get("/api/mail/failed", headers=service.spoc("derby"))
        assert not any(m["case_reference"] == reference for m in other.json())
        await service.wait_for(reference, lambda c: service.outbox(reference, "mail-failed"))
        (note,) = service.outbox(reference, "mail-failed")
        assert note.recipient == SPOC and note.status == "sent" and reference in note.subject

        # A resend to a refused address fails for good, once, and the case carries on.
        response = await service.act(
            reference, "information-requests/resend", {"request_key": POLICE_KEY, "to": bad_agency}
        )
        assert response.status_code == 200
        case = await service.wait_for(
            reference, lambda c: events(c, f"Resend 1 of information request {POLICE_KEY} failed")
        )
        police = next(r for r in case["information_requests"] if r["request_key"] == POLICE_KEY)
        assert police["delivery"] == "failed"
        assert [m["purpose"] for m in case["failed_mail"]] == ["letter-1", "information-request"]
        attempts = [m for m in service.outbox(reference) if m.recipient == bad_agency]
        assert [(m.status, m.attempts) for m in attempts] == [("failed", 1)]
        # On the due date the failing address is not tried again, but the SPOC is still told.
        due = add_working_days(today, 5, NATION)
        await service.travel_to(due, dt.time(12, 0))
        case = await service.wait_for(reference, lambda c: len(events(c, "is due today")) == 3)
        police_due = next(e for e in events(case, "is due today") if POLICE_KEY in e["event"])
        assert "address has failed" in police_due["event"]
        assert [m.recipient for m in service.outbox(reference) if m.recipient == bad_agency] == [bad_agency]
        assert len(service.outbox(reference, "agency-overdue")) == 3
        await service.answer_requests(reference, "threshold")
        response = await service.act(reference, "threshold-decision", {"outcome": "not_met", "reasons": "x"})
        assert response.status_code == 200, response.text
    finally:
        service.mail.refuse -= {"bounces@example.test", bad_agency}
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "spoc"})
    await service.result(reference, history="mail-failed-v3")


async def test_temporary_failures_are_retried_then_given_up_after_47_hours(service: CaseService) -> None:
    today = await fresh_day(service)
    body = application(today=today)
    body["applicant"] = dict(body["applicant"], email="greylisted@example.test")
    service.mail.defer.add("greylisted@example.test")
    try:
        # Letter 1 goes first, so the case waits on it: the agencies are asked once it has gone or failed.
        created = await service.apply(body, key=uuid.uuid4().hex)
        assert created.status_code == 201, created.text
        reference = created.json()["reference"]
        # Deferred (450): retried with backoff, not failed.
        await service.env.sleep(dt.timedelta(minutes=30))
        (letter_1,) = [m for m in service.outbox(reference) if m.purpose == "letter-1"]
        assert (
            letter_1.status == "pending" and letter_1.attempts >= 3 and "450" in (letter_1.last_error or "")
        )
        assert (await service.case(reference))["failed_mail"] == []
        # Two days on, it has failed for good: on the case, and the SPOC told.
        await service.travel_to(add_working_days(today, 3, NATION))
        case = await service.wait_for(reference, lambda c: c["failed_mail"])
        (failed,) = case["failed_mail"]
        assert failed["purpose"] == "letter-1" and "gave up after 47 hours" in failed["error"]
        assert service.letters(case, "letter-1")[0]["status"] == "failed"
        await service.wait_for(reference, lambda c: service.outbox(reference, "mail-failed"))
        assert [m.recipient for m in service.outbox(reference, "mail-failed")] == [SPOC]
        assert not sent_to(service, reference, "greylisted@example.test")
        # The case went on without it.
        await service.wait_for(reference, lambda c: c["stage"] == "threshold_check")
    finally:
        service.mail.defer.discard("greylisted@example.test")
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "spoc"})
    await service.result(reference)


async def test_an_organisation_not_in_the_policy_can_be_given_an_address_answered_or_waived(
    service: CaseService,
) -> None:
    body = application(today=await service.today())
    body["incidents"] += [
        {**body["incidents"][0], "reported_to": "other", "organisation": "Narborough Residents Association"},
        {**body["incidents"][1], "reported_to": "other", "organisation": "St Mary's Surgery"},
    ]
    reference = await service.open_case(body)
    case = await service.wait_for(
        reference, lambda c: any("agencies (threshold)" in e["event"] for e in c["chronology"])
    )
    unlisted = sorted(
        (r for r in case["information_requests"] if r["state"] == "no_contact"), key=lambda r: r["agency"]
    )
    assert [r["agency"] for r in unlisted] == ["Narborough Residents Association", "St Mary's Surgery"]
    # Organisations' names stay out of the keys (and so out of Temporal).
    assert all("narborough" not in r["request_key"] for r in unlisted)
    for request in case["information_requests"]:
        if request["state"] == "requested":
            answer = {
                "request_key": request["request_key"],
                "records_found": "On file.",
                "received_by": "phone",
            }
            assert (await service.act(reference, "agency-responses", answer)).status_code == 200
    # The decision waits for them too.
    decision = {"outcome": "met", "reasons": "Reports on file."}
    early = await service.act(reference, "threshold-decision", decision)
    assert early.status_code == 409 and unlisted[0]["request_key"] in early.json()["detail"]

    # The SPOC finds an address for one: it is asked like any agency, with its link.
    residents = unlisted[0]["request_key"]
    resend = {"request_key": residents, "to": "secretary@narborough-residents.example.com"}
    assert (await service.act(reference, "information-requests/resend", resend)).status_code == 200
    address = "secretary@narborough-residents.example.com"
    # The request is asked like any agency's: the email with its link arrives.
    await service.wait_for(reference, lambda c: any(str(m["To"]) == address for m in service.mail.messages()))
    sent = [m for m in service.mail.messages() if str(m["To"]) == address]
    assert (
        reference in str(sent[-1]["Subject"]) and "/agency/r/" in sent[-1].get_body(("plain",)).get_content()
    )
    case = await service.case(reference)
    assert (
        next(r for r in case["information_requests"] if r["request_key"] == residents)["state"] == "requested"
    )
    answer = {"request_key": residents, "records_found": "Two letters.", "received_by": "email"}
    assert (await service.act(reference, "agency-responses", answer)).status_code == 200
    # ... and proceeds without the other.
    waiver = {"request_key": unlisted[1]["request_key"], "reasons": "The surgery holds no ASB records."}
    assert (await service.act(reference, "information-requests/waive", waiver)).status_code == 200
    decided = await service.act(reference, "threshold-decision", decision)
    assert decided.status_code == 200, decided.text
    await service.act(reference, "withdraw", {"reason": "Test over.", "requested_by": "spoc"})
    await service.result(reference)
