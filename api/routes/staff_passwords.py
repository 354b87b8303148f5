"""Setting a staff password from an emailed link: "forgotten your password?" (`/staff/password-reset`, the
same answer whether or not the address has an account), the reset link (`/staff/password-reset/<token>`)
and the admin's invitation (`/staff/invitation/<token>`).

Each link is swapped at once for a form cookie and a redirect to its form (`/staff/new-password`,
`/staff/invitation`), so the token leaves the address bar; the form sets the password, which ends the link,
the user's sessions and any sign-in waiting for its code (api.staff.links). Then the user signs in as
usual, with a security code. GOV.UK pages that work without JavaScript; every form carries a CSRF token.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.deps import NowDep, PoliciesDep, SessionFactoryDep, SettingsDep
from api.link_pages import FormError, csrf_matches, errors_by_field, redirect, sign
from api.staff.account_pages import (
    field,
    form_cookie,
    form_csrf,
    form_csrf_matches,
    keep_form_cookie,
    looks_like_email,
    page,
    raw_field,
    read_fields,
)
from api.staff.links import (
    LINK_COOKIE,
    LinkForm,
    LinkPurpose,
    ResetToSend,
    ask_for_password_reset,
    link_form,
    link_url,
    open_link,
    set_password,
)
from api.staff.passwords import password_problem
from api.staff.sessions import forget_cookie, set_staff_cookie
from api.staff.staff_mail import send_staff_email
from core.config import Settings
from domain.policy import LocalityPolicy
from domain.staff import ROLE_NAMES

router = APIRouter(prefix="/staff", include_in_schema=False)

FORMS = {LinkPurpose.INVITATION: "/staff/invitation", LinkPurpose.PASSWORD_RESET: "/staff/new-password"}
DONE = {LinkPurpose.INVITATION: "password-set", LinkPurpose.PASSWORD_RESET: "password-changed"}


# ---- asking for a reset ------------------------------------------------------------------------


def _reset_page(
    request: Request,
    settings: Settings,
    *,
    status_code: int = 200,
    email: str = "",
    errors: list[FormError] | None = None,
) -> Response:
    cookie, new = form_cookie(request)
    response = page(
        "password_reset.html",
        status_code,
        csrf=form_csrf(settings, cookie),
        values={"email": email},
        errors=errors or [],
        error_for=errors_by_field(errors or []),
        has_errors=bool(errors),
    )
    return keep_form_cookie(response, cookie, new, settings)


@router.get("/password-reset")
async def password_reset_form(request: Request, settings: SettingsDep) -> Response:
    return _reset_page(request, settings)


@router.post("/password-reset")
async def ask_for_reset(
    request: Request,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    now: NowDep,
    background: BackgroundTasks,
) -> Response:
    """The same page whether or not the address has an account; the email goes after the answer, so that
    how long the answer takes does not tell either."""
    fields = await read_fields(request)
    if fields is None or not form_csrf_matches(request, settings, field(fields, "csrf")):
        return page("form_expired.html", 400, retry_url="/staff/password-reset")
    email = field(fields, "email")
    if not email or not looks_like_email(email):
        message = (
            "Enter your email address"
            if not email
            else "Enter an email address in the correct format, like name@example.com"
        )
        return _reset_page(
            request, settings, status_code=422, email=email, errors=[FormError("email", message)]
        )
    reset = await run_in_threadpool(ask_for_password_reset, sessions, settings, email=email, now=now)
    if isinstance(reset, ResetToSend):
        background.add_task(_send_reset, settings, reset)
    return page("password_reset_sent.html", email=email)


async def _send_reset(settings: Settings, reset: ResetToSend) -> None:
    await send_staff_email(
        settings,
        recipient=reset.recipient,
        template="staff-password-reset.j2",
        context={
            "recipient": {"name": reset.name},
            "link": link_url(settings, LinkPurpose.PASSWORD_RESET, reset.token),
        },
    )


# ---- the links and their forms ------------------------------------------------------------------


async def _open(
    token: str, purpose: LinkPurpose, settings: Settings, sessions: sessionmaker[Session], now: dt.datetime
) -> Response:
    form_token = await run_in_threadpool(open_link, sessions, settings, token=token, purpose=purpose, now=now)
    if form_token is None:
        # One page whatever the reason: nothing tells a stranger whether a token exists.
        return page("link_refused.html", 404, purpose=purpose.value)
    response = redirect(FORMS[purpose])
    set_staff_cookie(response, LINK_COOKIE, form_token, settings)
    return response


@router.get("/password-reset/{token}")
async def open_reset_link(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    return await _open(token, LinkPurpose.PASSWORD_RESET, settings, sessions, now)


@router.get("/invitation/{token}")
async def open_invitation(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    return await _open(token, LinkPurpose.INVITATION, settings, sessions, now)


def _password_page(
    purpose: LinkPurpose,
    form: LinkForm,
    settings: Settings,
    policies: dict[str, LocalityPolicy],
    *,
    status_code: int = 200,
    errors: list[FormError] | None = None,
) -> Response:
    return page(
        "new_password.html",
        status_code,
        purpose=purpose.value,
        action=FORMS[purpose],
        csrf=sign(settings.secret_key, f"staff-link:{form.form_token_hash}"),
        name=form.name,
        role=ROLE_NAMES.get(form.role, form.role),
        localities=sorted(policies[key].council if key in policies else key for key in form.localities),
        errors=errors or [],
        error_for=errors_by_field(errors or []),
        has_errors=bool(errors),
    )


async def _form(
    request: Request,
    purpose: LinkPurpose,
    settings: Settings,
    sessions: sessionmaker[Session],
    now: dt.datetime,
) -> LinkForm | None:
    return await run_in_threadpool(
        link_form, sessions, settings, form_token=request.cookies.get(LINK_COOKIE), purpose=purpose, now=now
    )


async def _show_form(
    request: Request,
    purpose: LinkPurpose,
    settings: Settings,
    sessions: sessionmaker[Session],
    policies: dict[str, LocalityPolicy],
    now: dt.datetime,
) -> Response:
    form = await _form(request, purpose, settings, sessions, now)
    if form is None:
        return page("link_refused.html", 404, purpose=purpose.value)
    return _password_page(purpose, form, settings, policies)


async def _set(
    request: Request,
    purpose: LinkPurpose,
    settings: Settings,
    sessions: sessionmaker[Session],
    policies: dict[str, LocalityPolicy],
    now: dt.datetime,
) -> Response:
    form = await _form(request, purpose, settings, sessions, now)
    if form is None:
        return page("link_refused.html", 404, purpose=purpose.value)
    fields = await read_fields(request)
    expected = sign(settings.secret_key, f"staff-link:{form.form_token_hash}")
    if fields is None or not csrf_matches(expected, field(fields, "csrf") or None):
        return page("form_expired.html", 400, retry_url=FORMS[purpose])
    password, again = raw_field(fields, "password"), raw_field(fields, "password_again")
    errors = []
    problem = password_problem(password, form.email)
    if problem:
        errors.append(FormError("password", problem))
    elif password != again:
        errors.append(FormError("password_again", "Enter the same password twice"))
    if errors:
        return _password_page(purpose, form, settings, policies, status_code=422, errors=errors)
    done = await run_in_threadpool(
        set_password,
        sessions,
        settings,
        form_token=request.cookies.get(LINK_COOKIE),
        purpose=purpose,
        password=password,
        now=now,
    )
    if not done:
        return page("link_refused.html", 404, purpose=purpose.value)
    response = redirect(f"/staff/sign-in?done={DONE[purpose]}")
    forget_cookie(response, LINK_COOKIE, settings)
    return response


@router.get("/new-password")
async def new_password_form(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> Response:
    return await _show_form(request, LinkPurpose.PASSWORD_RESET, settings, sessions, policies, now)


@router.post("/new-password")
async def set_new_password(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> Response:
    return await _set(request, LinkPurpose.PASSWORD_RESET, settings, sessions, policies, now)


@router.get("/invitation")
async def invitation_form(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> Response:
    return await _show_form(request, LinkPurpose.INVITATION, settings, sessions, policies, now)


@router.post("/invitation")
async def accept_invitation(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> Response:
    return await _set(request, LinkPurpose.INVITATION, settings, sessions, policies, now)
