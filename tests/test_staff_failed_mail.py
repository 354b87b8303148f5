"""The staff page of emails that could not be delivered: what failed for the cases of the staff member's areas
(and nothing of other areas), an information request sent again to a corrected address from it, and a
letter to the applicant sent again, to a corrected address or by post (the page and the JSON API). The
real API, the case workflow on the time-skipping server, SQLite and the SMTP sink, which refuses the
addresses the test names (conftest's `service`)."""

from __future__ import annotations

import html
import uuid

import pytest
from sqlalchemy import func, select

from api.letter_resend import NO_POSTAL_ADDRESS
from db.models import AuditEntry, Case, ChronologyEntry, Letter, OutboxMessage, Submission
from tests.staff_support import open_form, send, shows, staff_browser
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


# ---- a letter to the applicant sent again -----------------------------------------------------------


async def _case_whose_letter_failed(service: CaseService, **applicant: object) -> tuple[str, str, int]:
    """A new case whose Letter 1 was refused by the applicant's mail server, for good: its reference, the
    address that failed and the letter's id."""
    today = await next_working_morning(service)
    address = f"gone-{uuid.uuid4().hex[:8]}@example.test"
    body = application(today=today)
    body["applicant"] = {**body["applicant"], "email": address, **applicant}
    service.mail.refuse.add(address)
    try:
        reference = await service.open_case(body)
        await service.wait_for(
            reference,
            lambda c: any(
                letter["code"] == "letter-1" and letter["status"] == "failed" for letter in c["letters"]
            ),
        )
    finally:
        service.mail.refuse.discard(address)
    with service.sessions() as session:
        letter_id = session.scalar(
            select(Letter.id).join(Case).where(Case.reference == reference, Letter.code == "letter-1")
        )
    assert letter_id is not None
    return reference, address, letter_id


def _written(service: CaseService, reference: str) -> tuple[int, ...]:
    """What sending a letter again writes, counted: outbox messages, chronology entries, submissions, audit
    entries of it; and the application as it stands (its hash)."""
    with service.sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        counts = [
            session.scalar(select(func.count()).select_from(model).where(column == value))
            for model, column, value in (
                (OutboxMessage, OutboxMessage.case_reference, reference),
                (ChronologyEntry, ChronologyEntry.case_id, case.id),
                (Submission, Submission.case_id, case.id),
            )
        ]
        resent = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.case_reference == reference, AuditEntry.action == "resend_letter")
        )
        return (*[int(count or 0) for count in counts], int(resent or 0), hash(repr(case.application)))


def _case_row(service: CaseService, reference: str) -> tuple[Case, list[Letter], list[ChronologyEntry]]:
    with service.sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        return case, list(case.letters), list(case.chronology)


