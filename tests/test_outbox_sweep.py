"""The outbox sweep: the API's own emails that their request could not send (the SMTP server down, the API
gone mid-send) are sent later, once each; workflows' emails and a request's own sending are never touched.

Real parts: the API app, a SQLite database and a real SMTP sink that is stopped and started again on the
same port, with a stack of each test's own (no case workflows: the cases are written to the database). The
sweep's activity is called directly (the wall clock), and its workflow is run once on the session's
time-skipping server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.api_mail import API_MAIL_KINDS
from activities.mail import (
    GIVE_UP_AFTER,
    LEFT_ALONE,
    SENDING_ABANDONED_AFTER,
    Mailer,
    OutgoingEmail,
    not_being_sent,
)
from activities.outbox_sweep import OutboxSweepActivities
from db.models import Case, Letter, OutboxMessage
from devstack.mail_sink import MailSink
from tests.stack import own_stack
from tests.support import CaseService
from tests.test_personal_data import texts_in
from workflows.case import WORKFLOW_RUNNER
from workflows.models import OutboxSweepResult, StaffNoticeKind
from workflows.outbox_sweep import OutboxSweepWorkflow

APPLICANT = "alex@example.test"
# Long enough to be past the sweep's wait for a `pending` message (2 minutes), well short of `sending`'s (15).
PAST_PENDING_WAIT = dt.timedelta(minutes=3)
PDF = b"%PDF-1.7\n% the letter as kept with the case\n%%EOF\n"


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    # Port chosen once: `start()` after `stop()` listens where the stack's settings point.
    mail = MailSink(tmp_path_factory.mktemp("mail-sweep"), port=0)
    mail.start()
    yield mail
    mail.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    temporal_env: WorkflowEnvironment, sink: MailSink, tmp_path: Path
) -> AsyncIterator[CaseService]:
    async with own_stack(temporal_env, sink, tmp_path, in_process_worker=False) as service:
        yield service


def sweeper(stack: CaseService) -> OutboxSweepActivities:
    return OutboxSweepActivities(stack.settings, stack.sessions)


# ---- the database, as the API and the workflows leave it ---------------------------------------------


def seed_case(stack: CaseService) -> str:
    """A case with the applicant's email address, straight into the database (no workflow runs it)."""
    reference = f"CT-BLA-2026-{uuid.uuid4().hex[:8].upper()}"
    now = dt.datetime.now(dt.UTC)
    with stack.sessions.begin() as session:
        session.add(
            Case(
                reference=reference,
                locality="blaby",
                stage="received",
                received_on=now.date(),
                application={"applicant": {"name": "Alex Example", "email": APPLICANT}},
                assessment={},
                created_at=now,
                updated_at=now,
            )
        )
    return reference


def record(stack: CaseService, reference: str, key: str, purpose: str, to: str = APPLICANT) -> str:
    """An email in the outbox, as any sender records it."""
    email = OutgoingEmail(
        idempotency_key=key,
        case_reference=reference,
        purpose=purpose,
        sender="spoc@blaby.example.test",
        reply_to=None,
        recipient=to,
        subject=f"Case {reference}: {purpose}",
        body_text="Text.",
        body_html="<p>Text.</p>",
    )
    with stack.sessions.begin() as session:
        Mailer(stack.settings, stack.sessions).record(email, session)
    return key


def left_as(stack: CaseService, key: str, status: str, tried_ago: dt.timedelta | None) -> None:
    """The message as a sender left it: `status`, last tried `tried_ago` (never tried: recorded then)."""
    with stack.sessions.begin() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        assert row is not None
        row.status = status
        if tried_ago is not None:
            row.attempts += 1
            row.first_attempt_at = row.last_attempt_at = dt.datetime.now(dt.UTC) - tried_ago


def backdate(stack: CaseService, key: str, by: dt.timedelta) -> None:
    """As if the message had been recorded and tried `by` earlier."""
    with stack.sessions.begin() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        assert row is not None
        row.created_at -= by
        if row.first_attempt_at is not None and row.last_attempt_at is not None:
            row.first_attempt_at -= by
            row.last_attempt_at -= by


