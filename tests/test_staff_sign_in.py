"""Signing in to the staff pages over HTTP, as a browser does: the password, then the six-digit code read
from the real SMTP sink; wrong passwords and codes, the lock-out (the same answer as for an unknown email),
the code's 15 minutes, the session's 30 minutes idle and 12 hours in all, the warning page that does not
extend it, signing out, CSRF, the cookies' flags, invitations and password resets (single use, expiring,
ending other sessions), and the development seed. The clock is the app's `now_utc`, moved by the test."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.staff.links import redact_staff_link_tokens_in_access_logs
from api.staff.passwords import DEVELOPMENT_PASSWORD, password_problem
from core.config import Settings
from db.seed import development_access_exists, seed_development_staff
from db.session import session_factory
from db.staff_models import StaffSession
from devstack.mail_sink import MailSink
from tests.staff_accounts import (
    PASSWORD,
    Clock,
    add_user,
    audit,
    browser,
    browser_with_cookie,
    csrf_of,
    enter_code,
    enter_password,
    latest_code,
    latest_link,
    mail_to,
    session_csrf,
    sign_in,
    staff_app,
    user_row,
)
from tests.test_security import settings_for

START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def settings(tmp_path: Path, mail_sink: MailSink) -> Settings:
    return settings_for(tmp_path, "test", smtp_host=mail_sink.host, smtp_port=mail_sink.port)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> FastAPI:
    return staff_app(settings, clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


def error_summary(page: httpx.Response) -> str:
    found = re.search(r'<div class="govuk-error-summary".*?</div>\s*</div>', page.text, re.S)
    assert found, "no error summary"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(0))).strip()


def page_text(page: httpx.Response, email: str) -> str:
    """The page as anyone would compare it: the address typed and each page's fresh CSP nonce left out."""
    return re.sub(r'nonce="[^"]+"', "", page.text).replace(email, "EMAIL")


async def still_signed_in(client: httpx.AsyncClient) -> bool:
    page = await client.get("/staff/session-timeout-warning")
    return page.status_code == 200


# ---- signing in ---------------------------------------------------------------------------------


async def test_sign_in_with_the_emailed_code_opens_a_session_and_goes_where_it_was_going(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)

    refused = await client.get("/staff/session-timeout-warning")
    assert refused.status_code == 303
    assert refused.headers["location"] == "/staff/sign-in?next=/staff/session-timeout-warning"

    answer = await enter_password(client, user.email, next_path="/staff/cases/CT-BLA-2026-0001")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/sign-in/code"
    code_page = await client.get("/staff/sign-in/code")
    assert "Check your email" in code_page.text and "You have 3 tries left" in code_page.text
    code = latest_code(mail_sink, user.email)
    signed_in = await enter_code(client, code)

    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/staff/cases/CT-BLA-2026-0001"
    warning = await client.get("/staff/session-timeout-warning")
    assert warning.status_code == 200 and f"Signed in as {user.name}" in warning.text
    actions = [entry.action for entry in audit(settings)]
    assert actions == ["staff_security_code_sent", "staff_signed_in"]
    details = " ".join(f"{entry.actor} {entry.detail}" for entry in audit(settings))
    assert code not in details and PASSWORD not in details and user.email not in details
    assert user_row(settings, user.id).failed_sign_ins == 0


async def test_sign_in_refuses_a_next_page_on_another_site(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)

    await enter_password(client, user.email, next_path="//evil.example/staff")
    signed_in = await enter_code(client, latest_code(mail_sink, user.email))

    assert signed_in.headers["location"] == "/staff"


async def test_wrong_password_gets_the_same_answer_as_an_unknown_email(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)
    unknown = "nobody.here@blaby.gov.example"

    wrong = await enter_password(client, user.email, "not-the-password-at-all")
    stranger = await enter_password(client, unknown, "not-the-password-at-all")

    assert wrong.status_code == stranger.status_code == 422
    assert error_summary(wrong) == error_summary(stranger)
    assert page_text(wrong, user.email) == page_text(stranger, unknown)
    assert mail_to(mail_sink, user.email) == [] and "staff_sign_in" not in wrong.cookies
    assert user_row(settings, user.id).failed_sign_ins == 1
    entries = audit(settings)
    assert [(e.action, e.detail) for e in entries if e.actor.endswith(f"staff #{user.id})")] == [
        ("staff_sign_in_refused", "wrong password (failure 1 of 10)")
    ]
    assert any(e.actor == "unknown staff email" and e.detail == "unknown email address" for e in entries)
    assert all(unknown not in f"{e.actor} {e.detail}" for e in entries)


