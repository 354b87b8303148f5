"""Mail delivery that is never lost and never silently sent twice, with real parts: the SMTP sink down for
a while then back, and a real worker process killed just before sending and just after the mail server
accepted a message (the sink's hooks pull the trigger at exactly that moment).

Each test has a stack of its own (sink, SQLite database, task queue), so neither its faults nor its
workers touch the session-wide `service` fixture. The SMTP-down test runs on the session's time-skipping
server, skipping the retries' backoff; the killed-worker tests need a real Temporal server (a dev server
of this module's own; `tests.stack.start_dev_server` says why). Messages are counted by Message-ID
against the case's outbox rows, not by fixed totals of all mail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.mail import PERMANENT_FAILURE, Mailer, OutgoingEmail
from core.config import Settings
from db.models import OutboxMessage
from db.session import migrate, session_factory
from devstack.mail_sink import MailSink
from tests.stack import (
    WorkerProcess,
    end_killed_attempt,
    own_stack,
    skip_until,
    start_dev_server,
    wait_until,
    workflow_status,
)
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")


# ---- helpers ----------------------------------------------------------------------------------------


def copies_by_message_id(sink: MailSink) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in sink.messages())


def letter_1(service: CaseService, reference: str) -> OutboxMessage:
    rows = [row for row in service.outbox(reference) if row.recipient == "alex@example.test"]
    assert len(rows) == 1, [(row.purpose, row.recipient) for row in rows]
    return rows[0]


def case_carried_on(service: CaseService, reference: str) -> bool:
    """Letter 1 and the agencies' information requests have all gone: the case is past its first mail."""
    rows = service.outbox(reference)
    return (
        any(row.purpose == "information-request" for row in rows)
        and all(row.status == "sent" for row in rows)
        and service.case_row(reference).stage == "threshold_check"
    )


