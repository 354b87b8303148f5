"""Safe to run for a council: production refuses development access and documentation, every response
carries the security headers, oversized bodies are refused before they are read, and every email address
the API takes is exactly one mailbox.

The app is the real one (`create_app`), on a migrated SQLite database of the test's own; apps that need no
Temporal have none (the routes used here do not reach it).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from core.config import PROJECT_ROOT, Settings, get_settings
from core.localities import load_policies
from db import staff_admin
from db.seed import development_access_exists, development_api_key, seed_development_staff
from db.session import engine_for, migrate
from tests import support
from tests.support import CaseService

MB = 1024 * 1024
DEV_KEY = {"Authorization": f"Bearer {development_api_key('blaby')}"}
HSTS = "max-age=31536000; includeSubDomains"


# ---- helpers (the other test_security* files use them too) ----------------------------------------


def settings_for(tmp_path: Path, environment: str = "test", **values: Any) -> Settings:
    """Settings of a test's own database (migrated here), whatever the environment says."""
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
    migrate(url)
    production: dict[str, Any] = {}
    if environment == "production":
        production["secret_key"] = secrets.token_urlsafe(40)
        if "payload_keys" in Settings.model_fields:  # payload encryption, required in production
            production["payload_keys"] = "k1:" + base64.b64encode(os.urandom(32)).decode()
    return Settings(
        environment=environment,  # type: ignore[arg-type]
        database_url=url,
        localities_dir=PROJECT_ROOT / "localities",
        public_base_url="http://testserver",
        _env_file=None,  # type: ignore[call-arg]
        **production,
        **values,
    )


def app_for(settings: Settings) -> FastAPI:
    """The real app with these settings, as conftest wires it; no Temporal (client None)."""
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.state.policies = load_policies(settings.localities_dir)
    app.state.engine = engine_for(settings.database_url)
    app.state.temporal = SimpleNamespace(client=None, last_error="no Temporal in this test")
    return app


def client_of(app: FastAPI, client: tuple[str, int] = ("203.0.113.7", 50000)) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=client), base_url="http://testserver"
    )


def seeded_in_development(settings: Settings) -> None:
    """The database as `make run` leaves it: development SPOCs with their published keys."""
    seed_development_staff(settings.model_copy(update={"environment": "development"}))


def eligibility_body(**applicant: Any) -> dict[str, Any]:
    body = support.application(today=dt.date.today())
    body["applicant"] = {**body["applicant"], **applicant}
    return body


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def production_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """ENVIRONMENT=production in the process environment (as a deployment sets it), a migrated database
    seeded by `make run` earlier, and no Temporal listening."""
    settings = settings_for(tmp_path, "development")
    seeded_in_development(settings)
    values = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "PAYLOAD_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
        "DATABASE_URL": settings.database_url,
        "LOCALITIES_DIR": str(settings.localities_dir),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{_closed_port()}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        get_settings.cache_clear()
        engine_for(settings.database_url).dispose()


# ---- production refuses development access -----------------------------------------------------------


@pytest.mark.parametrize("environment", ["test", "production"])
async def test_development_key_outside_development_is_refused(tmp_path: Path, environment: str) -> None:
    settings = settings_for(tmp_path, environment)
    seeded_in_development(settings)

    async with client_of(app_for(settings)) as api:
        refused = await api.get("/api/cases", headers=DEV_KEY)
    async with client_of(app_for(settings.model_copy(update={"environment": "development"}))) as api:
        accepted = await api.get("/api/cases", headers=DEV_KEY)

    assert refused.status_code == 401
    assert accepted.status_code == 200


def test_start_api_in_production_refuses_while_development_access_exists(production_env: Settings) -> None:
    assert development_access_exists(production_env.database_url)

    with pytest.raises(RuntimeError, match="revoke-development-access"), TestClient(create_app()):
        pass

    assert staff_admin.main(["revoke-development-access"], settings=production_env) == 0
    assert not development_access_exists(production_env.database_url)
    with TestClient(create_app()) as client:
        assert client.get("/api/cases", headers=DEV_KEY).status_code == 401


def test_production_has_no_docs_and_no_dev_mail_and_sends_hsts(production_env: Settings) -> None:
    staff_admin.main(["revoke-development-access"], settings=production_env)

    with TestClient(create_app()) as client:
        answers = {path: client.get(path) for path in ("/docs", "/redoc", "/openapi.json", "/dev/mail")}

    for path, answer in answers.items():
        assert answer.status_code == 404, path
        assert answer.headers["strict-transport-security"] == HSTS, path
        assert answer.headers["x-content-type-options"] == "nosniff", path


async def test_development_keeps_docs_without_hsts(tmp_path: Path) -> None:
    async with client_of(app_for(settings_for(tmp_path, "development"))) as api:
        docs = await api.get("/docs")
        openapi = await api.get("/openapi.json")

    assert docs.status_code == 200 and openapi.status_code == 200
    assert "strict-transport-security" not in docs.headers
    assert "strict-transport-security" not in openapi.headers
    assert docs.headers["x-frame-options"] == "DENY"


# ---- security headers on every response -----------------------------------------------------------