async def test_sign_in_form_with_missing_fields_says_what_to_enter(client: httpx.AsyncClient) -> None:
    form = await client.get("/staff/sign-in")

    answer = await client.post("/staff/sign-in", data={"csrf": csrf_of(form), "email": "not an email"})

    assert answer.status_code == 422
    summary = error_summary(answer)
    assert "Enter an email address in the correct format" in summary and "Enter your password" in summary
    assert 'href="#email"' in answer.text and 'href="#password"' in answer.text


async def test_wrong_codes_leave_fewer_tries_then_end_the_sign_in(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)
    await enter_password(client, user.email)
    right = latest_code(mail_sink, user.email)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    sign_in_cookie = client.cookies["staff_sign_in"]

    first = await enter_code(client, wrong)
    assert first.status_code == 422 and "You have 2 tries left" in error_summary(first)
    not_a_code = await enter_code(client, "12ab")
    assert not_a_code.status_code == 422 and "Enter the 6-digit security code" in error_summary(not_a_code)
    second = await enter_code(client, wrong)
    assert "You have 1 try left" in error_summary(second)
    third = await enter_code(client, wrong)

    assert third.status_code == 400 and "You need to sign in again" in third.text
    assert "wrong security code too many times" in third.text
    # The right code is no use now, even with the old cookie back.
    async with browser_with_cookie(app, "staff_sign_in", sign_in_cookie) as same:
        page = await same.get("/staff/sign-in/code")
        late = await same.post("/staff/sign-in/code", data={"csrf": "x", "code": right})
    assert page.status_code == late.status_code == 400 and "You need to sign in again" in late.text
    assert "staff_session" not in late.cookies
    assert user_row(settings, user.id).failed_sign_ins == 3


async def test_ten_failures_lock_the_account_with_the_same_answer_as_an_unknown_email(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, clock: Clock
) -> None:
    user = add_user(settings)
    for _ in range(10):
        refused = await enter_password(client, user.email, "wrong-password-guess")
        assert refused.status_code == 422
    assert user_row(settings, user.id).locked_until == START + dt.timedelta(minutes=15)

    locked = await enter_password(client, user.email)
    stranger = await enter_password(client, "nobody.here@blaby.gov.example")

    assert locked.status_code == stranger.status_code == 422
    assert error_summary(locked) == error_summary(stranger)
    assert mail_to(mail_sink, user.email) == []
    assert ("staff_account_locked", f"staff #{user.id})") in [
        (e.action, e.actor[-len(f"staff #{user.id})") :]) for e in audit(settings)
    ]
    assert [e.detail for e in audit(settings) if e.actor.endswith(f"#{user.id})")][-1] == "locked"

    clock.move(minutes=15)
    await sign_in(client, mail_sink, user.email)
    assert user_row(settings, user.id).locked_until is None


async def test_a_code_expires_after_15_minutes_and_a_new_code_replaces_it(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, clock: Clock
) -> None:
    user = add_user(settings)
    await enter_password(client, user.email)
    first = latest_code(mail_sink, user.email)

    clock.move(minutes=15)
    expired = await enter_code(client, first)
    assert expired.status_code == 422 and "The security code has expired" in error_summary(expired)
    assert user_row(settings, user.id).failed_sign_ins == 0  # an expired code is not a guess

    page = await client.get("/staff/sign-in/new-code")
    sent = await client.post("/staff/sign-in/new-code", data={"csrf": csrf_of(page)})
    assert sent.status_code == 303 and sent.headers["location"] == "/staff/sign-in/code?sent=new"
    assert len(mail_to(mail_sink, user.email)) == 2
    second = latest_code(mail_sink, user.email)
    if second != first:
        refused = await enter_code(client, first)
        assert refused.status_code == 422 and "not right" in error_summary(refused)
    signed_in = await enter_code(client, second)
    assert signed_in.status_code == 303 and "staff_session" in client.cookies


async def test_at_most_three_codes_a_sign_in(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)
    await enter_password(client, user.email)
    for _ in range(2):
        page = await client.get("/staff/sign-in/new-code")
        assert (await client.post("/staff/sign-in/new-code", data={"csrf": csrf_of(page)})).status_code == 303

    page = await client.get("/staff/sign-in/new-code")
    assert (
        "You cannot have more codes for this sign-in" in page.text
        and 'action="/staff/sign-in/new-code"' not in page.text
    )
    code_page = await client.get("/staff/sign-in/code")
    refused = await client.post("/staff/sign-in/new-code", data={"csrf": csrf_of(code_page)})

    assert refused.status_code == 422 and "You cannot have more codes" in error_summary(refused)
    assert len(mail_to(mail_sink, user.email)) == 3


