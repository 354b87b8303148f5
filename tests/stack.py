"""A service stack of a test's own beside the session-wide `service` fixture: its own SMTP sink, SQLite
database and task queue (on the session's time-skipping Temporal server, or on a real dev server), with
the worker either in this process or as a real `python worker.py` child process that the test may kill
at any moment."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case import CaseActivities
from api.deps import now_utc, today_in_london
from api.main import create_app
from core.config import PROJECT_ROOT, Settings, get_settings
from core.localities import load_policies
from core.temporal import SEARCH_ATTRIBUTES
from db.models import Case, ReferenceCounter
from db.seed import seed_development_staff
from db.session import engine_for, migrate, session_factory
from devstack.mail_sink import MailSink
from domain.calendar import london_date
from tests import support
from workflows.appeal import AppealWorkflow
from workflows.case import WORKFLOW_RUNNER, CaseWorkflow

# Every stack's case references start at a number of their own. Workflow IDs are `Case:<reference>` and
# all stacks share one Temporal namespace, so two databases that both numbered from 0001 would collide:
# the API takes "workflow already started" for a retry of the same application and starts nothing.
_REFERENCE_BLOCKS = itertools.count(50)
REFERENCE_BLOCK = 100


def reserve_references(settings: Settings, locality: str, year: int, first: int) -> None:
    """Make the locality's case references in `year` and the next two years start at `first`."""
    with session_factory(settings.database_url).begin() as session:
        for y in range(year, year + 3):
            session.merge(ReferenceCounter(locality=locality, year=y, last_number=first - 1))


@asynccontextmanager
async def own_stack(
    env: WorkflowEnvironment, mail: MailSink, db_dir: Path, *, in_process_worker: bool
) -> AsyncIterator[support.CaseService]:
    """The API (and, if asked, a worker in this process) on a task queue and database of their own.

    Wired as conftest's `service` fixture is. Without `in_process_worker`, nothing polls the task queue
    until the test starts a `WorkerProcess` with the returned service's settings. On leaving, the
    workflows of the stack's cases are terminated (see `terminate_cases`).
    """
    settings = support.test_settings(db_dir, mail)
    migrate(settings.database_url)
    seed_development_staff(settings)
    today = london_date(await env.get_current_time())
    reserve_references(settings, "blaby", today.year, next(_REFERENCE_BLOCKS) * REFERENCE_BLOCK + 1)
    policies = load_policies(settings.localities_dir)
    sessions = session_factory(settings.database_url)

    async def today_at_test_server() -> dt.date:
        return london_date(await env.get_current_time())

    async def now_at_test_server() -> dt.datetime:
        return (await env.get_current_time()).astimezone(dt.UTC)

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[today_in_london] = today_at_test_server
    app.dependency_overrides[now_utc] = now_at_test_server
    app.state.policies = policies
    app.state.engine = engine_for(settings.database_url)
    app.state.temporal = SimpleNamespace(client=env.client, last_error=None)
    async with AsyncExitStack() as stack:
        if in_process_worker:
            executor = stack.enter_context(ThreadPoolExecutor(max_workers=8))
            await stack.enter_async_context(
                Worker(
                    env.client,
                    task_queue=settings.temporal_task_queue,
                    workflows=[CaseWorkflow, AppealWorkflow],
                    workflow_runner=WORKFLOW_RUNNER,
                    activities=CaseActivities(settings, policies, sessions).all(),
                    activity_executor=executor,
                )
            )
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        )
        try:
            yield support.CaseService(
                env=env, api=api, settings=settings, mail=mail, sessions=sessions, app=app
            )
        finally:
            await terminate_cases(env, sessions)


async def terminate_cases(env: WorkflowEnvironment, sessions: sessionmaker[Session]) -> None:
    """Terminate the workflows of every case in this database.

    Once nothing polls a stack's task queue, a timer of one of its cases (a deadline, a chase) would give
    the workflow a task that no worker takes; the time-skipping server stops its clock while a workflow
    task waits, so every later `env.sleep` of the session would hang.
    """
    with sessions() as session:
        references = list(session.scalars(select(Case.reference)))
    for reference in references:
        try:
            await env.client.get_workflow_handle(f"Case:{reference}").terminate(
                reason="the test stack closed"
            )
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:  # not found: it had finished already
                raise


