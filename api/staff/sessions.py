"""Signed-in sessions on the staff pages: opened by signing in, checked on every page, ended by signing out,
by 30 minutes idle, 12 hours after signing in, or at once when the user is deactivated or their password is
reset.

The cookie holds a random token; the database only its SHA-256 (db.staff_models.StaffSession). Every form
of a staff page carries a CSRF token bound to the session (`csrf_token`), checked by `check_csrf`.
A refused or missing session sends the browser to the sign-in page (with where it was going), never an error;
a session that has just timed out sends it to the "you have been signed out" page, which says why.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from api.audit import add_audit
from api.auth import Staff
from api.deps import NowDep, SessionFactoryDep, SettingsDep
from api.link_pages import ShowPage, csrf_matches, redirect, sign
from core.config import Settings
from db.models import StaffUser
from db.staff_models import StaffSession
from domain.links import hash_token, new_token

SESSION_COOKIE = "staff_session"
COOKIE_PATH = "/staff"
IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
# The idle-timeout warning page is offered this long before the session would end.
WARN_BEFORE_IDLE_END = dt.timedelta(minutes=5)
SIGN_IN_PATH = "/staff/sign-in"
SIGNED_OUT_PATH = "/staff/signed-out"
HOME_PATH = "/staff"


class SessionEnd(StrEnum):
    """Why a session ended (StaffSession.ended_reason)."""

    SIGNED_OUT = "signed_out"
    IDLE = "idle"
    ABSOLUTE = "absolute"
    DEACTIVATED = "deactivated"
    SIGNED_IN_AGAIN = "signed_in_again"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password


@dataclass(frozen=True)
class SignedIn:
    """A working session on the staff pages: who, and the token's hash (what the CSRF token is bound to)."""

    staff: Staff
    session_id: int
    token_hash: str
    email: str
    started_at: dt.datetime
    # When the session ends if left alone from now (the idle limit, or the absolute limit if sooner).
    ends_at: dt.datetime
    # When it was checked (this request's clock): the page's warning is timed from it.
    checked_at: dt.datetime | None = None

    @property
    def warn_in_seconds(self) -> int | None:
        """Seconds from this page until the "you'll be signed out soon" banner shows (the staff layout's
        script); None when unknown."""
        if self.checked_at is None:
            return None
        return max(int((self.ends_at - WARN_BEFORE_IDLE_END - self.checked_at).total_seconds()), 0)


def staff_actor(user: StaffUser) -> str:
    """How the audit log names a member of staff (as api.auth.Staff.label does): never their email."""
    return f"{user.name} ({user.role}, staff #{user.id})"


def audit_account(
    session: Session, user: StaffUser, now: dt.datetime, action: str, detail: str | None = None
) -> None:
    """An audit entry about a staff account, naming it by `staff_actor`, in the caller's transaction."""
    add_audit(session, at=now, actor=staff_actor(user), action=action, case_reference=None, detail=detail)


def open_session(session: Session, user: StaffUser, now: dt.datetime) -> str:
    """A new session for `user`, who has just signed in; returns the cookie's token. The caller commits."""
    token, token_hash = new_token()
    session.add(StaffSession(token_hash=token_hash, user_id=user.id, started_at=now, last_seen_at=now))
    session.flush()
    return token


def end_session(session: Session, token: str | None, now: dt.datetime, reason: SessionEnd) -> None:
    """End the session this cookie's token opened, if any. The caller commits."""
    if not token:
        return
    session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == hash_token(token), StaffSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason.value)
    )


