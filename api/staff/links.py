"""One-time links emailed to staff: an invitation to set a first password, and a password reset.

A link's token is random and stored only as its SHA-256. Opening the link swaps it for a form cookie
(`staff_link`, its hash on the link's row) and redirects, so that the token leaves the address bar, history
and referrers (as the applicant's `/case/r/<token>` does); opening it again replaces the cookie, so a mail
scanner that opened it first does no harm. Setting the password ends the link for good (single use), ends
the user's sessions and any sign-in waiting for a code, and clears the lock-out. An invitation works for 7
days, a reset for 1 hour; a newer link of the same kind ends the earlier ones. Every use and refusal is
audited, never with the token; a token that matches nothing is counted, not logged one by one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.audit import record_tallied_audit
from api.links import TOKEN_SHAPE, RedactLinkTokens, redact_in_access_logs
from api.staff.lockout import clear_failures, end_waiting_sign_ins
from api.staff.passwords import hash_password
from api.staff.sessions import SessionEnd, audit_account, end_sessions_of
from core.config import Settings
from db.models import StaffUser
from db.staff_models import StaffLink
from domain.links import hash_token, new_token

LINK_COOKIE = "staff_link"
UNKNOWN_LINK = "unknown staff link"
# Password reset emails one account may be sent in an hour: the form is open to anyone.
RESETS_AN_HOUR = 3


class LinkPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of link, not a password


LIFETIMES = {LinkPurpose.INVITATION: dt.timedelta(days=7), LinkPurpose.PASSWORD_RESET: dt.timedelta(hours=1)}
PATHS = {LinkPurpose.INVITATION: "/staff/invitation/", LinkPurpose.PASSWORD_RESET: "/staff/password-reset/"}


class LinkEnd(StrEnum):
    USED = "used"
    REPLACED = "replaced"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True)
class LinkForm:
    """The user a link's form sets the password of, and what its CSRF token is bound to."""

    form_token_hash: str
    user_id: int
    name: str
    email: str
    role: str
    localities: frozenset[str]


def link_url(settings: Settings, purpose: LinkPurpose, token: str) -> str:
    return settings.public_base_url.rstrip("/") + PATHS[purpose] + token