async def test_a_development_user_cannot_sign_in_outside_development(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    seed_development_staff(settings.model_copy(update={"environment": "development"}))
    email = "dev.admin@community-trigger.invalid"

    refused = await enter_password(client, email, DEVELOPMENT_PASSWORD)

    assert refused.status_code == 422 and mail_to(mail_sink, email) == []


async def test_seed_in_development_gives_every_user_the_printed_password(
    tmp_path: Path, mail_sink: MailSink, clock: Clock
) -> None:
    development = settings_for(tmp_path, "development", smtp_host=mail_sink.host, smtp_port=mail_sink.port)

    seeded = seed_development_staff(development)

    roles = {row.role for row in seeded}
    assert roles == {"spoc", "manager", "county_team", "admin"}
    spocs = {row.localities for row in seeded if row.role == "spoc"}
    assert {("blaby",), ("derby",), ("tunbridge-wells",)} <= spocs
    manager = next(row for row in seeded if row.role == "manager")
    assert "blaby" in manager.localities and "derby" not in manager.localities
    assert manager.where == "LLR (10 localities)"
    admin = next(row for row in seeded if row.role == "admin")
    async with browser(staff_app(development, clock)) as client:
        await sign_in(client, mail_sink, admin.email, DEVELOPMENT_PASSWORD)
        assert (await client.get("/staff/users")).status_code == 200
    # Seeding again keeps the users, and production would refuse to start while they exist.
    assert len(seed_development_staff(development)) == len(seeded)
    assert development_access_exists(development.database_url)


async def test_a_development_user_with_a_password_only_still_counts_as_development_access(
    tmp_path: Path,
) -> None:
    development = settings_for(tmp_path, "development")
    seed_development_staff(development)
    with session_factory(development.database_url).begin() as session:
        from db.models import StaffUser

        for user in session.query(StaffUser):
            user.api_key_hash = None

    assert development_access_exists(development.database_url)


# ---- the session ------------------------------------------------------------------------------


async def test_idle_for_30_minutes_signs_out_and_the_warning_page_does_not_extend(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, clock: Clock
) -> None:
    user = add_user(settings)
    await sign_in(client, mail_sink, user.email)
    # Every signed-in page carries the banner the script shows 5 minutes before the end (here 25 minutes on).
    page = await client.get("/staff/users")
    assert 'data-session-warning-in="1500" hidden' in page.text
    assert 'src="/static/staff/session-timeout.js"' in page.text
    assert (await client.get("/static/staff/session-timeout.js")).status_code == 200

    clock.move(minutes=26)
    warning = await client.get("/staff/session-timeout-warning?next=/staff/users")
    assert warning.status_code == 200 and "You’ll be signed out soon" in warning.text
    assert "10:30am" in warning.text and "(in 4 minutes)" in warning.text
    assert "data-session-warning-in" not in warning.text
    clock.move(minutes=4)
    ended = await client.get("/staff/session-timeout-warning")

    assert ended.status_code == 303
    assert ended.headers["location"] == "/staff/signed-out?reason=idle&next=/staff/session-timeout-warning"
    signed_out = await client.get(ended.headers["location"])
    assert "not used the staff pages for 30 minutes" in signed_out.text
    assert "staff_session" not in client.cookies
    assert ("staff_session_ended", "idle") in [(e.action, e.detail) for e in audit(settings)]


async def test_stay_signed_in_extends_the_session_but_never_past_12_hours(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, clock: Clock
) -> None:
    user = add_user(settings)
    await sign_in(client, mail_sink, user.email)

    for _ in range(28):  # 28 x 25 minutes: 11 h 40 min, each time within the idle limit
        clock.move(minutes=25)
        csrf = await session_csrf(client)
        stayed = await client.post(
            "/staff/session-timeout-warning", data={"csrf": csrf, "next": "/staff/users"}
        )
        assert stayed.status_code == 303 and stayed.headers["location"] == "/staff/users"
    clock.move(minutes=20)
    ended = await client.get("/staff/session-timeout-warning")

    assert ended.headers["location"].startswith("/staff/signed-out?reason=absolute")
    signed_out = await client.get(ended.headers["location"])
    assert "signed in for 12 hours" in signed_out.text


async def test_sign_out_ends_the_session_and_needs_the_csrf_token(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)
    await sign_in(client, mail_sink, user.email)
    cookie = client.cookies["staff_session"]

    forged = await client.post("/staff/sign-out", data={"csrf": "forged"})
    assert forged.status_code == 400 and await still_signed_in(client)

    answer = await client.post("/staff/sign-out", data={"csrf": await session_csrf(client)})

    assert answer.status_code == 303 and answer.headers["location"] == "/staff/signed-out"
    assert "You have signed out" in (await client.get("/staff/signed-out")).text
    async with browser_with_cookie(app, "staff_session", cookie) as same:
        assert not await still_signed_in(same)
    with session_factory(settings.database_url)() as session:
        assert session.query(StaffSession).one().ended_reason == "signed_out"
    assert "staff_signed_out" in [e.action for e in audit(settings)]


async def test_forms_without_their_csrf_token_are_refused_and_nothing_happens(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)

    missing = await client.post("/staff/sign-in", data={"email": user.email, "password": PASSWORD})
    await client.get("/staff/sign-in")  # this browser's form cookie
    async with browser(app) as other:
        other_form = await other.get("/staff/sign-in")
        foreign = await client.post(
            "/staff/sign-in", data={"csrf": csrf_of(other_form), "email": user.email, "password": PASSWORD}
        )
    reset = await client.post("/staff/password-reset", data={"email": user.email})

    assert missing.status_code == foreign.status_code == reset.status_code == 400
    assert "This form has expired" in missing.text
    assert mail_to(mail_sink, user.email) == []


async def test_cookies_are_http_only_same_site_lax_and_secure_outside_development(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, tmp_path: Path, clock: Clock
) -> None:
    user = add_user(settings)
    answer = await enter_password(client, user.email)
    signed_in = await enter_code(client, latest_code(mail_sink, user.email))

    for response, name in ((answer, "staff_sign_in"), (signed_in, "staff_session")):
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}="))
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=lax", "secure", "path=/staff"} <= flags, cookie

    development = settings_for(tmp_path, "development", smtp_host=mail_sink.host, smtp_port=mail_sink.port)
    local = add_user(development)
    app = staff_app(development, clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as plain:
        answer = await enter_password(plain, local.email)
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("staff_sign_in="))
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower()