async def test_failed_letter_is_sent_again_to_a_corrected_address_once(service: CaseService) -> None:
    # No postal address: post is refused, with a reason.
    reference, failed_address, letter_id = await _case_whose_letter_failed(
        service, address=None, postcode=None
    )
    browser = await staff_browser(service)
    query = f"?letter={letter_id}"
    link = f"/staff/cases/{reference}/resend-letter{query}"

    listed = html.unescape((await browser.get("/staff/failed-mail")).text)
    assert link in listed and failed_address in listed
    assert (
        f'Send again<span class="govuk-visually-hidden"> the letter to the applicant of case {reference}'
        in listed
    )
    assert link in html.unescape((await browser.get(f"/staff/cases/{reference}")).text)

    # Another area's staff: no such case, whether they look or send.
    elsewhere = await staff_browser(service, locality="charnwood")
    assert (await elsewhere.get(link)).status_code == 404
    other_form = await open_form(browser, reference, "resend-letter", query)
    refused = await elsewhere.post(
        f"/staff/cases/{reference}/resend-letter",
        data={**other_form, "letter": str(letter_id), "send_by": "email", "to": "x@example.test"},
    )
    assert refused.status_code == 404

    # Whatever is wrong, the form comes back with what to correct, and nothing is written.
    before = _written(service, reference)
    form = await open_form(browser, reference, "resend-letter", query)
    assert f'name="letter" value="{letter_id}"' in (await browser.get(link)).text
    for typed, message in (
        ({"send_by": ""}, "Select how to send the letter again"),
        ({"send_by": "fax", "to": "alex@example.test"}, "Select how to send the letter again"),
        ({"send_by": "email", "to": ""}, "Enter the applicant’s correct email address"),
        (
            {"send_by": "email", "to": "not an address"},
            "Enter an email address in the correct format, like name@example.com",
        ),
        ({"send_by": "email", "to": "a@example.test, b@example.test"}, "Enter one email address only"),
        ({"send_by": "email", "to": "Alex <a@example.test>"}, "Enter the email address only, without a name"),
        (
            {"send_by": "email", "to": "a@example.test\r\nBcc: b@example.test"},
            "Enter an email address without spaces or line breaks",
        ),
        ({"send_by": "post"}, NO_POSTAL_ADDRESS),
        (
            {"letter": "999999999", "send_by": "email", "to": "a@example.test"},
            "Select the letter to send again",
        ),
    ):
        page = await send(browser, reference, "resend-letter", {**form, "letter": str(letter_id), **typed})
        shows(page, message)
    # Every problem at once.
    page = await send(
        browser, reference, "resend-letter", {**form, "letter": "999999999", "send_by": "email", "to": "x"}
    )
    shows(
        page,
        "Select the letter to send again",
        "Enter an email address in the correct format, like name@example.com",
    )
    assert _written(service, reference) == before

    # The mail server does not take it at first: the form comes back, to be sent again (the address is
    # kept, the letter not yet sent). Sent again, and then once more (a double click), it goes once.
    corrected = f"alex.{uuid.uuid4().hex[:6]}@example.test"
    sending = {**form, "letter": str(letter_id), "send_by": "email", "to": corrected}
    service.mail.defer.add(corrected)
    try:
        waiting = await send(browser, reference, "resend-letter", sending)
    finally:
        service.mail.defer.discard(corrected)
    assert waiting.status_code == 503, waiting.text
    assert "Send this form again in a minute" in waiting.text
    assert f'name="form_key" value="{form["form_key"]}"' in waiting.text
    assert [row.status for row in service.outbox(reference, "letter-1")] == ["resent", "pending"]
    first, second = [await send(browser, reference, "resend-letter", sending) for _ in range(2)]
    for sent in (first, second):
        assert sent.status_code == 303, sent.text
        assert sent.headers["Location"] == f"/staff/failed-mail?done=sent&case={reference}"

    # Sent once, to the corrected address, as the letter was: its text, its PDF, a working link; a new
    # Message-ID.
    letters_to_them = [m for m in service.mail_about(reference) if str(m["To"]) == corrected]
    assert len(letters_to_them) == 1
    emailed = letters_to_them[0]
    (pdf,) = list(emailed.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"{reference}-letter-1.pdf"
    body = emailed.get_body(("plain",))
    assert body is not None and "/case/r/" in body.get_content() and "link removed" not in body.get_content()
    outbox = service.outbox(reference, "letter-1")
    assert [row.status for row in outbox] == ["resent", "sent"]
    assert outbox[0].recipient == failed_address and outbox[0].last_error  # what failed is kept
    assert outbox[1].message_id != outbox[0].message_id

    case, letters, chronology = _case_row(service, reference)
    assert case.application["applicant"]["email"] == corrected
    letter = next(one for one in letters if one.id == letter_id)
    assert (letter.channel, letter.status, letter.outbox_key) == ("email", "sent", outbox[1].idempotency_key)
    assert [entry.event for entry in chronology if entry.event_key.startswith("letter-resent:")] == [
        "The applicant's Letter 1 (acknowledgement) was sent again to a corrected email address."
    ]
    with service.sessions() as session:
        audited = session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.case_reference == reference, AuditEntry.action == "resend_letter"
            )
        ).all()
    assert len(audited) == 1 and corrected not in str(audited[0]) and failed_address not in str(audited[0])

    listed = html.unescape((await browser.get(f"/staff/failed-mail?done=sent&case={reference}")).text)
    assert "has been sent again to the corrected address" in listed
    assert link not in listed and failed_address not in listed

    # The letter has not failed now: the page offers nothing, and a form sent with a new key (as from a
    # page opened before) is refused with nothing written.
    before = _written(service, reference)
    offered = await browser.get(link)
    assert offered.status_code == 200 and "No letter of this case is waiting to be sent again" in offered.text
    again = {**form, "form_key": uuid.uuid4().hex}
    refused = await send(
        browser,
        reference,
        "resend-letter",
        {**again, "letter": str(letter_id), "send_by": "email", "to": corrected},
    )
    assert refused.status_code == 409 and "No letter of this case is waiting to be sent again" in refused.text
    assert _written(service, reference) == before

    # Later letters go to the corrected address.
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    await service.wait_for(reference, lambda c: any(sent["code"] == "withdrawal" for sent in c["letters"]))
    await service.wait_for(
        reference,
        lambda c: any(
            "withdraw" in str(m["Subject"]).lower() and str(m["To"]) == corrected
            for m in service.mail_about(reference)
        ),
    )