def message(stack: CaseService, key: str) -> OutboxMessage:
    with stack.sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        assert row is not None
        return row


def copies(sink: MailSink, row: OutboxMessage) -> int:
    return Counter(str(m["Message-ID"]) for m in sink.messages())[row.message_id]


async def ask_for_new_link(stack: CaseService, reference: str) -> str:
    """The applicant asks for a new link on the page; the outbox key of its email."""
    async with stack.browser() as browser:
        form = await browser.get("/case/new-link")
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert found, form.text
        answer = await browser.post(
            "/case/new-link", data={"csrf_token": found.group(1), "reference": reference, "email": APPLICANT}
        )
    assert answer.status_code == 200, answer.text
    (row,) = stack.outbox(reference, "applicant-new-link")
    return row.idempotency_key


# ---- the tests --------------------------------------------------------------------------------------


async def test_a_new_link_the_request_could_not_send_is_swept_once(
    stack: CaseService, sink: MailSink
) -> None:
    reference = seed_case(stack)
    sink.stop()
    try:
        key = await ask_for_new_link(stack, reference)
        waiting = message(stack, key)
        assert (waiting.status, waiting.attempts) == ("pending", 1)
        assert waiting.last_error and "SMTPConnect" in waiting.last_error
        # Tried a moment ago: the request may still be at it, so the sweep waits.
        assert await sweeper(stack).deliver_stalled_api_mail() == OutboxSweepResult()
        assert message(stack, key).attempts == 1

        # Two minutes on, the server still down: tried, and left pending for the next sweep.
        backdate(stack, key, PAST_PENDING_WAIT)
        result = await sweeper(stack).deliver_stalled_api_mail()
        assert result == OutboxSweepResult(stalled=1, not_yet=1)
        assert (message(stack, key).status, message(stack, key).attempts) == ("pending", 2)
        # The sweep's own attempt counts as the last one: the next sweep waits two minutes from it.
        assert await sweeper(stack).deliver_stalled_api_mail() == OutboxSweepResult()
    finally:
        sink.start()
    assert copies(sink, message(stack, key)) == 0

    # The server back, the next sweep sends it; the one after sends nothing more.
    backdate(stack, key, PAST_PENDING_WAIT)
    assert await sweeper(stack).deliver_stalled_api_mail() == OutboxSweepResult(stalled=1, sent=1)
    sent = message(stack, key)
    assert (sent.status, sent.attempts, sent.possible_duplicates) == ("sent", 3, 0)
    assert copies(sink, sent) == 1
    (emailed,) = [m for m in sink.messages() if str(m["Message-ID"]) == sent.message_id]
    assert str(emailed["To"]) == APPLICANT and "/case/r/" in emailed.get_body(("plain",)).get_content()
    assert "[link removed" in sent.body_text  # the stored copy keeps no token, as for any sent email

    backdate(stack, key, PAST_PENDING_WAIT)
    assert await sweeper(stack).deliver_stalled_api_mail() == OutboxSweepResult()
    assert copies(sink, message(stack, key)) == 1