# ---- invitations and password resets -------------------------------------------------------------


async def test_password_reset_sets_a_new_password_and_ends_other_sessions(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings)
    await sign_in(client, mail_sink, user.email)
    async with browser(app) as other:
        form = await other.get("/staff/password-reset")
        asked = await other.post("/staff/password-reset", data={"csrf": csrf_of(form), "email": user.email})
        stranger = await other.post(
            "/staff/password-reset", data={"csrf": csrf_of(form), "email": "nobody.here@blaby.gov.example"}
        )
        assert asked.status_code == stranger.status_code == 200
        assert page_text(asked, user.email) == page_text(stranger, "nobody.here@blaby.gov.example")
        link = latest_link(mail_sink, user.email)
        opened = await other.get(link.removeprefix("http://testserver"))
        assert opened.status_code == 303 and opened.headers["location"] == "/staff/new-password"
        form = await other.get("/staff/new-password")
        weak = await other.post(
            "/staff/new-password",
            data={"csrf": csrf_of(form), "password": "password1234", "password_again": "password1234"},
        )
        assert weak.status_code == 422 and "too easy to guess" in error_summary(weak)
        assert await still_signed_in(client)  # nothing was written
        new = "quiet-harbour-seventeen"
        done = await other.post(
            "/staff/new-password", data={"csrf": csrf_of(form), "password": new, "password_again": new}
        )
        assert done.status_code == 303 and done.headers["location"] == "/staff/sign-in?done=password-changed"
        assert (await other.get(link.removeprefix("http://testserver"))).status_code == 404  # used once

        assert not await still_signed_in(client)
        refused = await enter_password(other, user.email, PASSWORD)
        assert refused.status_code == 422
        await sign_in(other, mail_sink, user.email, new)
    details = " ".join(f"{e.detail}" for e in audit(settings))
    assert new not in details and link.rsplit("/", 1)[-1] not in details


async def test_a_reset_link_expires_after_an_hour(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, clock: Clock
) -> None:
    user = add_user(settings)
    form = await client.get("/staff/password-reset")
    await client.post("/staff/password-reset", data={"csrf": csrf_of(form), "email": user.email})
    link = latest_link(mail_sink, user.email).removeprefix("http://testserver")

    clock.move(hours=1)
    refused = await client.get(link)

    assert refused.status_code == 404 and "This link does not work" in refused.text


