"""Signing in to the staff pages, first step: the email address and password, with the account's lock-out.

A right password starts a sign-in that waits for the security code emailed to the user (api.staff.codes).
Everything else gets one answer, whatever the reason: an unknown address, a wrong password, a locked or
deactivated account, an invited user who has set no password yet, a development user outside development.
Each costs one argon2 verification, so that neither the answer nor the time it takes says whether an
address has an account. Ten failures in a row (wrong passwords and wrong codes together: NCSC's guidance
allows about ten) lock the account for 15 minutes (api.staff.lockout).
Every refusal is audited: for a known account by its staff number, never with the address or the password;
for an unknown address as one count a day (anyone can cause them in bulk).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.audit import record_tallied_audit
from api.staff.codes import CodeToSend, start_code_sign_in
from api.staff.lockout import end_waiting_sign_ins, may_sign_in, note_failure
from api.staff.passwords import hash_password, needs_new_hash, verify_password
from api.staff.sessions import audit_account
from core.config import Settings
from db.models import StaffUser

UNKNOWN_EMAIL = "unknown staff email"


@dataclass(frozen=True)
class SignInRefused:
    """The one answer to every refused email and password (the reason is in the audit log only)."""


def find_user(session: Session, email: str) -> StaffUser | None:
    """The account with this address, its row locked until the transaction ends: attempts on one account
    are checked one after another, so parallel guesses cannot all pass before the lock-out counts them
    (PostgreSQL; SQLite writes one transaction at a time, and the count is kept in SQL as well)."""
    address = email.strip().lower()
    if not address:
        return None
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == address).with_for_update())


def sign_in_with_password(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    email: str,
    password: str,
    next_path: str | None,
    now: dt.datetime,
) -> CodeToSend | SignInRefused:
    """Check an email address and password: the code to email when they are right and the account may sign
    in (a new sign-in waiting for it, the user's earlier waiting ones ended), else the one refusal."""
    with sessions.begin() as session:
        user = find_user(session, email)
        # Always one verification: against a dummy hash when there is no account or no password.
        right = verify_password(user.password_hash if user is not None else None, password)
        if user is not None:
            refusal = may_sign_in(user, settings, now)
            if refusal is not None:
                audit_account(session, user, now, "staff_sign_in_refused", refusal)
                return SignInRefused()
            if not right:
                note_failure(session, user, now, "wrong password")
                return SignInRefused()
            assert user.password_hash is not None
            if needs_new_hash(user.password_hash):
                user.password_hash = hash_password(password)
            end_waiting_sign_ins(session, user.id, now, "replaced")
            return start_code_sign_in(session, settings, user, next_path=next_path, now=now)
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_EMAIL,
        action="staff_sign_in_refused",
        case_reference=None,
        detail="unknown email address",
    )
    return SignInRefused()
