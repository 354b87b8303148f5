"""Signing in to the staff pages and out again: `/staff/sign-in` (email and password), `/staff/sign-in/code`
(the six-digit security code emailed then, with a page to send a new one), `/staff/sign-out`, the "you'll be
signed out soon" page (`/staff/session-timeout-warning`, which does not extend the session; its "stay signed
in" button does) and the "you have been signed out" page.

GOV.UK pages that work without JavaScript. Every form carries a CSRF token: bound to the session once
signed in, to the sign-in waiting for its code, and before that to the browser's form cookie. The logic and
its audit are in api.staff.sign_in, api.staff.codes and api.staff.sessions; the code goes by email at once
(api.staff.staff_mail), so in development it shows at /dev/mail.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.audit import record_audit
from api.deps import NowDep, SessionFactoryDep, SettingsDep
from api.link_pages import FormError, csrf_matches, errors_by_field, redirect, sign
from api.staff.account_pages import clock as clock_of
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
from api.staff.codes import (
    CODE_DIGITS,
    SIGN_IN_COOKIE,
    CodeProblem,
    CodeRefused,
    CodeToSend,
    NoMoreCodes,
    SignInEnd,
    SignInOver,
    WaitingSignIn,
    check_code,
    send_new_code,
    waiting_sign_in,
)
from api.staff.pages import staff_page
from api.staff.sessions import (
    HOME_PATH,
    SESSION_COOKIE,
    SessionEnd,
    SignedInDep,
    SignedInUntouchedDep,
    check_csrf,
    check_session,
    end_session,
    forget_cookie,
    safe_next,
    set_staff_cookie,
)
from api.staff.sign_in import SignInRefused, sign_in_with_password
from api.staff.staff_mail import send_staff_email
from core.config import Settings
from domain.links import hash_token

router = APIRouter(prefix="/staff", include_in_schema=False)

NOTICES = {
    "password-set": "Your password has been set. Sign in with it now.",
    "password-changed": "Your password has been changed, and you have been signed out everywhere. Sign in "
    "with your new password.",
}
REFUSED = (
    "The email address or password is not right, or the account cannot be used just now. After 10 failed "
    "tries an account is locked for 15 minutes."
)
SIGN_IN_AGAIN = {
    SignInEnd.TOO_MANY_TRIES: "You entered a wrong security code too many times.",
    SignInEnd.EXPIRED: "You took too long to enter a security code.",
    SignInEnd.REFUSED: "This account cannot sign in just now.",
}
SIGNED_OUT = {
    SessionEnd.IDLE.value: (
        "You have been signed out because you had not used the staff pages for 30 minutes."
    ),
    SessionEnd.ABSOLUTE.value: "You have been signed out because you had been signed in for 12 hours.",
}


# ---- email and password ------------------------------------------------------------------------


def _sign_in_page(
    request: Request,
    settings: Settings,
    *,
    next_path: str | None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: list[FormError] | None = None,
    notice: str | None = None,
) -> Response:
    cookie, new = form_cookie(request)
    response = page(
        "sign_in.html",
        status_code,
        csrf=form_csrf(settings, cookie),
        next_path=next_path or "",
        values=values or {},
        errors=errors or [],
        error_for=errors_by_field(errors or []),
        has_errors=bool(errors),
        notice=notice,
    )
    return keep_form_cookie(response, cookie, new, settings)


@router.get("/sign-in")
async def sign_in_form(
    request: Request,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    now: NowDep,
    next: str | None = None,
    done: str | None = None,
) -> Response:
    next_path = safe_next(next)
    signed_in = await run_in_threadpool(
        check_session, sessions, request.cookies.get(SESSION_COOKIE), now, touch=False
    )
    if signed_in is not None and done is None:
        return redirect(next_path or HOME_PATH)
    return _sign_in_page(request, settings, next_path=next_path, notice=NOTICES.get(done or ""))


@router.post("/sign-in")
async def sign_in(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    fields = await read_fields(request)
    if fields is None or not form_csrf_matches(request, settings, field(fields, "csrf")):
        return _form_expired("/staff/sign-in")
    email, password = field(fields, "email"), raw_field(fields, "password")
    next_path = safe_next(field(fields, "next"))
    errors = []
    if not email:
        errors.append(FormError("email", "Enter your email address"))
    elif not looks_like_email(email):
        errors.append(
            FormError("email", "Enter an email address in the correct format, like name@example.com")
        )
    if not password:
        errors.append(FormError("password", "Enter your password"))
    if not errors:
        result = await run_in_threadpool(
            sign_in_with_password,
            sessions,
            settings,
            email=email,
            password=password,
            next_path=next_path,
            now=now,
        )
        if isinstance(result, CodeToSend):
            await _send_code(settings, result)
            response = redirect("/staff/sign-in/code")
            assert result.token is not None
            set_staff_cookie(response, SIGN_IN_COOKIE, result.token, settings)
            return response
        assert isinstance(result, SignInRefused)
        errors.append(FormError("password", REFUSED))
    return _sign_in_page(
        request, settings, next_path=next_path, status_code=422, values={"email": email}, errors=errors
    )


async def _send_code(settings: Settings, code: CodeToSend) -> None:
    await send_staff_email(
        settings,
        recipient=code.recipient,
        template="staff-security-code.j2",
        context={
            "recipient": {"name": code.name},
            "code": code.code,
            "expires_at": clock_of(code.expires_at),
        },
    )


def _form_expired(retry_url: str, status_code: int = 400) -> Response:
    return page("form_expired.html", status_code, retry_url=retry_url)


# ---- the security code -------------------------------------------------------------------------


def _code_csrf(settings: Settings, token_hash: str) -> str:
    return sign(settings.secret_key, f"staff-sign-in:{token_hash}")


def _sign_in_over(over: SignInOver, settings: Settings) -> Response:
    """Back to the password: the sign-in page, or a page saying why when the sign-in has ended."""
    response = (
        page("sign_in_again.html", 400, reason=SIGN_IN_AGAIN.get(over.reason))
        if over.reason in SIGN_IN_AGAIN
        else redirect("/staff/sign-in")
    )
    forget_cookie(response, SIGN_IN_COOKIE, settings)
    return response


def _code_page(
    settings: Settings,
    waiting: WaitingSignIn,
    *,
    status_code: int = 200,
    errors: list[FormError] | None = None,
    sent_again: bool = False,
) -> Response:
    return page(
        "code.html",
        status_code,
        csrf=_code_csrf(settings, waiting.token_hash),
        expires_at=clock_of(waiting.code_expires_at),
        waiting=waiting,
        errors=errors or [],
        error_for=errors_by_field(errors or []),
        has_errors=bool(errors),
        sent_again=sent_again,
    )


async def _waiting(
    request: Request, settings: Settings, sessions: sessionmaker[Session], now: dt.datetime
) -> WaitingSignIn | Response:
    waiting = await run_in_threadpool(
        waiting_sign_in, sessions, settings, request.cookies.get(SIGN_IN_COOKIE), now
    )
    return _sign_in_over(waiting, settings) if isinstance(waiting, SignInOver) else waiting


@router.get("/sign-in/code")
async def code_form(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep, sent: str | None = None
) -> Response:
    waiting = await _waiting(request, settings, sessions, now)
    if isinstance(waiting, Response):
        return waiting
    return _code_page(settings, waiting, sent_again=sent == "new")


@router.post("/sign-in/code")
async def enter_code(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    waiting = await _waiting(request, settings, sessions, now)
    if isinstance(waiting, Response):
        return waiting
    fields = await read_fields(request)
    if fields is None or not csrf_matches(
        _code_csrf(settings, waiting.token_hash), field(fields, "csrf") or None
    ):
        return _form_expired("/staff/sign-in/code")
    # People copy codes with spaces or dashes in; only the digits count.
    code = "".join(character for character in field(fields, "code") if character not in " -")
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        error = FormError("code", f"Enter the {CODE_DIGITS}-digit security code from the email")
        return _code_page(settings, waiting, status_code=422, errors=[error])
    result = await run_in_threadpool(
        check_code,
        sessions,
        settings,
        token=request.cookies.get(SIGN_IN_COOKIE),
        code=code,
        now=now,
        earlier_session=request.cookies.get(SESSION_COOKIE),
    )
    if isinstance(result, SignInOver):
        return _sign_in_over(result, settings)
    if isinstance(result, CodeRefused):
        if result.problem == CodeProblem.EXPIRED:
            message = "The security code has expired: send a new code"
        else:
            tries = result.waiting.tries_left
            message = (
                f"The security code is not right. You have {tries} {'try' if tries == 1 else 'tries'} left"
            )
        return _code_page(settings, result.waiting, status_code=422, errors=[FormError("code", message)])
    response = redirect(safe_next(result.next_path) or HOME_PATH)
    set_staff_cookie(response, SESSION_COOKIE, result.session_token, settings)
    forget_cookie(response, SIGN_IN_COOKIE, settings)
    return response


@router.get("/sign-in/new-code")
async def new_code_form(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    waiting = await _waiting(request, settings, sessions, now)
    if isinstance(waiting, Response):
        return waiting
    return page("new_code.html", csrf=_code_csrf(settings, waiting.token_hash), waiting=waiting, errors=[])


@router.post("/sign-in/new-code")
async def ask_for_new_code(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    token = request.cookies.get(SIGN_IN_COOKIE)
    fields = await read_fields(request)
    expected = _code_csrf(settings, hash_token(token)) if token else None
    if token and (
        fields is None or expected is None or not csrf_matches(expected, field(fields, "csrf") or None)
    ):
        return _form_expired("/staff/sign-in/new-code")
    result = await run_in_threadpool(send_new_code, sessions, settings, token=token, now=now)
    if isinstance(result, SignInOver):
        return _sign_in_over(result, settings)
    if isinstance(result, NoMoreCodes):
        error = FormError(
            "send", "You cannot have more codes for this sign-in: sign in again to get a new one"
        )
        return page(
            "new_code.html",
            422,
            csrf=_code_csrf(settings, result.waiting.token_hash),
            waiting=result.waiting,
            errors=[error],
            has_errors=True,
        )
    await _send_code(settings, result)
    return redirect("/staff/sign-in/code?sent=new")


# ---- signing out, timing out -------------------------------------------------------------------


@router.post("/sign-out")
async def sign_out(
    request: Request, signed_in: SignedInDep, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    fields = await read_fields(request)
    if fields is None or not check_csrf(settings.secret_key, signed_in, field(fields, "csrf") or None):
        return staff_page("staff/account/form_expired_signed_in.html", signed_in, settings, status_code=400)

    def end() -> None:
        with sessions.begin() as session:
            end_session(session, request.cookies.get(SESSION_COOKIE), now, SessionEnd.SIGNED_OUT)
        record_audit(
            sessions, at=now, actor=signed_in.staff.label, action="staff_signed_out", case_reference=None
        )

    await run_in_threadpool(end)
    response = redirect("/staff/signed-out")
    forget_cookie(response, SESSION_COOKIE, settings)
    return response


@router.get("/signed-out")
async def signed_out(reason: str | None = None, next: str | None = None) -> Response:
    next_path = safe_next(next)
    sign_in_url = "/staff/sign-in" + (f"?next={next_path}" if next_path else "")
    return page("signed_out.html", why=SIGNED_OUT.get(reason or ""), sign_in_url=sign_in_url)


@router.get("/session-timeout-warning")
async def timeout_warning(
    signed_in: SignedInUntouchedDep, settings: SettingsDep, now: NowDep, next: str | None = None
) -> Response:
    """Says when the session will end; looking at it does not extend it."""
    minutes = max(int((signed_in.ends_at - now).total_seconds() // 60), 0)
    return staff_page(
        "staff/account/timeout_warning.html",
        signed_in,
        settings,
        ends_at=clock_of(signed_in.ends_at),
        minutes_left=minutes,
        next_path=safe_next(next) or "",
        no_timeout_banner=True,
    )


@router.post("/session-timeout-warning")
async def stay_signed_in(request: Request, signed_in: SignedInDep, settings: SettingsDep) -> Response:
    """The "stay signed in" button: the session was extended by this request (SignedInDep)."""
    fields = await read_fields(request)
    if fields is None or not check_csrf(settings.secret_key, signed_in, field(fields, "csrf") or None):
        return staff_page("staff/account/form_expired_signed_in.html", signed_in, settings, status_code=400)
    return redirect(safe_next(field(fields, "next")) or HOME_PATH)