async def apply(service: CaseService) -> str:
    response = await service.apply(application(today=await service.today()), key=uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


def assert_each_sent_exactly_once(service: CaseService, sink: MailSink, reference: str) -> None:
    """Every outbox row of the case is in the sink exactly once, and the sink has no mail of the case
    that the outbox does not know of."""
    rows = service.outbox(reference)
    copies = copies_by_message_id(sink)
    assert {row.message_id: copies[row.message_id] for row in rows} == {row.message_id: 1 for row in rows}
    about_case = {str(m["Message-ID"]) for m in sink.messages() if reference in str(m["Subject"])}
    assert about_case <= {row.message_id for row in rows}


class Once:
    """A sink hook that acts on the first call only (later connections are left alone)."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._lock = threading.Lock()
        self.fired = threading.Event()

    def __call__(self, *_args: Any) -> bool:
        with self._lock:
            if self.fired.is_set():
                return False
            self._action()
            self.fired.set()
            return True


# ---- the sink's faults ---------------------------------------------------------------------------------


def message_to(to: str) -> EmailMessage:
    built = EmailMessage()
    built["From"] = "spoc@example.test"
    built["To"] = to
    built["Subject"] = "Sink test"
    built["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    built.set_content("Hello.")
    return built


async def test_mail_sink_refuse_answers_550_at_rcpt(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail", port=0, refuse={"Gone@Example.test"}) as sink:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(message_to("gone@example.test"), hostname=sink.host, port=sink.port)
        assert [error.code for error in refused.value.recipients] == [550]
        await aiosmtplib.send(message_to("here@example.test"), hostname=sink.host, port=sink.port)

        assert [str(m["To"]) for m in sink.messages()] == ["here@example.test"]


async def test_mail_sink_hooks_hang_up_at_mail_from_and_run_before_250(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail", port=0, on_mail_from=lambda sender: True) as sink:
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await aiosmtplib.send(message_to("here@example.test"), hostname=sink.host, port=sink.port)
        assert sink.messages() == []

        kept_before_reply: list[int] = []
        sink.on_mail_from = None
        sink.on_kept = lambda path: kept_before_reply.append(len(sink.messages()))
        await aiosmtplib.send(message_to("here@example.test"), hostname=sink.host, port=sink.port)

        assert kept_before_reply == [1]  # the message was on disk when the hook ran
        assert len(sink.messages()) == 1


# ---- the SMTP server down for a while, then back -------------------------------------------------------


@pytest.fixture(scope="module")
def restartable_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    # The port is chosen once, here: `start()` after `stop()` listens where the worker expects it again.
    sink = MailSink(tmp_path_factory.mktemp("mail-down"), port=0)
    sink.start()
    yield sink
    sink.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def in_process(
    temporal_env: WorkflowEnvironment, restartable_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CaseService]:
    db_dir = tmp_path_factory.mktemp("db-mail-down")
    async with own_stack(temporal_env, restartable_sink, db_dir, in_process_worker=True) as service:
        yield service


async def test_deliver_smtp_down_then_back_loses_nothing_sends_nothing_twice(
    in_process: CaseService, restartable_sink: MailSink
) -> None:
    service, sink = in_process, restartable_sink
    sink.stop()
    try:
        reference = await apply(service)
        await wait_until(lambda: bool(service.outbox(reference)), "Letter 1 is in the outbox")
        # Connection refused for three minutes. MAIL_RETRY backs off (5 s, 10 s, 20 s, 40 s, 80 s): attempts
        # at 0, 5, 15, 35, 75 and 155 s, so six of them; retrying every 5 s would have made 37.
        await service.env.sleep(dt.timedelta(minutes=3))
        # Between attempts the message waits as `pending`, with the reason, for the next attempt.
        await wait_until(lambda: letter_1(service, reference).status == "pending", "Letter 1 is pending")
        waiting = letter_1(service, reference)
        assert 4 <= waiting.attempts <= 7, waiting.attempts
        assert waiting.last_error and "SMTPConnect" in waiting.last_error, waiting.last_error
        assert waiting.sent_at is None and waiting.possible_duplicates == 0
        # Nothing else was sent (or marked sent) meanwhile: the case waits on Letter 1.
        assert all(row.status == "pending" for row in service.outbox(reference))
        assert not service.mail_about(reference)
        assert service.case_row(reference).stage == "received"
        assert await workflow_status(service.env, reference) == WorkflowExecutionStatus.RUNNING
    finally:
        sink.start()  # a new server on the same port, keeping messages in the same folder
    attempts_while_down = letter_1(service, reference).attempts

    # The next retry (at most MAIL_RETRY's 30-minute interval away) finds the server back.
    await skip_until(
        service.env,
        lambda: case_carried_on(service, reference),
        "the case's mail was all sent once the SMTP server was back",
        step=dt.timedelta(seconds=30),
        at_most=dt.timedelta(minutes=40),
    )
    assert_each_sent_exactly_once(service, sink, reference)
    rows = service.outbox(reference)
    assert [row.possible_duplicates for row in rows] == [0] * len(rows)
    # Letter 1 went on the first attempt after the server came back, and nothing about it was kept as wrong.
    assert letter_1(service, reference).attempts == attempts_while_down + 1
    assert letter_1(service, reference).last_error is None
    assert await workflow_status(service.env, reference) == WorkflowExecutionStatus.RUNNING


# ---- a worker killed mid-delivery ----------------------------------------------------------------------


class KillableStack:
    """The API in this process; the worker a real child process, started and killed by the test."""

    def __init__(self, service: CaseService, sink: MailSink, logs: Path) -> None:
        self.service = service
        self.sink = sink
        self.logs = logs
        self.workers: list[WorkerProcess] = []

    def start_worker(self, *, production_timings: bool = False) -> WorkerProcess:
        worker = WorkerProcess(
            self.service.settings,
            self.service.env,
            self.logs / f"worker-{len(self.workers) + 1}.log",
            production_timings=production_timings,
        )
        self.workers.append(worker.start())
        worker.wait_polling()
        return worker

    def kill_worker(self) -> None:
        """SIGKILL the running worker; called from the sink's thread, in the middle of an SMTP session."""
        self.workers[-1].kill()

    def output(self) -> str:
        return "\n".join(f"--- {w.log.name} ---\n{w.output()[-3000:]}" for w in self.workers)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    # Not the session's time-skipping server: see `start_dev_server` for why a killed worker needs a real one.
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def killable(dev_server: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[KillableStack]:
    sink = MailSink(tmp_path / "mail", port=0)
    sink.start()
    stack: KillableStack | None = None
    try:
        async with own_stack(dev_server, sink, tmp_path, in_process_worker=False) as service:
            stack = KillableStack(service, sink, tmp_path)
            yield stack
    finally:
        # Whatever happened, no worker is left polling (or half-way through a send).
        for worker in stack.workers if stack else []:
            worker.stop(timeout=5)
        sink.stop()


async def kill_during_letter_1_then_replace(killable: KillableStack, hook: str) -> tuple[str, OutboxMessage]:
    """Open a case; kill its worker from the sink's `hook` while Letter 1 is being sent; start another
    worker and let the case go on. Returns the case reference and Letter 1's row as the killed worker
    left it."""
    service, sink = killable.service, killable.sink
    kill = Once(killable.kill_worker)
    setattr(sink, hook, kill)
    first = killable.start_worker()
    reference = await apply(service)
    await wait_until(kill.fired.is_set, f"the sink's {hook} ran\n{killable.output()}", timeout=20)
    assert not first.alive()
    left = letter_1(service, reference)
    # The killed worker had claimed it: the next attempt cannot know how far this one got.
    assert (left.status, left.attempts, left.possible_duplicates) == ("sending", 1, 0)

    killable.start_worker()
    assert await end_killed_attempt(service.env, reference, "send_letter") == 1
    await wait_until(
        lambda: case_carried_on(service, reference),
        f"the case went on with the new worker\n{killable.output()}",
        timeout=45,
    )
    return reference, left


async def test_deliver_worker_killed_before_sending_delivers_exactly_once(killable: KillableStack) -> None:
    service, sink = killable.service, killable.sink
    # The worker dies at MAIL FROM, and the sink hangs up: the server never took the message.
    reference, left = await kill_during_letter_1_then_replace(killable, "on_mail_from")

    # Exactly one copy of Letter 1 arrived, and of each of the case's other messages.
    assert_each_sent_exactly_once(service, sink, reference)
    sent = letter_1(service, reference)
    assert (sent.status, sent.message_id, sent.attempts) == ("sent", left.message_id, 2)
    # The retry found the row `sending`: it cannot tell a worker that died before DATA from one that died
    # after the server accepted, so it records a *possible* duplicate even though none arrived.
    assert sent.possible_duplicates == 1
    case = await service.case(reference)
    assert [(letter["code"], letter["channel"]) for letter in case["letters"]] == [("letter-1", "email")]
    assert case["stage"] == "threshold_check" and case["information_requests"]
    assert await workflow_status(service.env, reference) == WorkflowExecutionStatus.RUNNING


async def test_deliver_worker_killed_after_server_accepted_resends_same_message_id_and_records_it(
    killable: KillableStack,
) -> None:
    service, sink = killable.service, killable.sink
    # The sink has kept Letter 1 but not yet said "250": the worker dies not knowing it was delivered.
    reference, left = await kill_during_letter_1_then_replace(killable, "on_kept")

    sent = letter_1(service, reference)
    assert (sent.status, sent.message_id, sent.attempts) == ("sent", left.message_id, 2)
    copies = [m for m in sink.messages() if str(m["To"]) == "alex@example.test"]
    # Any second copy carries the same Message-ID, so mail systems can drop it, and the outbox says so.
    assert 1 <= len(copies) <= 2
    assert {str(m["Message-ID"]) for m in copies} == {left.message_id}
    assert sent.possible_duplicates == len(copies) - 1
    # Here the server had the first copy on disk when the worker died, so the second always goes.
    assert len(copies) == 2
    # The rest of the case's mail went once each.
    others = [row for row in service.outbox(reference) if row.id != sent.id]
    arrived = copies_by_message_id(sink)
    assert others and all(arrived[row.message_id] == 1 for row in others)
    assert all(row.possible_duplicates == 0 for row in others)
    case = await service.case(reference)
    assert [(letter["code"], letter["channel"]) for letter in case["letters"]] == [("letter-1", "email")]
    assert case["stage"] == "threshold_check" and case["information_requests"]
    assert await workflow_status(service.env, reference) == WorkflowExecutionStatus.RUNNING


async def test_worker_stopped_mid_send_lets_the_send_finish_then_exits(killable: KillableStack) -> None:
    """SIGTERM while the mail server is still taking Letter 1: the worker finishes that send (the server's
    "250" comes two seconds later), records it, and only then exits; nothing is sent twice."""
    service, sink = killable.service, killable.sink
    worker = killable.start_worker()

    def stop_worker_and_answer_slowly() -> None:
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        time.sleep(2)  # a slow server: the reply comes after the worker was told to stop

    stop = Once(stop_worker_and_answer_slowly)
    sink.on_kept = stop
    reference = await apply(service)
    await wait_until(stop.fired.is_set, f"the sink kept Letter 1\n{killable.output()}", timeout=20)
    sink.on_kept = None
    assert worker.process is not None
    assert worker.process.wait(timeout=30) == 0, killable.output()
    assert "running activities have up to" in worker.output()
    sent = letter_1(service, reference)
    # The stopping worker recorded the send: no retry, no possible duplicate.
    assert (sent.status, sent.attempts, sent.possible_duplicates) == ("sent", 1, 0), killable.output()

    killable.start_worker()
    await wait_until(
        lambda: case_carried_on(service, reference),
        f"the case went on with the next worker\n{killable.output()}",
        timeout=45,
    )
    assert_each_sent_exactly_once(service, sink, reference)


@pytest.mark.parametrize(
    "recipient",
    ["a@x.example, b@evil.example", "not an email address", "alex@example.test\r\nBcc: b@evil.example"],
)
async def test_a_message_that_cannot_be_built_fails_for_good_and_sends_nothing(
    tmp_path: Path, mail_sink: MailSink, recipient: str
) -> None:
    """An address stored before addresses were checked (or any message that cannot be built) is not
    retried for two days: it fails at once, is listed as failed, and goes to nobody."""
    database_url = f"sqlite:///{tmp_path / 'outbox.db'}"
    migrate(database_url)
    settings = Settings(
        database_url=database_url, smtp_host=mail_sink.host, smtp_port=mail_sink.port, _env_file=None
    )  # type: ignore[call-arg]
    sessions = session_factory(database_url)
    mailer = Mailer(settings, sessions)
    key = f"test:{uuid.uuid4().hex}"
    before = len(mail_sink.messages())
    email = OutgoingEmail(
        idempotency_key=key,
        case_reference=None,
        purpose="letter",
        sender="community.trigger@blaby.council.example",
        reply_to=None,
        recipient=recipient,
        subject="CT-BLA-2026-0001",
        body_text="Hello.",
        body_html="<p>Hello.</p>",
    )
    await asyncio.to_thread(mailer.record_alone, email)
    with pytest.raises(ApplicationError) as failed:
        await mailer.deliver(key)
    assert failed.value.type == PERMANENT_FAILURE and failed.value.non_retryable
    assert "could not be built" in str(failed.value) and "evil" not in str(failed.value)
    with sessions() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        assert row is not None and row.status == "failed"
    assert len(mail_sink.messages()) == before


async def test_worker_killed_mid_send_is_replaced_and_the_case_resumes_within_30_seconds(
    killable: KillableStack,
) -> None:
    """kill -9 while Letter 1 is in the mail server's hands: a new worker takes the case up as soon as
    the dead one's heartbeat is missed (15 s), not after the mail activity's ten-minute timeout."""
    service, sink = killable.service, killable.sink
    kill = Once(killable.kill_worker)
    sink.on_kept = kill
    # The workers of production: how soon the case resumes is what this test measures.
    killable.start_worker(production_timings=True)
    reference = await apply(service)
    await wait_until(kill.fired.is_set, f"the sink kept Letter 1\n{killable.output()}", timeout=20)
    killed_at = time.monotonic()
    sink.on_kept = None
    killable.start_worker(production_timings=True)
    await wait_until(
        lambda: case_carried_on(service, reference),
        f"the case resumed on the new worker\n{killable.output()}",
        timeout=30,
    )
    assert time.monotonic() - killed_at < 30
    assert letter_1(service, reference).status == "sent"
