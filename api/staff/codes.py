"""Signing in to the staff pages, second step: the six-digit security code emailed once the password was
right (as GOV.UK Notify does for its own staff).

The browser holding a sign-in that waits for its code has a cookie (`staff_sign_in`) with a random token;
the database keeps the token's SHA-256 and the code only as an HMAC under the service's secret key. A code
works for 15 minutes; three wrong codes end the sign-in (asking for a new code gives no new tries), and each
wrong code counts towards the account's lock-out (api.staff.lockout), so that trying codes with a stolen
password soon locks the account. At most three codes a sign-in, so the form cannot be used to flood a
mailbox. The right code ends the sign-in and opens the session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.staff.lockout import clear_failures, is_locked, may_sign_in, note_failure
from api.staff.sessions import SessionEnd, audit_account, end_session, open_session
from core.config import Settings
from db.models import StaffUser
from db.staff_models import StaffSignIn
from domain.links import hash_token, new_token

SIGN_IN_COOKIE = "staff_sign_in"
CODE_LIFETIME = dt.timedelta(minutes=15)
CODE_TRIES = 3
CODES_PER_SIGN_IN = 3
# However many new codes are asked for, a sign-in waits no longer than this for one.
SIGN_IN_LIFETIME = dt.timedelta(hours=1)
CODE_DIGITS = 6


class SignInEnd(StrEnum):
    """Why a sign-in waiting for its code ended (StaffSignIn.ended_reason)."""

    USED = "used"
    REPLACED = "replaced"
    TOO_MANY_TRIES = "too_many_tries"
    EXPIRED = "expired"
    # The account may not sign in any more: deactivated, or locked by failures elsewhere.
    REFUSED = "refused"


class CodeProblem(StrEnum):
    WRONG = "wrong"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CodeToSend:
    """A code to email. `token` is the new sign-in's cookie (None for a new code of the same sign-in)."""

    token: str | None
    code: str
    recipient: str
    name: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class WaitingSignIn:
    """A sign-in waiting for its code, as its pages show it."""

    token_hash: str
    code_expires_at: dt.datetime
    tries_left: int
    codes_left: int


@dataclass(frozen=True)
class CodeRefused:
    problem: CodeProblem
    waiting: WaitingSignIn


@dataclass(frozen=True)
class SignInOver:
    """No sign-in to go on with: start again with the password (`reason` None: there was none)."""

    reason: SignInEnd | None


@dataclass(frozen=True)
class SignedInNow:
    session_token: str
    next_path: str | None


@dataclass(frozen=True)
class NoMoreCodes:
    waiting: WaitingSignIn