async def test_every_response_carries_security_headers(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "test")
    app = app_for(settings)

    @app.get("/boom-for-this-test")
    def boom() -> None:
        raise RuntimeError("a bug")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver"
    ) as api:
        answers = {
            "json": await api.post("/api/eligibility", json=eligibility_body()),
            "401": await api.get("/api/cases"),
            "404": await api.get("/no/such/page"),
            "static": await api.get("/static/agency/agency.css"),
            "agency page": await api.get(f"/agency/r/{'A' * 43}"),
            "agency page without a session": await api.get("/agency/reply"),
            "413": await api.post("/api/eligibility", content=b"{" + b" " * (2 * MB) + b"}"),
            "500": await api.get("/boom-for-this-test"),
        }

    for name, answer in answers.items():
        headers = answer.headers
        assert headers["strict-transport-security"] == HSTS, name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["x-frame-options"] == "DENY", name
        assert headers["referrer-policy"], name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
    assert answers["500"].status_code == 500
    assert answers["json"].status_code == 200
    assert answers["json"].headers["content-security-policy"].startswith("default-src 'none'")
    assert answers["json"].headers["cache-control"] == "no-store"
    # What set its own keeps it: the agency pages' CSP with its nonce, the static files' caching.
    assert "'nonce-" in answers["agency page"].headers["content-security-policy"]
    assert answers["static"].headers["cache-control"].startswith("public")


# ---- request bodies over the limit ----------------------------------------------------------------


async def _chunks(size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    yield b'{"locality": "'
    for _ in range(size // chunk):
        yield b"x" * chunk
    yield b'"}'


async def test_post_body_over_limit_answers_413_before_parsing(tmp_path: Path) -> None:
    async with client_of(app_for(settings_for(tmp_path, "test"))) as api:
        declared = await api.post(
            "/api/eligibility",
            content=b"{" + b" " * (2 * MB) + b"}",
            headers={"Content-Type": "application/json"},
        )
        chunked = await api.post(
            "/api/eligibility", content=_chunks(2 * MB), headers={"Content-Type": "application/json"}
        )
        small_chunked = await api.post(
            "/api/eligibility", content=_chunks(1024), headers={"Content-Type": "application/json"}
        )
        agency_form = await api.post(
            "/agency/new-link", data={"token": "x" * (2 * MB), "csrf_token": "0" * 64}
        )
        # The agency's answer with its attachments keeps its own, larger limit.
        reply = await api.post("/agency/reply", content=b"x" * (2 * MB))

    assert declared.status_code == 413
    assert "1 MB" in declared.json()["detail"]
    assert chunked.status_code == 413
    assert chunked.json()["detail"] == declared.json()["detail"]
    assert small_chunked.status_code == 422  # read and parsed: not an application
    assert agency_form.status_code == 413
    assert "What you sent is too large" in agency_form.text
    assert reply.status_code == 401  # its session was checked; the body was not refused for its size


async def test_post_body_limit_is_a_setting(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "test", max_request_body_bytes=100)
    async with client_of(app_for(settings)) as api:
        answer = await api.post("/api/eligibility", json=eligibility_body())

    assert answer.status_code == 413
    assert "100 bytes" in answer.json()["detail"]


# ---- email addresses: exactly one mailbox ------------------------------------------------------------

NOT_ONE_MAILBOX = [
    ("a@x.test, b@evil.test", "Enter one email address only"),
    ("a@x.test;b@evil.test", "Enter one email address only"),
    ("not an email address", "Enter an email address in the correct format"),
    ("a@x.test\r\nBcc: b@evil.test", "without spaces or line breaks"),
    ("Alex Example <alex@example.test>", "without a name"),
    ("alex @example.test", "without spaces or line breaks"),
]


@pytest.mark.parametrize(("email", "message"), NOT_ONE_MAILBOX)
async def test_post_eligibility_applicant_email_must_be_one_mailbox(
    tmp_path: Path, email: str, message: str
) -> None:
    async with client_of(app_for(settings_for(tmp_path, "test"))) as api:
        answer = await api.post("/api/eligibility", json=eligibility_body(email=email))

    assert answer.status_code == 422
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body", "applicant", "email"]
    assert message in problem["msg"]
    assert email not in problem["msg"]


async def test_post_case_applicant_email_list_is_refused_and_nothing_is_stored(service: CaseService) -> None:
    body = support.application(today=await service.today())
    body["applicant"] = {**body["applicant"], "email": "a@x.test, b@evil.test"}

    answer = await service.apply(body, key=f"email-list-{uuid.uuid4().hex[:12]}")

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "applicant", "email"]
    assert not any("evil.test" in str(message["To"]) for message in service.mail.messages())


async def test_resend_to_must_be_one_mailbox(service: CaseService) -> None:
    reference = await service.open_case(support.application(today=await service.today()))
    key = "threshold:leicestershire-police"

    answers = [
        await service.act(reference, "information-requests/resend", {"request_key": key, "to": to})
        for to in (
            "Analyst <analyst@leicestershire-police.example>",
            "analyst@leicestershire-police.example, other@evil.example",
            " analyst@leicestershire-police.example",
            "analyst@leicestershire-police.example\r\nBcc: other@evil.example",
        )
    ]

    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "to"]
    case = await service.case(reference)
    police = next(r for r in case["information_requests"] if r["request_key"] == key)
    assert police["resent_count"] == 0
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
