"""The admin's work on staff accounts (the users page, api.routes.staff_users): list, invite, change role
and localities, deactivate (their sessions end at once) and reactivate, send a new invitation, and issue or
revoke the personal API key of the JSON API.

Each change is one transaction with its audit entry (the admin as actor, the user by staff number; never a
password, token or key). An admin cannot deactivate themselves or take away their own admin role, so that
an admin always remains. The form checks (`UserDetails.problems`) run before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.audit import add_audit
from api.auth import Staff
from api.link_pages import FormError
from api.staff.links import LinkEnd, LinkPurpose, end_links_of, issue_link
from api.staff.lockout import end_waiting_sign_ins, is_locked
from api.staff.sessions import SessionEnd, end_sessions_of
from db.models import StaffLocality, StaffUser
from domain.application import one_mailbox
from domain.staff import ROLE_NAMES, ROLES_WITHOUT_LOCALITIES, Role, new_api_key

NAME_LIMIT = 200
EMAIL_LIMIT = 320


class AccountError(Exception):
    """A change that cannot be made as asked; the message says why (shown to the admin)."""


@dataclass(frozen=True)
class UserRow:
    """A staff user as the users page shows them."""

    id: int
    name: str
    email: str
    role: str
    localities: tuple[str, ...]
    active: bool
    invited: bool  # no password set yet
    locked: bool
    has_api_key: bool
    development_only: bool

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def status(self) -> str:
        if not self.active:
            return "Deactivated"
        if self.invited:
            return "Invited"
        return "Locked" if self.locked else "Active"


def _row(user: StaffUser, now: dt.datetime) -> UserRow:
    return UserRow(
        id=user.id,
        name=user.name,
        email=user.email,
        role=user.role,
        localities=tuple(sorted(user.locality_keys)),
        active=user.active,
        invited=user.password_hash is None,
        locked=is_locked(user, now),
        has_api_key=user.api_key_hash is not None,
        development_only=user.development_only,
    )


def list_users(sessions: sessionmaker[Session], now: dt.datetime) -> list[UserRow]:
    with sessions() as session:
        users = session.scalars(select(StaffUser).order_by(func.lower(StaffUser.name), StaffUser.id))
        return [_row(user, now) for user in users]


def user_row(sessions: sessionmaker[Session], user_id: int, now: dt.datetime) -> UserRow | None:
    with sessions() as session:
        user = session.get(StaffUser, user_id)
        return _row(user, now) if user is not None else None


@dataclass(frozen=True)
class UserDetails:
    """What the invitation and change forms give: checked by `problems` before anything is written."""

    role: str
    localities: tuple[str, ...]
    name: str = ""
    email: str = ""

    def problems(self, known_localities: Collection[str], *, with_identity: bool) -> list[FormError]:
        errors: list[FormError] = []
        if with_identity:
            if not self.name:
                errors.append(FormError("name", "Enter the user's full name"))
            elif len(self.name) > NAME_LIMIT:
                errors.append(FormError("name", f"The name must be {NAME_LIMIT} characters or fewer"))
            if not self.email:
                errors.append(FormError("email", "Enter the user's work email address"))
            elif len(self.email) > EMAIL_LIMIT:
                errors.append(
                    FormError("email", f"The email address must be {EMAIL_LIMIT} characters or fewer")
                )
            else:
                try:
                    one_mailbox(self.email)
                except ValueError as error:
                    # one_mailbox's message says what to correct ("Enter one email address only").
                    errors.append(FormError("email", str(error)))
        if self.role not in {role.value for role in Role}:
            errors.append(FormError("role", "Select the user's role"))
        unknown = set(self.localities) - set(known_localities)
        if unknown:
            errors.append(FormError("localities", "Select localities from the list"))
        elif not self.localities and self.role in {r.value for r in Role} - ROLES_WITHOUT_LOCALITIES:
            errors.append(FormError("localities", "Select at least one locality the user works for"))
        return errors


def _user(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise AccountError("There is no such user.")
    return user


def _audit(session: Session, admin: Staff, now: dt.datetime, action: str, detail: str) -> None:
    add_audit(session, at=now, actor=admin.label, action=action, case_reference=None, detail=detail)


def invite_user(
    sessions: sessionmaker[Session], admin: Staff, details: UserDetails, now: dt.datetime
) -> tuple[int, str]:
    """A new user without a password or key, and their invitation's token (to email); AccountError when
    the address has an account already."""
    with sessions.begin() as session:
        taken = session.scalar(
            select(StaffUser.id).where(func.lower(StaffUser.email) == details.email.strip().lower())
        )
        if taken is not None:
            raise AccountError("A user with this email address exists already: change their details instead.")
        user = StaffUser(
            name=details.name,
            email=details.email.strip(),
            role=details.role,
            api_key_hash=None,
            active=True,
            development_only=False,
            created_at=now,
            failed_sign_ins=0,
            localities=[StaffLocality(locality=locality) for locality in sorted(set(details.localities))],
        )
        session.add(user)
        session.flush()
        token = issue_link(session, user, LinkPurpose.INVITATION, now)
        _audit(
            session,
            admin,
            now,
            "staff_user_invited",
            f"staff #{user.id} as {details.role} for {','.join(sorted(details.localities)) or 'no locality'}",
        )
        return user.id, token


def change_user(
    sessions: sessionmaker[Session], admin: Staff, user_id: int, details: UserDetails, now: dt.datetime
) -> None:
    """A new role and localities for a user (their open sessions take them at the next page)."""
    with sessions.begin() as session:
        user = _user(session, user_id)
        if user.id == admin.id and details.role != Role.ADMIN:
            raise AccountError("You cannot take away your own admin role: ask another admin.")
        before = f"{user.role} for {','.join(sorted(user.locality_keys)) or 'no locality'}"
        user.role = details.role
        wanted = set(details.localities)
        user.localities = [link for link in user.localities if link.locality in wanted] + [
            StaffLocality(locality=locality) for locality in sorted(wanted - user.locality_keys)
        ]
        after = f"{details.role} for {','.join(sorted(wanted)) or 'no locality'}"
        _audit(session, admin, now, "staff_user_changed", f"staff #{user.id}: {before} -> {after}")


def set_active(
    sessions: sessionmaker[Session], admin: Staff, user_id: int, active: bool, now: dt.datetime
) -> None:
    """Deactivate a user (every session, waiting sign-in and link of theirs ends at once; their API key
    is refused) or reactivate them."""
    with sessions.begin() as session:
        user = _user(session, user_id)
        if user.id == admin.id and not active:
            raise AccountError("You cannot deactivate yourself: ask another admin.")
        user.active = active
        if active:
            user.failed_sign_ins, user.locked_until = 0, None
            _audit(session, admin, now, "staff_user_reactivated", f"staff #{user.id}")
            return
        ended = end_sessions_of(session, user.id, now, SessionEnd.DEACTIVATED)
        end_waiting_sign_ins(session, user.id, now, "deactivated")
        end_links_of(session, user.id, now, LinkEnd.DEACTIVATED)
        _audit(session, admin, now, "staff_user_deactivated", f"staff #{user.id}; sessions ended: {ended}")


def new_invitation(
    sessions: sessionmaker[Session], admin: Staff, user_id: int, now: dt.datetime
) -> tuple[str, str, str]:
    """A new invitation for a user who has not set a password yet (earlier ones stop working); returns the
    token, the user's name and address, to email."""
    with sessions.begin() as session:
        user = _user(session, user_id)
        if not user.active:
            raise AccountError("Reactivate the user before sending them an invitation.")
        if user.password_hash is not None:
            raise AccountError(
                "This user has set a password already: they can reset it from the sign-in page."
            )
        token = issue_link(session, user, LinkPurpose.INVITATION, now)
        _audit(session, admin, now, "staff_invitation_sent", f"staff #{user.id}")
        return token, user.name, user.email