async def test_the_sweep_leaves_workflow_mail_and_a_send_in_progress_alone(
    stack: CaseService, sink: MailSink
) -> None:
    reference = seed_case(stack)
    an_hour = dt.timedelta(hours=1)
    # A workflow's letter and its note to the SPOC, waiting for their activity's next retry.
    workflow_letter = record(stack, reference, f"{reference}:letter:letter-1:1:{APPLICANT}", "letter-1")
    left_as(stack, workflow_letter, "pending", an_hour)
    workflow_note = record(
        stack, reference, f"{reference}:mail-failed:7:spoc@example.test", "mail-failed", "spoc@example.test"
    )
    left_as(stack, workflow_note, "sending", an_hour)
    # The API's: a request sending a new link for ten minutes (a slow server, say) ...
    in_progress = record(
        stack, reference, f"{reference}:applicant-new-link:2026-11-30T10:00:00", "applicant-new-link"
    )
    left_as(stack, in_progress, "sending", dt.timedelta(minutes=10))
    # ... and one whose request died mid-send twenty minutes ago.
    abandoned = record(
        stack,
        reference,
        f"{reference}:applicant-information:42",
        "applicant-information",
        "spoc@example.test",
    )
    left_as(stack, abandoned, "sending", dt.timedelta(minutes=20))
    before = {key: message(stack, key) for key in (workflow_letter, workflow_note, in_progress)}

    assert await sweeper(stack).deliver_stalled_api_mail() == OutboxSweepResult(stalled=1, sent=1)

    swept = message(stack, abandoned)
    assert (swept.status, swept.attempts, swept.possible_duplicates) == ("sent", 2, 1)
    assert copies(sink, swept) == 1
    for key, was in before.items():
        now = message(stack, key)
        assert (now.status, now.attempts, now.last_attempt_at) == (
            was.status,
            was.attempts,
            was.last_attempt_at,
        )
        assert copies(sink, now) == 0

    # Stalled when a sweep listed it, but a request took it up again before the sweep came to it: the check
    # on the locked row leaves it to the request.
    racing = sweeper(stack)
    racing._stalled = lambda now: [in_progress]  # type: ignore[method-assign]
    assert await racing.deliver_stalled_api_mail() == OutboxSweepResult(stalled=1, left_alone=1)
    assert message(stack, in_progress).attempts == before[in_progress].attempts
    assert copies(sink, message(stack, in_progress)) == 0


async def resent_while_the_server_is_down(stack: CaseService, sink: MailSink) -> tuple[str, OutboxMessage]:
    """A case whose Letter 1 failed for good at the applicant's old address, sent again by staff to a
    corrected one while the mail server is down: its reference and the new email, pending."""
    reference = seed_case(stack)
    failed_key = record(stack, reference, f"{reference}:letter:letter-1:1:{APPLICANT}", "letter-1")
    left_as(stack, failed_key, "failed", dt.timedelta(days=2))
    with stack.sessions.begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        session.add(
            Letter(
                case_id=case.id,
                code="letter-1",
                sequence=1,
                sent_on=dt.date.today(),
                channel="email",
                status="failed",
                subject=f"Case {reference}: Letter 1",
                body_text="Dear Alex, we have your application.",
                outbox_key=failed_key,
                created_at=dt.datetime.now(dt.UTC),
                pdf=PDF,
                pdf_sha256=hashlib.sha256(PDF).hexdigest(),
            )
        )
    corrected = f"alex.{uuid.uuid4().hex[:6]}@example.test"
    sink.stop()
    try:
        answer = await stack.api.post(
            f"/api/cases/{reference}/letters/resend",
            json={"code": "letter-1", "send_by": "email", "to": corrected},
            headers=stack.spoc(),
        )
    finally:
        sink.start()
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "pending"
    (resent,) = [row for row in stack.outbox(reference, "letter-1") if row.recipient == corrected]
    assert (resent.status, copies(sink, resent)) == ("pending", 0)
    assert letter_status(stack, resent.idempotency_key) == "sending"
    return reference, resent


def letter_status(stack: CaseService, key: str) -> str:
    with stack.sessions() as session:
        status = session.scalar(select(Letter.status).where(Letter.outbox_key == key))
        assert status is not None
        return status