def _code_hash(settings: Settings, token_hash: str, code: str) -> str:
    message = f"staff-sign-in-code:{token_hash}:{code}".encode()
    return hmac.new(settings.secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _waiting(row: StaffSignIn) -> WaitingSignIn:
    return WaitingSignIn(
        token_hash=row.token_hash,
        code_expires_at=row.code_expires_at,
        tries_left=max(CODE_TRIES - row.wrong_codes, 0),
        codes_left=max(CODES_PER_SIGN_IN - row.codes_sent, 0),
    )


def start_code_sign_in(
    session: Session, settings: Settings, user: StaffUser, *, next_path: str | None, now: dt.datetime
) -> CodeToSend:
    """A new sign-in for `user`, whose password was right, waiting for the code returned (to email). The
    caller commits."""
    token, token_hash = new_token()
    code = _new_code()
    expires_at = now + CODE_LIFETIME
    session.add(
        StaffSignIn(
            token_hash=token_hash,
            user_id=user.id,
            started_at=now,
            code_hash=_code_hash(settings, token_hash, code),
            code_expires_at=expires_at,
            codes_sent=1,
            wrong_codes=0,
            next_path=next_path,
        )
    )
    audit_account(session, user, now, "staff_security_code_sent", "password accepted; code 1")
    return CodeToSend(token=token, code=code, recipient=user.email, name=user.name, expires_at=expires_at)


def _working(
    session: Session, settings: Settings, token: str | None, now: dt.datetime
) -> tuple[StaffSignIn, StaffUser] | SignInOver:
    """The sign-in this cookie holds with its user, if it can still go on; else why not (ending it)."""
    if not token:
        return SignInOver(None)
    # Locked until the transaction ends: codes typed at once for one sign-in are checked one after another,
    # so no more than its tries are ever checked (PostgreSQL; SQLite writes one transaction at a time).
    row = session.scalar(
        select(StaffSignIn).where(StaffSignIn.token_hash == hash_token(token)).with_for_update()
    )
    if row is None:
        return SignInOver(None)
    if row.ended_at is not None:
        return SignInOver(SignInEnd(row.ended_reason) if row.ended_reason in set(SignInEnd) else None)
    user = session.get(StaffUser, row.user_id)
    assert user is not None  # a foreign key: the sign-in goes with its user
    reason: SignInEnd | None = None
    refusal = may_sign_in(user, settings, now)
    if refusal is not None:
        reason = SignInEnd.REFUSED
    elif now >= row.started_at + SIGN_IN_LIFETIME:
        reason = SignInEnd.EXPIRED
    if reason is not None:
        _end(session, row, user, now, reason, refusal or "waited too long for a code")
        return SignInOver(reason)
    return row, user


def _end(
    session: Session, row: StaffSignIn, user: StaffUser, now: dt.datetime, reason: SignInEnd, detail: str
) -> None:
    row.ended_at, row.ended_reason = now, reason.value
    audit_account(session, user, now, "staff_sign_in_ended", f"{reason.value}: {detail}")


def waiting_sign_in(
    sessions: sessionmaker[Session], settings: Settings, token: str | None, now: dt.datetime
) -> WaitingSignIn | SignInOver:
    """The sign-in this cookie holds, for its pages."""
    with sessions.begin() as session:
        working = _working(session, settings, token, now)
        return working if isinstance(working, SignInOver) else _waiting(working[0])


def check_code(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    token: str | None,
    code: str,
    now: dt.datetime,
    earlier_session: str | None,
) -> SignedInNow | CodeRefused | SignInOver:
    """Check a code typed for the sign-in this cookie holds. The right one ends the sign-in, ends the
    browser's earlier session if it had one, and opens a new session."""
    with sessions.begin() as session:
        working = _working(session, settings, token, now)
        if isinstance(working, SignInOver):
            return working
        row, user = working
        if now >= row.code_expires_at:
            audit_account(session, user, now, "staff_sign_in_refused", "security code expired")
            return CodeRefused(CodeProblem.EXPIRED, _waiting(row))
        if not hmac.compare_digest(row.code_hash, _code_hash(settings, row.token_hash, code)):
            # Counted in SQL, not from the row as read: two wrong codes at once both count.
            row.wrong_codes = StaffSignIn.wrong_codes + 1
            session.flush()
            note_failure(session, user, now, "wrong security code")
            if row.wrong_codes >= CODE_TRIES or is_locked(user, now):
                _end(session, row, user, now, SignInEnd.TOO_MANY_TRIES, f"{row.wrong_codes} wrong codes")
                return SignInOver(SignInEnd.TOO_MANY_TRIES)
            return CodeRefused(CodeProblem.WRONG, _waiting(row))
        row.ended_at, row.ended_reason = now, SignInEnd.USED.value
        clear_failures(user)
        end_session(session, earlier_session, now, SessionEnd.SIGNED_IN_AGAIN)
        session_token = open_session(session, user, now)
        audit_account(session, user, now, "staff_signed_in")
        return SignedInNow(session_token=session_token, next_path=row.next_path)


def send_new_code(
    sessions: sessionmaker[Session], settings: Settings, *, token: str | None, now: dt.datetime
) -> CodeToSend | NoMoreCodes | SignInOver:
    """A new code for the sign-in this cookie holds (the earlier code stops working; the tries left stay)."""
    with sessions.begin() as session:
        working = _working(session, settings, token, now)
        if isinstance(working, SignInOver):
            return working
        row, user = working
        if row.codes_sent >= CODES_PER_SIGN_IN:
            audit_account(
                session,
                user,
                now,
                "staff_security_code_refused",
                f"no more than {CODES_PER_SIGN_IN} codes a sign-in",
            )
            return NoMoreCodes(_waiting(row))
        code = _new_code()
        row.code_hash = _code_hash(settings, row.token_hash, code)
        row.code_expires_at = now + CODE_LIFETIME
        row.codes_sent += 1
        audit_account(session, user, now, "staff_security_code_sent", f"new code {row.codes_sent}")
        return CodeToSend(
            token=None, code=code, recipient=user.email, name=user.name, expires_at=row.code_expires_at
        )