class WorkerProcess:
    """`python worker.py` as a child process, configured by environment variables as in production."""

    def __init__(
        self, settings: Settings, env: WorkflowEnvironment, log: Path, *, production_timings: bool = False
    ) -> None:
        self.log = log
        # Only the settings this stack sets; nothing inherited that could point the worker elsewhere.
        inherited = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TZ")}
        self.env = {
            **inherited,
            "ENVIRONMENT": settings.environment,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": env.client.namespace,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "DATABASE_URL": settings.database_url,
            "SMTP_HOST": settings.smtp_host,
            "SMTP_PORT": str(settings.smtp_port),
            "PUBLIC_BASE_URL": settings.public_base_url,
            "LOCALITIES_DIR": str(settings.localities_dir),
            "MAIL_SINK_DIR": str(settings.mail_sink_dir),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        if not production_timings:
            # A killed worker's cases move to the next worker after a second, not ten: the tests that kill
            # one wait that long in real time. A test of how soon a case resumes keeps production's.
            self.env["WORKER_STICKY_TIMEOUT_SECONDS"] = "1"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "worker.py")],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"

    def wait_polling(self, timeout: float = 30.0) -> None:
        """Until the worker says it polls its task queue (imports and connecting take a second or two)."""
        deadline = time.monotonic() + timeout
        while "worker polling task queue" not in self.output():
            assert self.alive(), f"the worker exited early:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"the worker did not start:\n{self.output()[-4000:]}"
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would end it: no clean-up runs. Returns once it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, as an orderly shutdown; SIGKILL if it has not gone after `timeout` s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


async def workflow_status(env: WorkflowEnvironment, reference: str) -> WorkflowExecutionStatus:
    """The case workflow's status, read with the raw RPC: the time-skipping server keeps an unset search
    attribute (NextDeadline, while no deadline is next) as a null Datetime, which `handle.describe()`
    cannot decode."""
    response = await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=f"Case:{reference}")
        )
    )
    return WorkflowExecutionStatus(response.workflow_execution_info.status)


async def end_killed_attempt(
    env: WorkflowEnvironment, reference: str, activity_type: str, workflow: str = "Case"
) -> int:
    """Fail the case's `activity_type` attempt whose worker was killed, as its start-to-close timeout
    would; returns the attempt's number.

    The mail activities' timeout (MAIL_TIMEOUT) is two minutes, and no server can skip it: a real one waits
    it out in real time, and the time-skipping one stops its clock while an attempt is outstanding (it
    cannot know the worker is gone). Failing the attempt by its ID with a retryable failure has the same
    effect: the attempt ends and the retry policy schedules the next. `workflow`: "Case", or "Appeal" for
    the case's appeal.
    """
    workflow_id = f"{workflow}:{reference}"
    described = await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    running = [
        pending
        for pending in described.pending_activities
        if pending.activity_type.name == activity_type
        and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    ]
    assert len(running) == 1, f"expected one running {activity_type}: {described.pending_activities}"
    await env.client.get_async_activity_handle(
        workflow_id=workflow_id,
        run_id=described.workflow_execution_info.execution.run_id,
        activity_id=running[0].activity_id,
    ).fail(ApplicationError("the worker running this attempt was killed", type="WorkerKilled"))
    return running[0].attempt


async def start_dev_server() -> WorkflowEnvironment:
    """A real Temporal server (`temporal server start-dev`, in memory) with the case search attributes.

    For tests that kill a worker. The workflow's next task then goes to the dead worker's sticky queue
    (its workflow cache); a real server moves it to the normal queue after the sticky schedule-to-start
    timeout (10 s, the SDK's default). The time-skipping test server never does: it has no such timeout
    and no ResetStickyTaskQueue, and does not say which sticky queue holds the task, so the case would
    wait for ever.
    """
    path = support.venv_tool("temporal")
    assert path, "the temporal CLI is not on PATH: install the dev extras (pip install -e '.[dev]')"
    kinds: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
        "Keyword": SearchAttributeKey.for_keyword,
        "Datetime": SearchAttributeKey.for_datetime,
    }
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        data_converter=support.DATA_CONVERTER,
        search_attributes=[kinds[kind](name) for name, kind in SEARCH_ATTRIBUTES.items()],
    )


async def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Until `check()` holds, in real time (the workers run in real time while the clock stands still)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


async def skip_until(
    env: WorkflowEnvironment,
    check: Callable[[], bool],
    what: str,
    *,
    step: dt.timedelta = dt.timedelta(seconds=30),
    at_most: dt.timedelta = dt.timedelta(minutes=30),
    timeout: float = 30.0,
) -> dt.timedelta:
    """Skip the test server's clock `step` at a time until `check()` holds; the time skipped.

    Between steps the workers get a moment of real time to run what fell due (retries, timeouts).
    """
    skipped = dt.timedelta(0)
    deadline = time.monotonic() + timeout
    while not check():
        if skipped >= at_most or time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after skipping {skipped}")
        await env.sleep(step)
        skipped += step
        for _ in range(10):  # up to 0.5 s of real time, less once it holds
            if check():
                break
            await asyncio.sleep(0.05)
    return skipped