async def test_a_resent_letter_is_swept_by_the_workflow_with_its_pdf(
    stack: CaseService, sink: MailSink, temporal_env: WorkflowEnvironment
) -> None:
    reference, resent = await resent_while_the_server_is_down(stack, sink)
    backdate(stack, resent.idempotency_key, PAST_PENDING_WAIT)

    queue = f"outbox-sweep-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[OutboxSweepWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[sweeper(stack).deliver_stalled_api_mail],
    ):
        handle = await temporal_env.client.start_workflow(OutboxSweepWorkflow.run, id=queue, task_queue=queue)
        result = await handle.result()
    assert result == OutboxSweepResult(stalled=1, sent=1)
    # The history (decrypted) holds counts, never whom the letter went to, its case or what it said.
    history = " ".join(texts_in(json.loads((await handle.fetch_history()).to_json()), []))
    assert '"sent":1' in history
    assert resent.recipient not in history and reference not in history and "Letter 1" not in history

    sent = message(stack, resent.idempotency_key)
    assert sent.status == "sent" and copies(sink, sent) == 1
    (emailed,) = [m for m in sink.messages() if str(m["Message-ID"]) == sent.message_id]
    assert str(emailed["To"]) == resent.recipient
    (pdf,) = list(emailed.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"{reference}-letter-1.pdf"
    assert pdf.get_content() == PDF
    assert letter_status(stack, resent.idempotency_key) == "sent"


async def test_a_resent_letter_waiting_too_long_fails_for_good_unsent_as_the_mailer_says(
    stack: CaseService, sink: MailSink
) -> None:
    reference, resent = await resent_while_the_server_is_down(stack, sink)
    # First tried longer ago than the mailer tries for (stalled before the sweep existed, say): failed for
    # good, and not sent days late even though the mail server now takes mail.
    backdate(stack, resent.idempotency_key, GIVE_UP_AFTER + dt.timedelta(minutes=1))
    result = await sweeper(stack).deliver_stalled_api_mail()
    assert result == OutboxSweepResult(stalled=1, failed=1)
    failed = message(stack, resent.idempotency_key)
    assert failed.status == "failed" and failed.last_error and "not sent within 47 hours" in failed.last_error
    # As when the request itself fails for good: the letter is failed again (to be sent again once more,
    # from the failed-mail list), and the chronology says so.
    assert letter_status(stack, resent.idempotency_key) == "failed"
    with stack.sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        events = [entry.event for entry in case.chronology if entry.event_key == f"mail-failed:{failed.id}"]
    assert len(events) == 1 and "will not be retried" in events[0]
    assert copies(sink, failed) == 0
    # Failed is final: later sweeps leave it.
    assert await sweeper(stack).deliver_stalled_api_mail() == OutboxSweepResult()


async def test_two_senders_never_both_claim_one_message(stack: CaseService, sink: MailSink) -> None:
    # Both read the message `pending`; the second claims and sends it between the first's read and its
    # claim. The first's claim (compare and set: SQLite ignores FOR UPDATE) then finds it taken.
    reference = seed_case(stack)
    key = record(stack, reference, f"{reference}:applicant-new-link:race", "applicant-new-link")
    first, second = Mailer(stack.settings, stack.sessions), Mailer(stack.settings, stack.sessions)
    rivals: list[str] = []

    def read_then_lose_the_race(row: OutboxMessage) -> bool:
        assert row.status == "pending"
        rivals.append(asyncio.run(second.deliver(key)))  # the first has read the row, not yet claimed it
        return True

    assert await first.deliver(key, claim_if=read_then_lose_the_race) == LEFT_ALONE
    assert rivals == ["sent"]
    sent = message(stack, key)
    assert (sent.status, sent.attempts, sent.possible_duplicates) == ("sent", 1, 0)
    assert copies(sink, sent) == 1


async def test_a_repeated_request_never_sends_what_another_is_sending(stack: CaseService) -> None:
    reference = seed_case(stack)
    key = record(stack, reference, f"{reference}:applicant-information:7", "applicant-information")
    mailer = Mailer(stack.settings, stack.sessions)
    # Being sent by the first request (or the sweep) a minute ago: the repeat leaves it.
    left_as(stack, key, "sending", dt.timedelta(minutes=1))
    assert await mailer.deliver(key, claim_if=not_being_sent) == LEFT_ALONE
    assert message(stack, key).attempts == 1
    # Abandoned mid-send long ago: the repeat may take it (a possible duplicate, counted).
    left_as(stack, key, "sending", SENDING_ABANDONED_AFTER + dt.timedelta(minutes=1))
    assert await mailer.deliver(key, claim_if=not_being_sent) == "sent"
    assert message(stack, key).possible_duplicates == 1


def test_no_workflow_email_key_has_the_mark_of_the_apis_own() -> None:
    # The second part of every key a workflow's activity builds (activities/*.py), staff notices' included.
    workflow_markers = {
        "letter",
        "letter-copy",
        "request",
        "request-closed",
        "chase",
        "chase-escalation",
        "mail-failed",
        "appeal-chair",
        "appeal-bundle",
        "appeal-lessons",
        *(kind.value for kind in StaffNoticeKind),
    }
    assert not workflow_markers & {kind.marker for kind in API_MAIL_KINDS}