async def test_failed_letter_goes_by_post_and_later_letters_too(service: CaseService) -> None:
    reference, failed_address, letter_id = await _case_whose_letter_failed(service)
    api, headers = service.api, service.spoc()
    url = f"/api/cases/{reference}/letters/resend"

    # The JSON API takes the same action: what is wrong is refused with nothing written.
    before = _written(service, reference)
    for body, status in (
        ({"code": "letter-1", "send_by": "email", "to": "a@example.test; b@example.test"}, 422),
        ({"code": "letter-1", "send_by": "email"}, 422),
        ({"code": "letter-1", "send_by": "post", "to": "a@example.test"}, 422),
        ({"code": "letter-9", "send_by": "post"}, 422),
        ({"code": "letter-1", "send_by": "pigeon"}, 422),
    ):
        answer = await api.post(url, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
    assert (
        await api.post(url, json={"code": "letter-1", "send_by": "post"}, headers=service.spoc("charnwood"))
    ).status_code == 404
    assert _written(service, reference) == before

    # A corrected address that is refused too: the letter is failed again, and listed again.
    also_gone = f"also-gone-{uuid.uuid4().hex[:6]}@example.test"
    service.mail.refuse.add(also_gone)
    try:
        answer = await api.post(
            url, json={"code": "letter-1", "send_by": "email", "to": also_gone}, headers=headers
        )
    finally:
        service.mail.refuse.discard(also_gone)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"code": "letter-1", "sequence": 1, "send_by": "email", "status": "failed"}
    assert [row.status for row in service.outbox(reference, "letter-1")] == ["resent", "failed"]
    browser = await staff_browser(service)
    listed = html.unescape((await browser.get("/staff/failed-mail")).text)
    assert also_gone in listed and failed_address not in listed
    assert f"/staff/cases/{reference}/resend-letter?letter={letter_id}" in listed

    # A letter of another case is not this case's to send.
    with service.sessions() as session:
        elsewhere = session.scalar(select(Letter.id).join(Case).where(Case.reference != reference).limit(1))
    form = await open_form(browser, reference, "resend-letter", f"?letter={letter_id}")
    before = _written(service, reference)
    page = await send(
        browser,
        reference,
        "resend-letter",
        {**form, "letter": str(elsewhere or 999999999), "send_by": "post"},
    )
    shows(page, "Select the letter to send again")
    assert _written(service, reference) == before

    sending = {**form, "letter": str(letter_id), "send_by": "post"}
    first, second = [await send(browser, reference, "resend-letter", sending) for _ in range(2)]
    for sent in (first, second):
        assert sent.status_code == 303, sent.text
        assert sent.headers["Location"] == f"/staff/failed-mail?done=queued_for_printing&case={reference}"
    case, letters, chronology = _case_row(service, reference)
    assert case.application["contact_preference"] == "post"
    letter = next(one for one in letters if one.id == letter_id)
    assert (letter.channel, letter.status, letter.outbox_key, letter.posted_on) == (
        "post",
        "queued_for_printing",
        None,
        None,
    )
    assert [entry.event for entry in chronology if entry.event_key.startswith("letter-resent:")] == [
        "The applicant's Letter 1 (acknowledgement) was sent again to a corrected email address.",
        "The applicant's Letter 1 (acknowledgement) is to be sent again by post: it is in the print queue.",
    ]
    assert [row.status for row in service.outbox(reference, "letter-1")] == ["resent", "resent"]
    queue = html.unescape((await browser.get("/staff/print-queue")).text)
    assert reference in queue
    assert (await browser.get(f"/staff/cases/{reference}/letters/{letter_id}/pdf")).status_code == 200
    listed = html.unescape(
        (await browser.get(f"/staff/failed-mail?done=queued_for_printing&case={reference}")).text
    )
    assert "is in the print queue" in listed and also_gone not in listed

    # Sent already: the JSON API refuses it too.
    answer = await api.post(url, json={"code": "letter-1", "send_by": "post"}, headers=headers)
    assert answer.status_code == 409, answer.text

    # Later letters go by post.
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    done = await service.wait_for(
        reference, lambda c: any(sent["code"] == "withdrawal" for sent in c["letters"])
    )
    (withdrawal,) = service.letters(done, "withdrawal")
    assert withdrawal["channel"] == "post"