def end_sessions_of(session: Session, user_id: int, now: dt.datetime, reason: SessionEnd) -> int:
    """End every open session of a user (deactivated, new password); returns how many. The caller commits."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason.value)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _ends_at(row: StaffSession) -> dt.datetime:
    return min(row.last_seen_at + IDLE_TIMEOUT, row.started_at + ABSOLUTE_TIMEOUT)


def session_state(
    sessions: sessionmaker[Session], token: str | None, now: dt.datetime, *, touch: bool = True
) -> SignedIn | SessionEnd | None:
    """The working session this token opened (extended by this use unless `touch` is False); why it
    ended, when it ended just now (timed out, or its user deactivated: the session is ended here, and the
    end audited); None when there is no working session."""
    if not token:
        return None
    with sessions.begin() as session:
        row = session.scalar(select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
        if row is None or row.ended_at is not None:
            return None
        user = session.get(StaffUser, row.user_id)
        reason: SessionEnd | None = None
        if user is None or not user.active:
            reason = SessionEnd.DEACTIVATED
        elif now >= row.started_at + ABSOLUTE_TIMEOUT:
            reason = SessionEnd.ABSOLUTE
        elif now >= row.last_seen_at + IDLE_TIMEOUT:
            reason = SessionEnd.IDLE
        if reason is not None:
            row.ended_at, row.ended_reason = now, reason.value
            if user is not None:
                audit_account(session, user, now, "staff_session_ended", reason.value)
            return reason
        assert user is not None
        if touch:
            row.last_seen_at = now
        return SignedIn(
            staff=Staff(id=user.id, name=user.name, role=user.role, localities=frozenset(user.locality_keys)),
            session_id=row.id,
            token_hash=row.token_hash,
            email=user.email,
            started_at=row.started_at,
            ends_at=_ends_at(row),
            checked_at=now,
        )


def check_session(
    sessions: sessionmaker[Session], token: str | None, now: dt.datetime, *, touch: bool = True
) -> SignedIn | None:
    """The working session this token opened, extended by this use (unless `touch` is False: the warning
    page and pages that only ask how long is left must not keep a session alive); None when there is none,
    and the session is ended on the way if it has just run out or its user was deactivated."""
    state = session_state(sessions, token, now, touch=touch)
    return state if isinstance(state, SignedIn) else None


def csrf_token(secret_key: str, signed_in: SignedIn) -> str:
    """The CSRF token of every form shown in this session."""
    return sign(secret_key, f"staff-session:{signed_in.token_hash}")


def check_csrf(secret_key: str, signed_in: SignedIn, given: str | None) -> bool:
    return csrf_matches(csrf_token(secret_key, signed_in), given)


# ---- cookies and where to go next ---------------------------------------------------------------


def set_staff_cookie(response: Response, name: str, token: str, settings: Settings) -> None:
    """A staff cookie (the session, a sign-in waiting for its code, a link's form): HttpOnly, SameSite=Lax,
    sent only to /staff, and Secure everywhere but development (plain http://localhost)."""
    response.set_cookie(
        name, token, httponly=True, samesite="lax", secure=not settings.is_development, path=COOKIE_PATH
    )


def forget_cookie(response: Response, name: str, settings: Settings) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=not settings.is_development
    )


# A staff page's own path: letters, digits and -_/ only (no "//", no scheme, no query), so that `next`
# can never send the browser to another site.
_STAFF_PATH = re.compile(r"^/staff(?:/[A-Za-z0-9_-]+)*/?$")


def safe_next(path: str | None) -> str | None:
    """`path` when it is a staff page to go back to; None for anything else (another site, a sign-in
    page), so that the caller falls back to the home page."""
    if not path or len(path) > 500 or not _STAFF_PATH.fullmatch(path) or "//" in path:
        return None
    if path.startswith((SIGN_IN_PATH, SIGNED_OUT_PATH, "/staff/session-timeout-warning")):
        return None
    return path


def sign_in_redirect(request: Request) -> ShowPage:
    """Send the browser to sign in, coming back to this page (a GET) afterwards."""
    target = request.url.path if request.method == "GET" else HOME_PATH
    return ShowPage(redirect(f"{SIGN_IN_PATH}?next={quote(target, safe='/')}"))


def _refused(request: Request, state: SessionEnd | None, settings: Settings) -> ShowPage:
    if state in (SessionEnd.IDLE, SessionEnd.ABSOLUTE):
        target = request.url.path if request.method == "GET" else HOME_PATH
        response = redirect(f"{SIGNED_OUT_PATH}?reason={state.value}&next={quote(target, safe='/')}")
        forget_cookie(response, SESSION_COOKIE, settings)
        return ShowPage(response)
    return sign_in_redirect(request)


async def signed_in_staff(
    request: Request, sessions: SessionFactoryDep, now: NowDep, settings: SettingsDep
) -> SignedIn:
    """The dependency of every staff page but signing in: the signed-in member of staff, or a redirect to
    the sign-in page (the route does not run)."""
    state = await run_in_threadpool(session_state, sessions, request.cookies.get(SESSION_COOKIE), now)
    if not isinstance(state, SignedIn):
        raise _refused(request, state, settings)
    return state


async def signed_in_staff_untouched(
    request: Request, sessions: SessionFactoryDep, now: NowDep, settings: SettingsDep
) -> SignedIn:
    """As `signed_in_staff`, without extending the session: for the page that warns it is about to end."""
    state = await run_in_threadpool(
        session_state, sessions, request.cookies.get(SESSION_COOKIE), now, touch=False
    )
    if not isinstance(state, SignedIn):
        raise _refused(request, state, settings)
    return state


SignedInDep = Annotated[SignedIn, Depends(signed_in_staff)]
SignedInUntouchedDep = Annotated[SignedIn, Depends(signed_in_staff_untouched)]
