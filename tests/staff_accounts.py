"""What the staff account tests share: an app of their own (SQLite, no Temporal) whose clock they move, a
browser-like client (https, so that Secure cookies are sent back), users with passwords, the real SMTP sink
to read security codes and links from, and signing in the whole way."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from functools import lru_cache

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from api.deps import now_utc
from api.staff.passwords import hash_password
from core.config import Settings
from db.models import AuditEntry, StaffLocality, StaffUser
from db.session import session_factory
from devstack.mail_sink import MailSink
from tests.test_security import app_for

PASSWORD = "purple-otter-lantern"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CODE = re.compile(r"Your security code is (\d{6})")
LINK = re.compile(r"https?://[^\s)]+/staff/(?:invitation|password-reset)/[A-Za-z0-9_-]+")


@lru_cache(maxsize=1)
def password_hash() -> str:
    # One argon2 hash for every test user: hashing is slow on purpose.
    return hash_password(PASSWORD)


@dataclass
class Clock:
    now: dt.datetime

    def move(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def staff_app(settings: Settings, clock: Clock) -> FastAPI:
    app = app_for(settings)
    app.dependency_overrides[now_utc] = lambda: clock.now
    return app


def browser(app: FastAPI) -> httpx.AsyncClient:
    """One browser: its own cookies, https (Secure cookies come back), redirects not followed."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


def browser_with_cookie(app: FastAPI, name: str, value: str) -> httpx.AsyncClient:
    """A browser that sends a cookie kept from earlier (a session that ought to have ended, say)."""
    client = browser(app)
    client.headers["Cookie"] = f"{name}={value}"
    return client


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str


def add_user(
    settings: Settings,
    *,
    role: str = "spoc",
    localities: Sequence[str] = ("blaby",),
    password: bool = True,
    api_key_hash: str | None = None,
) -> User:
    email = f"{role}.{uuid.uuid4().hex[:8]}@blaby.gov.example"
    name = f"Sam {role.title()} {uuid.uuid4().hex[:4]}"
    with session_factory(settings.database_url).begin() as session:
        user = StaffUser(
            name=name,
            email=email,
            role=role,
            api_key_hash=api_key_hash,
            active=True,
            development_only=False,
            created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            password_hash=password_hash() if password else None,
            failed_sign_ins=0,
            localities=[StaffLocality(locality=locality) for locality in localities],
        )
        session.add(user)
        session.flush()
        return User(id=user.id, email=email, name=name)


def user_row(settings: Settings, user_id: int) -> StaffUser:
    with session_factory(settings.database_url)() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        session.expunge(user)
        return user


def audit(settings: Settings) -> list[AuditEntry]:
    with session_factory(settings.database_url)() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def mail_to(sink: MailSink, email: str) -> list[EmailMessage]:
    return [message for message in sink.messages() if message["To"] == email]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def latest_code(sink: MailSink, email: str) -> str:
    messages = mail_to(sink, email)
    assert messages, f"no email to {email}"
    found = CODE.search(text_of(messages[-1]))
    assert found, "no security code in the latest email"
    return found.group(1)


def latest_link(sink: MailSink, email: str) -> str:
    messages = mail_to(sink, email)
    assert messages, f"no email to {email}"
    found = LINK.search(text_of(messages[-1]))
    assert found, "no link in the latest email"
    return found.group(0)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


async def enter_password(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    form = await client.get("/staff/sign-in" + (f"?next={next_path}" if next_path else ""))
    return await client.post(
        "/staff/sign-in",
        data={"csrf": csrf_of(form), "email": email, "password": password, "next": next_path},
    )


async def enter_code(client: httpx.AsyncClient, code: str) -> httpx.Response:
    form = await client.get("/staff/sign-in/code")
    return await client.post("/staff/sign-in/code", data={"csrf": csrf_of(form), "code": code})


async def sign_in(client: httpx.AsyncClient, sink: MailSink, email: str, password: str = PASSWORD) -> None:
    """The whole way: the password, then the code from the email; the client holds the session."""
    answer = await enter_password(client, email, password)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/sign-in/code", answer.text
    signed_in = await enter_code(client, latest_code(sink, email))
    assert signed_in.status_code == 303, signed_in.text
    assert "staff_session" in client.cookies


async def session_csrf(client: httpx.AsyncClient) -> str:
    """The session's CSRF token, from a page that does not extend the session."""
    page = await client.get("/staff/session-timeout-warning")
    assert page.status_code == 200, page.headers.get("location")
    return csrf_of(page)
