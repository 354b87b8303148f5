"""Starting up: production refuses the development secret, and the worker and the API start (and say
what is wrong) while Temporal is not up yet, without saving anything they could not hand on."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

import worker
from api.main import create_app
from core.config import DEVELOPMENT_SECRET_KEY, PROJECT_ROOT, Settings, get_settings
from db.models import Case
from db.seed import seed_development_staff
from db.session import engine_for, migrate
from tests import support


def _closed_port() -> int:
    """A port nothing listens on (bound for a moment to find a free one, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- settings -------------------------------------------------------------------------------------


def test_validate_settings_production_refuses_development_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEVELOPMENT_SECRET_KEY, _env_file=None)  # type: ignore[call-arg]


def test_validate_settings_production_refuses_short_secret_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=secrets.token_hex(8), _env_file=None)  # type: ignore[call-arg]


def test_validate_settings_production_accepts_random_secret_key() -> None:
    key = secrets.token_urlsafe(30)
    assert len(key) == 40
    payload_keys = f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}"

    settings = Settings(environment="production", secret_key=key, payload_keys=payload_keys, _env_file=None)  # type: ignore[call-arg]

    assert settings.secret_key == key
    assert not settings.is_development


def test_validate_settings_production_refuses_no_payload_keys() -> None:
    with pytest.raises(ValidationError, match="PAYLOAD_KEYS"):
        Settings(environment="production", secret_key=secrets.token_urlsafe(30), _env_file=None)  # type: ignore[call-arg]


def test_validate_settings_development_accepts_default_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)

    settings = Settings(environment="development", _env_file=None)  # type: ignore[call-arg]

    assert settings.secret_key == DEVELOPMENT_SECRET_KEY
    assert settings.is_development


# ---- the worker -----------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_run_worker_unreachable_temporal_keeps_retrying(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    settings = Settings(
        environment="test",
        temporal_address=address,
        database_url=f"sqlite:///{tmp_path / 'cases.db'}",
        localities_dir=PROJECT_ROOT / "localities",
        _env_file=None,  # type: ignore[call-arg]
    )
    caplog.set_level(logging.WARNING, logger="worker")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_worker(settings, stop))

    def warnings() -> list[logging.LogRecord]:
        return [
            record
            for record in caplog.records
            if record.name == "worker"
            and record.levelno == logging.WARNING
            and address in record.getMessage()
        ]

    deadline = time.monotonic() + 15
    while len(warnings()) < 2 and not task.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)

    assert not task.done(), "run_worker returned (or raised) while Temporal was unreachable"
    assert len(warnings()) >= 2, "run_worker did not keep retrying with a warning naming the address"
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 5
    assert task.result() is None


# ---- the API ---------------------------------------------------------------------------------------


@pytest.fixture
def api_without_temporal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The environment of an API whose Temporal is not up; yields the (migrated) database URL."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{_closed_port()}")
    get_settings.cache_clear()
    try:
        yield url
    finally:
        get_settings.cache_clear()
        engine_for(url).dispose()


def _count_cases(url: str) -> int:
    with engine_for(url).connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Case.__table__)) or 0)


def test_start_api_unreachable_temporal_reports_unhealthy(api_without_temporal: str) -> None:
    with TestClient(create_app()) as client:
        response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["temporal"].startswith("unavailable: ")


def test_post_case_unreachable_temporal_answers_503_and_stores_nothing(api_without_temporal: str) -> None:
    body = support.application(today=dt.date.today())

    with TestClient(create_app()) as client:
        response = client.post("/api/cases", json=body, headers={"Idempotency-Key": "startup-test-0001"})

    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "unavailable" in detail
    assert "nothing was saved" in detail
    assert _count_cases(api_without_temporal) == 0


def test_worker_refuses_to_start_in_production_while_development_staff_exist(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'seeded.db'}"
    migrate(database_url)
    development = Settings(environment="development", database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    seed_development_staff(development)
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "PAYLOAD_KEYS": f"k1:{base64.b64encode(secrets.token_bytes(32)).decode()}",
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    finished = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "worker.py")],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    assert "revoke-development-access" in finished.stderr