async def test_an_invitation_link_works_once_and_leaves_the_address_bar(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings, password=False)
    admin = add_user(settings, role="admin", localities=())
    async with browser(staff_app(settings, Clock(START))) as admin_browser:
        await sign_in(admin_browser, mail_sink, admin.email)
        page = await admin_browser.get(f"/staff/users/{user.id}")
        sent = await admin_browser.post(f"/staff/users/{user.id}/invitation", data={"csrf": csrf_of(page)})
        assert sent.headers["location"] == f"/staff/users/{user.id}?done=invitation"
    link = latest_link(mail_sink, user.email).removeprefix("http://testserver")
    assert (await enter_password(client, user.email, PASSWORD)).status_code == 422  # no password yet

    opened = await client.get(link)
    assert opened.status_code == 303 and opened.headers["location"] == "/staff/invitation"
    form = await client.get("/staff/invitation")
    assert "Create your password" in form.text and "Blaby District Council" in form.text
    short = await client.post(
        "/staff/invitation", data={"csrf": csrf_of(form), "password": "short", "password_again": "short"}
    )
    assert short.status_code == 422 and "at least 12 characters" in error_summary(short)
    assert user_row(settings, user.id).password_hash is None
    mismatch = await client.post(
        "/staff/invitation",
        data={"csrf": csrf_of(form), "password": "amber-fox-window", "password_again": "amber-fox-windoe"},
    )
    assert mismatch.status_code == 422 and "Enter the same password twice" in error_summary(mismatch)
    done = await client.post(
        "/staff/invitation",
        data={"csrf": csrf_of(form), "password": "amber-fox-window", "password_again": "amber-fox-window"},
    )

    assert done.status_code == 303 and done.headers["location"] == "/staff/sign-in?done=password-set"
    assert "Your password has been set" in (await client.get(done.headers["location"])).text
    assert (await client.get(link)).status_code == 404
    await sign_in(client, mail_sink, user.email, "amber-fox-window")


async def test_an_invitation_expires_after_7_days(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, clock: Clock
) -> None:
    admin = add_user(settings, role="admin", localities=())
    await sign_in(client, mail_sink, admin.email)
    page = await client.get("/staff/users/invite")
    email = "new.starter@blaby.gov.example"
    await client.post(
        "/staff/users/invite",
        data={
            "csrf": csrf_of(page),
            "name": "New Starter",
            "email": email,
            "role": "spoc",
            "localities": "blaby",
        },
    )
    link = latest_link(mail_sink, email).removeprefix("http://testserver")

    clock.move(days=7)
    async with browser(staff_app(settings, clock)) as invited:
        refused = await invited.get(link)

    assert refused.status_code == 404 and "Invitations work once, for 7 days" in refused.text
    assert ("staff_invitation_link_refused", "expired") in [(e.action, e.detail) for e in audit(settings)]


async def test_a_user_made_on_the_command_line_sets_a_first_password_by_reset(
    client: httpx.AsyncClient, settings: Settings, mail_sink: MailSink
) -> None:
    user = add_user(settings, role="admin", localities=(), password=False)
    form = await client.get("/staff/password-reset")
    await client.post("/staff/password-reset", data={"csrf": csrf_of(form), "email": user.email})
    await client.get(latest_link(mail_sink, user.email).removeprefix("http://testserver"))
    form = await client.get("/staff/new-password")
    new = "granite-meadow-lantern"

    await client.post(
        "/staff/new-password", data={"csrf": csrf_of(form), "password": new, "password_again": new}
    )

    await sign_in(client, mail_sink, user.email, new)
    assert (await client.get("/staff/users")).status_code == 200


def test_link_tokens_stay_out_of_access_logs() -> None:
    redact_staff_link_tokens_in_access_logs()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("203.0.113.7:5000", "GET", "/staff/invitation/" + "a" * 43 + "?x=1", "1.1", 303)

    for log_filter in logging.getLogger("uvicorn.access").filters:
        log_filter.filter(record)  # type: ignore[union-attr]

    assert "a" * 43 not in record.getMessage() and "/staff/invitation/[redacted]" in record.getMessage()


def test_password_rules() -> None:
    email = "sam.jones@blaby.gov.example"

    assert password_problem("", email) == "Enter a password"
    assert "at least 12" in str(password_problem("elevenchars", email))
    assert "not be your email" in str(password_problem(email.upper(), email))
    assert "not be your email" in str(password_problem("sam.jones@blaby.gov.example", email))
    assert "too easy" in str(password_problem("Password1234", email))
    assert "too easy" in str(password_problem("aaaaaaaaaaaaaaa", email))
    assert "too easy" in str(password_problem(DEVELOPMENT_PASSWORD, email))
    assert password_problem("velvet-tractor-moonlight", email) is None