def issue_link(session: Session, user: StaffUser, purpose: LinkPurpose, now: dt.datetime) -> str:
    """A new link for `user` (earlier working links of the same kind end); returns its token, to email.
    The caller commits."""
    end_links_of(session, user.id, now, LinkEnd.REPLACED, purpose)
    token, token_hash = new_token()
    session.add(
        StaffLink(
            token_hash=token_hash,
            user_id=user.id,
            purpose=purpose.value,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    return token


def end_links_of(
    session: Session, user_id: int, now: dt.datetime, reason: LinkEnd, purpose: LinkPurpose | None = None
) -> None:
    query = update(StaffLink).where(StaffLink.user_id == user_id, StaffLink.ended_at.is_(None))
    if purpose is not None:
        query = query.where(StaffLink.purpose == purpose.value)
    session.execute(query.values(ended_at=now, ended_reason=reason.value))


def _refusal(link: StaffLink, user: StaffUser, settings: Settings, now: dt.datetime) -> str | None:
    if link.ended_at is not None:
        return f"ended ({link.ended_reason})"
    if now >= link.expires_at:
        return "expired"
    if not user.active:
        return "user deactivated"
    if user.development_only and not settings.is_development:
        return "development user outside development"
    return None


def open_link(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    token: str,
    purpose: LinkPurpose,
    now: dt.datetime,
) -> str | None:
    """Swap a link's token for a new form token (the cookie); None when the link cannot be used."""
    with sessions.begin() as session:
        link = None
        if TOKEN_SHAPE.fullmatch(token):
            link = session.scalar(
                select(StaffLink).where(
                    StaffLink.token_hash == hash_token(token), StaffLink.purpose == purpose.value
                )
            )
        if link is not None:
            user = session.get(StaffUser, link.user_id)
            assert user is not None
            refusal = _refusal(link, user, settings, now)
            if refusal is None:
                form_token, link.form_token_hash = new_token()
            audit_account(
                session,
                user,
                now,
                f"staff_{purpose.value}_link_{'refused' if refusal else 'opened'}",
                refusal,
            )
            return None if refusal else form_token
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_LINK,
        action=f"staff_{purpose.value}_link_refused",
        case_reference=None,
        detail="unknown",
    )
    return None


def _link_of_form(
    session: Session, settings: Settings, form_token: str | None, purpose: LinkPurpose, now: dt.datetime
) -> tuple[StaffLink, StaffUser] | None:
    if not form_token or not TOKEN_SHAPE.fullmatch(form_token):
        return None
    link = session.scalar(
        select(StaffLink).where(
            StaffLink.form_token_hash == hash_token(form_token), StaffLink.purpose == purpose.value
        )
    )
    if link is None:
        return None
    user = session.get(StaffUser, link.user_id)
    assert user is not None
    return None if _refusal(link, user, settings, now) else (link, user)


def link_form(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    form_token: str | None,
    purpose: LinkPurpose,
    now: dt.datetime,
) -> LinkForm | None:
    """Whose password the form this cookie holds sets; None when its link can no longer be used."""
    with sessions() as session:
        found = _link_of_form(session, settings, form_token, purpose, now)
        if found is None:
            return None
        link, user = found
        assert link.form_token_hash is not None
        return LinkForm(
            form_token_hash=link.form_token_hash,
            user_id=user.id,
            name=user.name,
            email=user.email,
            role=user.role,
            localities=frozenset(user.locality_keys),
        )


def set_password(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    form_token: str | None,
    purpose: LinkPurpose,
    password: str,
    now: dt.datetime,
) -> bool:
    """Set the password (already checked against the rules) through the link this cookie's form came
    from, ending the link, the user's sessions and waiting sign-ins; False when the link can no longer
    be used (nothing changed)."""
    password_hash = hash_password(password)
    with sessions.begin() as session:
        found = _link_of_form(session, settings, form_token, purpose, now)
        if found is None:
            return False
        _link, user = found
        user.password_hash = password_hash
        clear_failures(user)
        end_links_of(session, user.id, now, LinkEnd.USED)
        ended = end_sessions_of(session, user.id, now, SessionEnd.PASSWORD_CHANGED)
        end_waiting_sign_ins(session, user.id, now, "password_changed")
        audit_account(
            session,
            user,
            now,
            "staff_password_set",
            f"through the {purpose.value.replace('_', ' ')} link; sessions ended: {ended}",
        )
        return True


# ---- a password reset asked for by email ---------------------------------------------------------


@dataclass(frozen=True)
class ResetToSend:
    token: str
    recipient: str
    name: str


def ask_for_password_reset(
    sessions: sessionmaker[Session], settings: Settings, *, email: str, now: dt.datetime
) -> ResetToSend | None:
    """A reset link to email when `email` is an account that may sign in and has not had its hour's share
    of them; None otherwise. The page says the same either way."""
    address = email.strip().lower()
    with sessions.begin() as session:
        user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == address))
        if user is not None:
            recent = session.scalar(
                select(func.count(StaffLink.id)).where(
                    StaffLink.user_id == user.id,
                    StaffLink.purpose == LinkPurpose.PASSWORD_RESET.value,
                    StaffLink.created_at > now - dt.timedelta(hours=1),
                )
            )
            refusal = None
            if not user.active:
                refusal = "deactivated"
            elif user.development_only and not settings.is_development:
                refusal = "development user outside development"
            elif (recent or 0) >= RESETS_AN_HOUR:
                refusal = f"more than {RESETS_AN_HOUR} an hour"
            audit_account(session, user, now, "staff_password_reset_requested", refusal or "link sent")
            if refusal is not None:
                return None
            token = issue_link(session, user, LinkPurpose.PASSWORD_RESET, now)
            return ResetToSend(token=token, recipient=user.email, name=user.name)
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_LINK,
        action="staff_password_reset_requested",
        case_reference=None,
        detail="unknown email address",
    )
    return None


# ---- logs --------------------------------------------------------------------------------------


class _RedactInvitationLinks(RedactLinkTokens):
    prefix = PATHS[LinkPurpose.INVITATION]


class _RedactPasswordResetLinks(RedactLinkTokens):
    prefix = PATHS[LinkPurpose.PASSWORD_RESET]


def redact_staff_link_tokens_in_access_logs() -> None:
    redact_in_access_logs(_RedactInvitationLinks)
    redact_in_access_logs(_RedactPasswordResetLinks)