def create_api_key(sessions: sessionmaker[Session], admin: Staff, user_id: int, now: dt.datetime) -> str:
    """A new personal API key for the user, to show once (only its hash is kept); their earlier key stops
    working at once."""
    key, key_hash = new_api_key()
    with sessions.begin() as session:
        user = _user(session, user_id)
        if user.development_only:
            raise AccountError("Development users keep their published keys: create a real user instead.")
        if not user.active:
            raise AccountError("Reactivate the user before giving them an API key.")
        replaced = user.api_key_hash is not None
        user.api_key_hash = key_hash
        _audit(session, admin, now, "staff_api_key_created", f"staff #{user.id}; replaced a key: {replaced}")
    return key


def revoke_api_key(sessions: sessionmaker[Session], admin: Staff, user_id: int, now: dt.datetime) -> None:
    with sessions.begin() as session:
        user = _user(session, user_id)
        user.api_key_hash = None
        _audit(session, admin, now, "staff_api_key_revoked", f"staff #{user.id}")


def details_from_form(fields: Mapping[str, Sequence[str]], *, with_identity: bool) -> UserDetails:
    """The invitation or change form's fields, trimmed (several localities may be ticked)."""

    def first(name: str) -> str:
        values = fields.get(name) or [""]
        return values[0].replace("\r", "").replace("\n", " ").strip()

    localities = tuple(
        dict.fromkeys(value.strip() for value in fields.get("localities", []) if value.strip())
    )
    return UserDetails(
        role=first("role"),
        localities=localities,
        name=first("name") if with_identity else "",
        email=first("email") if with_identity else "",
    )
