"""The staff account's lock-out: ten failures in a row (wrong passwords and wrong security codes together;
NCSC's guidance allows about ten) lock the account for 15 minutes, and who may sign in at all.

A successful sign-in or a new password clears the count. Each failure and each lock is audited by the
account's staff number, never with the address, the password or the code.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from api.staff.sessions import audit_account
from core.config import Settings
from db.models import StaffUser
from db.staff_models import StaffSignIn

LOCK_AFTER_FAILURES = 10
LOCK_FOR = dt.timedelta(minutes=15)


def may_sign_in(user: StaffUser, settings: Settings, now: dt.datetime) -> str | None:
    """Why this account may not sign in now (the audit detail); None when it may."""
    if not user.active:
        return "deactivated"
    if user.development_only and not settings.is_development:
        # A development user's password is published in the README: only ever on `make run`.
        return "development user outside development"
    if user.password_hash is None:
        return "no password set yet"
    if is_locked(user, now):
        return "locked"
    return None


def is_locked(user: StaffUser, now: dt.datetime) -> bool:
    return user.locked_until is not None and now < user.locked_until


def note_failure(session: Session, user: StaffUser, now: dt.datetime, what: str) -> None:
    """Count a wrong password or code against the account; the tenth in a row locks it (audited)."""
    # Counted in SQL, not from the row as read: two failures at once both count.
    failures = session.execute(
        update(StaffUser)
        .where(StaffUser.id == user.id)
        .values(failed_sign_ins=StaffUser.failed_sign_ins + 1)
        .returning(StaffUser.failed_sign_ins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    set_committed_value(user, "failed_sign_ins", failures)
    audit_account(
        session,
        user,
        now,
        "staff_sign_in_refused",
        f"{what} (failure {user.failed_sign_ins} of {LOCK_AFTER_FAILURES})",
    )
    if failures >= LOCK_AFTER_FAILURES:
        user.failed_sign_ins = 0
        user.locked_until = now + LOCK_FOR
        audit_account(
            session,
            user,
            now,
            "staff_account_locked",
            f"after {LOCK_AFTER_FAILURES} failures, until {user.locked_until.isoformat()}",
        )


def clear_failures(user: StaffUser) -> None:
    user.failed_sign_ins = 0
    user.locked_until = None


def end_waiting_sign_ins(session: Session, user_id: int, now: dt.datetime, reason: str) -> None:
    """End every sign-in of the user still waiting for its code (a newer one, a new password, deactivated)."""
    session.execute(
        update(StaffSignIn)
        .where(StaffSignIn.user_id == user_id, StaffSignIn.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
    )
