"""The PostgreSQL path, for real: a PostgreSQL server of these tests' own, the migrations, case references
under concurrency, the activities' records, and the outbox delivering to a real SMTP server.

The server is started from PostgreSQL's own binaries (initdb, pg_ctl). Without them the tests are
skipped locally, and fail on CI (CI=true), where `.ci/run` installs them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import HTTPException
from sqlalchemy import func, inspect, select, update
from temporalio.exceptions import ApplicationError

from activities.case import CaseActivities
from activities.mail import PERMANENT_FAILURE, Mailer, OutgoingEmail
from api.case_store import store_case
from core.config import PROJECT_ROOT, Settings
from core.localities import load_policies
from db.models import Base, Case, ChronologyEntry, Letter, OutboxMessage, ReferenceCounter
from db.session import MIGRATIONS, engine_for, migrate, session_factory
from devstack.mail_sink import MailSink
from domain.application import Application
from domain.policy import LocalityPolicy
from domain.threshold import assess
from tests import support
from workflows.models import (
    CaseProgress,
    CaseStage,
    ChronologyEvent,
    LetterCode,
    LetterRequest,
)

LOCALITIES = PROJECT_ROOT / "localities"


# ---- a PostgreSQL server of our own ------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _postgres_bin() -> Path | None:
    """A folder holding both initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: [int(part) if part.isdigit() else 0 for part in Path(path).parent.name.split(".")],
        reverse=True,
    )
    candidates.extend(Path(path) for path in debian)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"ct_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run(command: list[str], run_as: dict[str, Any], cwd: Path) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False, **run_as)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    folder = _postgres_bin()
    if folder is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin"
        )
        if _in_ci():
            pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run installs them)", pytrace=False)
        pytest.skip(f"{reason}: install PostgreSQL's server package (Debian: postgresql) to run them")
    base = Path(tempfile.mkdtemp(prefix="ct-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: initdb and the server run as the `postgres` user.
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.fail("running as root, but there is no `postgres` user to run PostgreSQL as")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    data = base / "data"
    _run(
        [
            str(folder / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        run_as,
        base,
    )
    port = _free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    _run(
        [
            str(folder / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        ],
        run_as,
        base,
    )
    try:
        yield PostgresServer(port=port)
    finally:
        subprocess.run(
            [str(folder / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            cwd=base,
            check=False,
            **run_as,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database, migrated, for one test."""
    url = postgres.create_database()
    migrate(url)
    yield url
    engine_for(url).dispose()


# ---- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policies() -> dict[str, LocalityPolicy]:
    return load_policies(LOCALITIES)


def settings_for(url: str, mail: MailSink | None = None, smtp_port: int | None = None) -> Settings:
    return Settings(
        environment="test",
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port or (mail.port if mail else 1025),
        smtp_timeout_seconds=5.0,
        public_base_url="http://testserver",
        localities_dir=LOCALITIES,
        mail_sink_dir=mail.directory if mail else PROJECT_ROOT / "var" / "mail",
    )


def store(
    settings: Settings,
    policy: LocalityPolicy,
    received_on: dt.date,
    key: str | None = None,
    **overrides: Any,
) -> tuple[str, bool]:
    application = Application.model_validate(support.application(today=received_on, **overrides))
    assessment = assess(application, policy.threshold, received_on)
    return store_case(
        session_factory(settings.database_url),
        application=application,
        policy=policy,
        received_on=received_on,
        assessment=assessment,
        idempotency_key=key,
    )


def email(key: str, recipient: str = "alex@example.test") -> OutgoingEmail:
    return OutgoingEmail(
        idempotency_key=key,
        case_reference=None,
        purpose="test",
        sender="spoc@blaby.example.test",
        reply_to=None,
        recipient=recipient,
        subject="A test message",
        body_text="Hello.",
        body_html="<p>Hello.</p>",
    )


def outbox_row(url: str, key: str) -> OutboxMessage:
    with session_factory(url)() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        assert row is not None
        return row


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailSink]:
    sink = MailSink(tmp_path / "mail", port=0)
    sink.start()
    yield sink
    sink.stop()


# ---- migrations ----------------------------------------------------------------------------------


def test_migrate_postgres_schema_matches_models(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    try:
        migrate(url)
        engine = engine_for(url)
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        with engine.begin() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head
            connection.execute(
                ReferenceCounter.__table__.insert().values(locality="blaby", year=2026, last_number=7)
            )
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables

        migrate(url)  # a second run changes nothing

        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head
            assert set(inspect(connection).get_table_names()) == tables
            assert connection.scalar(select(ReferenceCounter.last_number)) == 7
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine_for(url).dispose()


# ---- case references ----------------------------------------------------------------------------


def test_store_case_postgres_numbers_references_in_sequence(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    received_on = dt.date.today()
    year = received_on.year

    assert store(settings, policies["blaby"], received_on) == (f"CT-BLA-{year}-0001", True)
    assert store(settings, policies["blaby"], received_on) == (f"CT-BLA-{year}-0002", True)

    with session_factory(database_url)() as session:
        stored = session.scalar(select(Case).where(Case.reference == f"CT-BLA-{year}-0001"))
        assert stored is not None
        assert stored.locality == "blaby"
        assert stored.stage == "received"
        assert stored.received_on == received_on
        assert stored.created_at.utcoffset() == dt.timedelta(0)


def test_store_case_postgres_gives_gap_free_numbers_concurrently(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    received_on = dt.date.today()
    store(settings, policies["blaby"], received_on)
    store(settings, policies["blaby"], received_on)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: store(settings, policies["blaby"], received_on), range(20)))

    references = [reference for reference, created in results if created]
    assert len(references) == 20
    numbers = sorted(int(reference.rsplit("-", 1)[1]) for reference in references)
    assert numbers == list(range(3, 23))
    with session_factory(database_url)() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 22
        assert session.scalar(select(ReferenceCounter.last_number)) == 22


def test_store_case_postgres_numbers_first_cases_of_year_concurrently(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    received_on = dt.date.today()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: store(settings, policies["blaby"], received_on), range(20)))

    numbers = sorted(int(reference.rsplit("-", 1)[1]) for reference, _ in results)
    assert numbers == list(range(1, 21))


def test_store_case_postgres_returns_same_case_for_same_key(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    received_on = dt.date.today()
    key = uuid.uuid4().hex

    reference, created = store(settings, policies["blaby"], received_on, key=key)
    assert created is True
    assert store(settings, policies["blaby"], received_on, key=key) == (reference, False)

    with session_factory(database_url)() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_store_case_postgres_refuses_key_reused_for_other_application(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    received_on = dt.date.today()
    key = uuid.uuid4().hex
    store(settings, policies["blaby"], received_on, key=key)

    other = {
        "name": "Sam Other",
        "email": "sam@example.test",
        "phone": None,
        "address": "2 High Street, Narborough",
        "postcode": "LE19 2AB",
        "is_business": False,
    }
    with pytest.raises(HTTPException) as raised:
        store(settings, policies["blaby"], received_on, key=key, applicant=other)

    assert raised.value.status_code == 409
    with session_factory(database_url)() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


# ---- records -------------------------------------------------------------------------------------


def test_record_progress_postgres_records_chronology_once(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    received_on = dt.date(2026, 3, 2)
    reference, _ = store(settings, policies["blaby"], received_on)
    activities = CaseActivities(settings, policies, session_factory(database_url))
    bst = dt.timezone(dt.timedelta(hours=1))
    received = ChronologyEvent(
        key="received",
        at=dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC),
        actor="System",
        event="Application received",
    )
    acknowledged = ChronologyEvent(
        key="letter-1",
        at=dt.datetime(2026, 3, 2, 10, 15, tzinfo=bst),
        actor="System",
        event="Letter 1 sent",
    )
    progress = CaseProgress(
        reference=reference,
        stage=CaseStage.THRESHOLD_CHECK,
        deadlines={"acknowledge_by": dt.date(2026, 3, 4), "threshold_decision_by": dt.date(2026, 3, 30)},
        next_deadline=dt.date(2026, 3, 30),
        next_deadline_step="threshold_decision",
        events=[received, acknowledged],
    )

    activities.record_progress(progress)
    activities.record_progress(progress)  # a retried activity

    with session_factory(database_url)() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        assert case.stage == "threshold_check"
        assert case.acknowledge_by == dt.date(2026, 3, 4)
        assert case.threshold_decision_by == dt.date(2026, 3, 30)
        assert case.next_deadline == dt.date(2026, 3, 30)
        assert case.next_deadline_step == "threshold_decision"
        entries = list(
            session.scalars(
                select(ChronologyEntry).where(ChronologyEntry.case_id == case.id).order_by(ChronologyEntry.at)
            )
        )
    assert [entry.event_key for entry in entries] == ["received", "letter-1"]
    assert [entry.at for entry in entries] == [received.at, acknowledged.at]
    for entry in entries:
        assert entry.at.tzinfo is not None
        assert entry.at.utcoffset() == dt.timedelta(0)
    assert entries[1].at == dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def test_record_progress_postgres_adds_only_new_events(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    settings = settings_for(database_url)
    reference, _ = store(settings, policies["blaby"], dt.date(2026, 3, 2))
    activities = CaseActivities(settings, policies, session_factory(database_url))
    first = ChronologyEvent(
        key="received", at=dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC), actor="System", event="Received"
    )
    second = ChronologyEvent(
        key="withdrawn",
        at=dt.datetime(2026, 3, 5, 14, 0, tzinfo=dt.UTC),
        actor="SPOC (spoc)",
        event="Withdrawn",
    )
    activities.record_progress(CaseProgress(reference=reference, stage=CaseStage.RECEIVED, events=[first]))
    activities.record_progress(
        CaseProgress(reference=reference, stage=CaseStage.CLOSED, events=[first, second])
    )

    with session_factory(database_url)() as session:
        keys = list(session.scalars(select(ChronologyEntry.event_key).order_by(ChronologyEntry.at)))
        assert keys == ["received", "withdrawn"]
        assert session.scalar(select(Case.stage).where(Case.reference == reference)) == "closed"


def test_a_record_committed_after_a_later_one_keeps_its_entry_but_not_its_stage(
    database_url: str, policies: dict[str, LocalityPolicy]
) -> None:
    # A workflow task can schedule two records at once (an appeal request's entry, then "moved to appeal"),
    # and their activities may commit in either order: the earlier record must not put its stage back.
    settings = settings_for(database_url)
    reference, _ = store(settings, policies["blaby"], dt.date(2026, 3, 2))
    activities = CaseActivities(settings, policies, session_factory(database_url))
    at = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)
    requested = ChronologyEvent(key="e0030", at=at, actor="Applicant", event="Appeal requested")
    moved = ChronologyEvent(key="e0031", at=at, actor="System", event="Moved to appeal")
    activities.record_progress(
        CaseProgress(reference=reference, stage=CaseStage.APPEAL, events=[moved], version=31)
    )
    activities.record_progress(
        CaseProgress(
            reference=reference,
            stage=CaseStage.APPEAL_WINDOW,
            next_deadline=dt.date(2026, 4, 20),
            next_deadline_step="appeal_by",
            events=[requested],
            version=30,
        )
    )
    with session_factory(database_url)() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        assert (case.stage, case.next_deadline, case.record_version) == ("appeal", None, 31)
        keys = set(
            session.scalars(select(ChronologyEntry.event_key).where(ChronologyEntry.case_id == case.id))
        )
    assert {"e0030", "e0031"} <= keys
    # A record from a worker from before the numbers (no version) is written as it always was.
    activities.record_progress(CaseProgress(reference=reference, stage=CaseStage.CLOSED))
    with session_factory(database_url)() as session:
        assert session.scalar(select(Case.stage).where(Case.reference == reference)) == "closed"


# ---- mail through the outbox ------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_send_letter_postgres_sends_acknowledgement_once(
    database_url: str, policies: dict[str, LocalityPolicy], mail: MailSink
) -> None:
    if not (PROJECT_ROOT / "templates" / "letters" / "letter-1.j2").exists():
        pytest.fail("templates/letters/letter-1.j2 is missing")
    settings = settings_for(database_url, mail)
    received_on = dt.date.today()
    reference, _ = await asyncio.to_thread(store, settings, policies["blaby"], received_on)
    activities = CaseActivities(settings, policies, session_factory(database_url))
    request = LetterRequest(reference=reference, code=LetterCode.ACKNOWLEDGEMENT, dated=received_on)

    first = await activities.send_letter(request)
    messages = await asyncio.to_thread(mail.wait_for_messages, 1)
    again = await activities.send_letter(request)  # a retried activity
    await asyncio.sleep(0.3)

    assert again == first
    assert first.status == "sent"
    assert first.channel == "email"
    assert len(mail.messages()) == 1
    message = messages[0]
    assert reference in str(message["Subject"])
    assert str(message["To"]) == "alex@example.test"
    with session_factory(database_url)() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.case_reference == reference)))
        letters = list(session.scalars(select(Letter)))
    assert len(rows) == 1
    assert rows[0].status == "sent"
    assert rows[0].attempts == 1
    assert rows[0].possible_duplicates == 0
    assert rows[0].sent_at is not None
    assert rows[0].message_id == str(message["Message-ID"])
    assert [(letter.code, letter.status) for letter in letters] == [("letter-1", "sent")]


@pytest.mark.asyncio(loop_scope="session")
async def test_deliver_outbox_postgres_resends_sending_row_with_same_message_id(
    database_url: str, mail: MailSink
) -> None:
    sessions = session_factory(database_url)
    mailer = Mailer(settings_for(database_url, mail), sessions)
    key = f"test:{uuid.uuid4().hex}"
    await asyncio.to_thread(mailer.record_alone, email(key))
    assert await mailer.deliver(key) == "sent"
    await asyncio.to_thread(mail.wait_for_messages, 1)

    # The worker died after the server took the message but before it marked the row sent.
    def left_sending() -> None:
        with sessions.begin() as session:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.idempotency_key == key).values(status="sending")
            )

    await asyncio.to_thread(left_sending)
    assert await mailer.deliver(key) == "sent"

    messages = await asyncio.to_thread(mail.wait_for_messages, 2)
    row = outbox_row(database_url, key)
    assert len(messages) == 2
    assert {str(message["Message-ID"]) for message in messages} == {row.message_id}
    assert row.status == "sent"
    assert row.attempts == 2
    assert row.possible_duplicates == 1


class _RefuseRecipients:
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        return "550 no such user"


@pytest.mark.asyncio(loop_scope="session")
async def test_deliver_outbox_postgres_fails_permanently_on_refused_recipient(database_url: str) -> None:
    controller = Controller(_RefuseRecipients(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        mailer = Mailer(settings_for(database_url, smtp_port=controller.port), session_factory(database_url))
        key = f"test:{uuid.uuid4().hex}"
        await asyncio.to_thread(mailer.record_alone, email(key, recipient="nobody@example.test"))

        with pytest.raises(ApplicationError) as raised:
            await mailer.deliver(key)
    finally:
        controller.stop()

    assert raised.value.type == PERMANENT_FAILURE
    assert raised.value.non_retryable is True
    row = outbox_row(database_url, key)
    assert row.status == "failed"
    assert row.attempts == 1
    assert row.last_error
    assert "550" in row.last_error


@pytest.mark.asyncio(loop_scope="session")
async def test_deliver_outbox_postgres_releases_row_when_server_down(database_url: str) -> None:
    mailer = Mailer(settings_for(database_url, smtp_port=_free_port()), session_factory(database_url))
    key = f"test:{uuid.uuid4().hex}"
    await asyncio.to_thread(mailer.record_alone, email(key))

    with pytest.raises(ApplicationError) as raised:
        await mailer.deliver(key)

    # Temporal retries it; the error names the failure but not the address.
    assert raised.value.type == "TemporaryMailFailure" and not raised.value.non_retryable
    assert "SMTPConnectError" in raised.value.message and raised.value.__cause__ is None
    row = outbox_row(database_url, key)
    assert row.status == "pending"
    assert row.attempts == 1
    assert row.possible_duplicates == 0
    assert row.last_error
