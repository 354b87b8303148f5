"""The users page for admins over HTTP: only admins see it; inviting (bad input refused with nothing
written), changing role and localities, deactivating (the user's sessions and API key stop at once) and
reactivating, and an API key created on the page (shown once) that the JSON API takes until it is revoked.
Every change is audited with the admin as actor and never the key or the link."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from core.config import Settings
from db.models import StaffUser
from db.session import session_factory
from devstack.mail_sink import MailSink
from tests.staff_accounts import (
    Clock,
    User,
    add_user,
    audit,
    browser,
    browser_with_cookie,
    csrf_of,
    mail_to,
    sign_in,
    staff_app,
    user_row,
)
from tests.test_security import settings_for


@pytest.fixture
def settings(tmp_path: Path, mail_sink: MailSink) -> Settings:
    return settings_for(tmp_path, "test", smtp_host=mail_sink.host, smtp_port=mail_sink.port)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return staff_app(settings, Clock(dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)))


@pytest.fixture
def admin_user(settings: Settings) -> User:
    return add_user(settings, role="admin", localities=())


@pytest.fixture
async def admin(app: FastAPI, admin_user: User, mail_sink: MailSink) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        await sign_in(client, mail_sink, admin_user.email)
        yield client


def users_count(settings: Settings) -> int:
    with session_factory(settings.database_url)() as session:
        return int(session.scalar(select(func.count(StaffUser.id))) or 0)


async def post_on_user_page(
    client: httpx.AsyncClient, user_id: int, action: str, **data: str
) -> httpx.Response:
    page = await client.get(f"/staff/users/{user_id}")
    return await client.post(f"/staff/users/{user_id}{action}", data={"csrf": csrf_of(page), **data})


async def test_only_admins_see_the_users_page(
    app: FastAPI, settings: Settings, mail_sink: MailSink, admin: httpx.AsyncClient, admin_user: User
) -> None:
    listed = await admin.get("/staff/users")
    assert (
        listed.status_code == 200 and admin_user.name in listed.text and 'href="/staff/users"' in listed.text
    )
    spoc = add_user(settings)
    before = users_count(settings)
    async with browser(app) as client:
        assert (await client.get("/staff/users")).headers["location"] == "/staff/sign-in?next=/staff/users"
        await sign_in(client, mail_sink, spoc.email)
        forbidden = await client.get("/staff/users")
        warning = await client.get("/staff/session-timeout-warning")
        posted = await client.post(
            "/staff/users/invite",
            data={"csrf": csrf_of(warning), "name": "X", "email": "x@blaby.gov.example", "role": "admin"},
        )
        made_admin = await client.post(
            f"/staff/users/{spoc.id}", data={"csrf": csrf_of(warning), "role": "admin"}
        )

    assert forbidden.status_code == posted.status_code == made_admin.status_code == 403
    assert "Only admins manage staff users" in forbidden.text
    assert 'href="/staff/users"' not in forbidden.text  # not in a SPOC's navigation
    assert users_count(settings) == before and user_row(settings, spoc.id).role == "spoc"
    assert [e.action for e in audit(settings)].count("staff_users_refused") == 3


async def test_invite_a_user_who_gets_a_link(
    admin: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, admin_user: User
) -> None:
    page = await admin.get("/staff/users/invite")
    email = "jo.bloggs@melton.gov.example"

    answer = await admin.post(
        "/staff/users/invite",
        data={
            "csrf": csrf_of(page),
            "name": "Jo Bloggs",
            "email": email,
            "role": "county_team",
            "localities": ["blaby", "melton"],
        },
    )

    assert answer.status_code == 303
    user_id = int(re.fullmatch(r"/staff/users/(\d+)\?done=invited", answer.headers["location"]).group(1))  # type: ignore[union-attr]
    shown = await admin.get(answer.headers["location"])
    assert "The user has been invited" in shown.text and "County team" in shown.text
    user = user_row(settings, user_id)
    assert (user.role, user.password_hash, user.api_key_hash) == ("county_team", None, None)
    assert user.locality_keys == {"blaby", "melton"}
    [message] = mail_to(mail_sink, email)
    assert "invited" in message["Subject"] and "/staff/invitation/" in message.get_body().get_content()  # type: ignore[union-attr]
    entry = [e for e in audit(settings) if e.action == "staff_user_invited"][-1]
    assert entry.actor == f"{admin_user.name} (admin, staff #{admin_user.id})"
    assert entry.detail == f"staff #{user_id} as county_team for blaby,melton"


@pytest.mark.parametrize(
    ("fields", "messages"),
    [
        ({}, ["Enter the user's full name", "Enter the user's work email address", "Select the user's role"]),
        (
            {"name": "Jo", "email": "jo@x.example, b@evil.example", "role": "spoc", "localities": "blaby"},
            ["Enter one email address only"],
        ),
        ({"name": "Jo", "email": "jo@x.example", "role": "spoc"}, ["Select at least one locality"]),
        (
            {"name": "Jo", "email": "jo@x.example", "role": "root", "localities": "atlantis"},
            ["Select the user's role"],
        ),
        ({"name": "J" * 201, "email": "jo@x.example", "role": "admin"}, ["200 characters or fewer"]),
    ],
)
async def test_invite_bad_input_says_what_to_correct_and_writes_nothing(
    admin: httpx.AsyncClient,
    settings: Settings,
    mail_sink: MailSink,
    fields: dict[str, str],
    messages: list[str],
) -> None:
    before = users_count(settings)
    page = await admin.get("/staff/users/invite")

    answer = await admin.post("/staff/users/invite", data={"csrf": csrf_of(page), **fields})

    assert answer.status_code == 422 and "There is a problem" in answer.text
    for message in messages:
        assert message in html.unescape(answer.text)
    assert users_count(settings) == before


async def test_invite_an_address_that_has_an_account_is_refused(
    admin: httpx.AsyncClient, settings: Settings, admin_user: User
) -> None:
    page = await admin.get("/staff/users/invite")

    answer = await admin.post(
        "/staff/users/invite",
        data={"csrf": csrf_of(page), "name": "Twin", "email": admin_user.email.upper(), "role": "admin"},
    )

    assert answer.status_code == 422 and "exists already" in answer.text


async def test_invite_without_the_csrf_token_is_refused(admin: httpx.AsyncClient, settings: Settings) -> None:
    before = users_count(settings)

    answer = await admin.post(
        "/staff/users/invite", data={"name": "Jo", "email": "jo@x.example", "role": "admin", "csrf": "forged"}
    )

    assert answer.status_code == 400 and "This form has expired" in answer.text
    assert users_count(settings) == before


async def test_change_role_and_localities(
    admin: httpx.AsyncClient, settings: Settings, admin_user: User
) -> None:
    user = add_user(settings, localities=("blaby",))

    changed = await post_on_user_page(admin, user.id, "", role="manager", localities=["harborough", "melton"])
    bad = await post_on_user_page(admin, user.id, "", role="manager")
    demoted = await post_on_user_page(admin, admin_user.id, "", role="spoc", localities="blaby")

    assert changed.headers["location"] == f"/staff/users/{user.id}?done=changed"
    row = user_row(settings, user.id)
    assert row.role == "manager" and row.locality_keys == {"harborough", "melton"}
    assert bad.status_code == 422 and "Select at least one locality" in bad.text
    assert demoted.status_code == 422 and "cannot take away your own admin role" in demoted.text
    assert user_row(settings, admin_user.id).role == "admin"
    assert f"staff #{user.id}: spoc for blaby -> manager for harborough,melton" in [
        e.detail for e in audit(settings)
    ]


async def test_deactivating_a_user_ends_their_sessions_and_key_at_once(
    app: FastAPI, admin: httpx.AsyncClient, settings: Settings, mail_sink: MailSink, admin_user: User
) -> None:
    from domain.staff import hash_api_key

    user = add_user(settings, api_key_hash=hash_api_key("a-key-of-sams-for-the-json-api"))
    async with browser(app) as client:
        await sign_in(client, mail_sink, user.email)
        cookie = client.cookies["staff_session"]
    api_key = {"Authorization": "Bearer a-key-of-sams-for-the-json-api"}
    async with browser_with_cookie(app, "staff_session", cookie) as user_browser:
        assert (await user_browser.get("/staff/session-timeout-warning")).status_code == 200
        assert (await user_browser.get("/api/cases", headers=api_key)).status_code == 200

        deactivated = await post_on_user_page(admin, user.id, "/deactivate")
        assert deactivated.headers["location"] == f"/staff/users/{user.id}?done=deactivated"

        refused = await user_browser.get("/staff/session-timeout-warning")
        assert refused.status_code == 303 and refused.headers["location"].startswith("/staff/sign-in")
        assert (await user_browser.get("/api/cases", headers=api_key)).status_code == 401
    self_deactivation = await post_on_user_page(admin, admin_user.id, "/deactivate")
    assert self_deactivation.status_code == 409 and "cannot deactivate yourself" in self_deactivation.text
    assert user_row(settings, admin_user.id).active

    reactivated = await post_on_user_page(admin, user.id, "/reactivate")
    assert reactivated.headers["location"] == f"/staff/users/{user.id}?done=reactivated"
    async with browser(app) as client:
        await sign_in(client, mail_sink, user.email)
    actions = [e.action for e in audit(settings)]
    assert "staff_user_deactivated" in actions and "staff_user_reactivated" in actions


async def test_api_key_created_on_the_users_page_works_until_revoked(
    app: FastAPI, admin: httpx.AsyncClient, settings: Settings
) -> None:
    user = add_user(settings)
    async with browser(app) as machine:
        created = await post_on_user_page(admin, user.id, "/api-key")
        assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
        key = re.search(r'<code class="govuk-!-text-break-word" id="api-key">([^<]+)</code>', created.text)
        assert key is not None
        bearer = {"Authorization": f"Bearer {key.group(1)}"}
        assert (await machine.get("/api/cases", headers=bearer)).status_code == 200
        assert key.group(1) not in (await admin.get(f"/staff/users/{user.id}")).text  # shown once

        revoked = await post_on_user_page(admin, user.id, "/api-key/revoke")
        assert revoked.headers["location"] == f"/staff/users/{user.id}?done=revoked"
        assert (await machine.get("/api/cases", headers=bearer)).status_code == 401
    details = " ".join(str(e.detail) for e in audit(settings))
    assert key.group(1) not in details
    staff_actions = [e.action for e in audit(settings) if e.action.startswith("staff_api_key")]
    assert staff_actions == ["staff_api_key_created", "staff_api_key_revoked"]


async def test_unknown_user_is_not_found(admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/staff/users/99999")).status_code == 404
    assert (await admin.get("/staff/users/not-a-number")).status_code == 422
    assert (await admin.get(f"/staff/users/{10**30}")).status_code == 422
