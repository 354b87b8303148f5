"""The appeal chair's and the appeal contact's way in: a link exchanged for a session, the session checked
on every page, and the appeal (with its case) both are bound to. Every use and every refusal is audited.

The same design as the agency links (api.agency.sessions; what both share is in api.links): only a token's
SHA-256 is stored; a link is exchanged for a session of its own kind; links stay usable until they expire or
are revoked (mail scanners open them first); a token of one purpose is never accepted for another. A chair's
token is also bound to the chair it was sent to: once someone else is the appeal's chair, it opens nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session, sessionmaker

from api.audit import add_audit, record_tallied_audit
from api.links import (
    RedactLinkTokens,
    find_token,
    note_link_opened,
    note_session_used,
    redact_in_access_logs,
    session_expiry,
)
from db.models import Appeal, AppealToken, Case
from domain.links import AppealTokenPurpose
from domain.policy import LocalityPolicy

# The cookie that carries an appeal session (never the link's token), sent only to the appeal pages.
SESSION_COOKIE = "appeal_session"
COOKIE_PATH = "/appeal"
UNKNOWN_LINK = "unknown appeal link"
UNKNOWN_SESSION = "unknown appeal session"
# Stages after which the appeal takes nothing more (workflows.appeal_models.AppealStage).
ENDED_STAGES = frozenset({"appeal_decided", "appeal_withdrawn"})


class AppealRole(StrEnum):
    """Who holds the link: the named chair, or the policy's contact who names the chair."""

    CHAIR = "chair"
    CONTACT = "contact"

    @property
    def link_purpose(self) -> AppealTokenPurpose:
        return AppealTokenPurpose.CHAIR_LINK if self == AppealRole.CHAIR else AppealTokenPurpose.CONTACT_LINK

    @property
    def session_purpose(self) -> AppealTokenPurpose:
        return (
            AppealTokenPurpose.CHAIR_SESSION
            if self == AppealRole.CHAIR
            else AppealTokenPurpose.CONTACT_SESSION
        )

    @property
    def home(self) -> str:
        """The page a session of this role opens on."""
        return "/appeal/chair" if self == AppealRole.CHAIR else "/appeal/name-chair"


ROLE_OF_LINK = {role.link_purpose.value: role for role in AppealRole}
ROLE_OF_SESSION = {role.session_purpose.value: role for role in AppealRole}


# ---- refusals --------------------------------------------------------------------------------


class LinkRefusal(StrEnum):
    """Why a link was not accepted; the audit detail. Whoever holds it sees one page whatever the reason."""

    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_THE_CHAIR = "not_the_chair"
    ENDED = "ended"


class SessionRefusal(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_THE_CHAIR = "not_the_chair"
    ENDED = "ended"


@dataclass(frozen=True)
class AppealView:
    """The appeal a token is bound to, as the pages and the audit log need it (no applicant's data)."""

    case_reference: str
    case_id: int
    locality: str
    appeal_id: int
    stage: str
    route: str
    role: AppealRole
    # The chair the token was sent to (None for the contact's); the appeal's chair is `appeal_chair_key`.
    chair_key: str | None
    appeal_chair_key: str | None
    # The chair's name for a chair's token, the contact's (the policy's) for the contact's.
    holder_name: str

    @property
    def actor(self) -> str:
        return f"appeal {self.role.value}: {self.holder_name}"

    @property
    def ended(self) -> bool:
        return self.stage in ENDED_STAGES

    @property
    def submitted_by(self) -> str:
        """How the submission names who sent it (and so the chronology)."""
        return f"{self.holder_name} (appeal {self.role.value})"


@dataclass(frozen=True)
class OpenedLink:
    session_token: str
    appeal: AppealView


@dataclass(frozen=True)
class LinkRefused:
    reason: LinkRefusal
    # Known when the token was recognised (for the audit log only; never shown).
    appeal: AppealView | None = None


@dataclass(frozen=True)
class AppealSession:
    token_hash: str
    appeal: AppealView


@dataclass(frozen=True)
class SessionRefused:
    reason: SessionRefusal
    # Only for a working session of an appeal that has ended, so that its page can say so.
    appeal: AppealView | None = None


def _holder_name(token: AppealToken, appeal: Appeal, policy: LocalityPolicy | None) -> str:
    if token.chair_key is None:
        return policy.appeal.contact.name if policy else "appeal contact"
    if token.chair_key == appeal.chair_key and appeal.chair_name:
        return appeal.chair_name
    chair = policy.appeal.chair(token.chair_key) if policy else None
    return chair.name if chair else token.chair_key


def _view(
    token: AppealToken, appeal: Appeal, case: Case, policies: Mapping[str, LocalityPolicy]
) -> AppealView:
    purpose = token.purpose
    role = ROLE_OF_LINK.get(purpose) or ROLE_OF_SESSION.get(purpose)
    if role is None:  # not a purpose of ours: named by what it is bound to
        role = AppealRole.CONTACT if token.chair_key is None else AppealRole.CHAIR
    return AppealView(
        case_reference=case.reference,
        case_id=case.id,
        locality=case.locality,
        appeal_id=appeal.id,
        stage=appeal.stage,
        route=appeal.route,
        role=role,
        chair_key=token.chair_key,
        appeal_chair_key=appeal.chair_key,
        holder_name=_holder_name(token, appeal, policies.get(case.locality)),
    )


def _appeal_and_case(session: Session, token: AppealToken) -> tuple[Appeal, Case]:
    appeal = session.get(Appeal, token.appeal_id)
    assert appeal is not None  # a foreign key: the token goes with its appeal
    return appeal, appeal.case


def _not_the_chair(token: AppealToken, appeal: Appeal) -> bool:
    """A chair's token whose chair is no longer (or not yet) the appeal's chair."""
    return token.chair_key is None or token.chair_key != appeal.chair_key


# ---- links and sessions ----------------------------------------------------------------------


def open_link(
    sessions: sessionmaker[Session],
    policies: Mapping[str, LocalityPolicy],
    *,
    token: str,
    now: dt.datetime,
) -> OpenedLink | LinkRefused:
    """Exchange a link's token for a new session, or say why not."""
    with sessions.begin() as session:
        link = find_token(session, AppealToken, token)
        if link is not None:
            return _open_known_link(session, policies, link, now)
    # Anyone can make links up: they are counted, not written to the audit log one by one.
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_LINK,
        action="appeal_link_refused",
        case_reference=None,
        detail=LinkRefusal.UNKNOWN.value,
    )
    return LinkRefused(LinkRefusal.UNKNOWN)


def _open_known_link(
    session: Session, policies: Mapping[str, LocalityPolicy], link: AppealToken, now: dt.datetime
) -> OpenedLink | LinkRefused:
    appeal, case = _appeal_and_case(session, link)
    view = _view(link, appeal, case, policies)
    role = ROLE_OF_LINK.get(link.purpose)
    reason: LinkRefusal | None = None
    if role is None:
        reason = LinkRefusal.WRONG_PURPOSE
    elif link.revoked_at is not None:
        reason = LinkRefusal.REVOKED
    elif link.expires_at <= now:
        reason = LinkRefusal.EXPIRED
    elif role == AppealRole.CHAIR and _not_the_chair(link, appeal):
        reason = LinkRefusal.NOT_THE_CHAIR
    elif view.ended:
        reason = LinkRefusal.ENDED
    if reason is not None:
        add_audit(
            session,
            at=now,
            actor=view.actor,
            action="appeal_link_refused",
            case_reference=case.reference,
            detail=reason.value,
        )
        return LinkRefused(reason, view)
    assert role is not None
    session_token, opened = AppealToken.issue(
        role.session_purpose.value,
        appeal_id=appeal.id,
        chair_key=link.chair_key,
        link_id=link.id,
        issued_at=now,
        expires_at=session_expiry(link, now),
    )
    note_link_opened(session, link, opened, now)
    add_audit(
        session,
        at=now,
        actor=view.actor,
        action="appeal_link_opened",
        case_reference=case.reference,
        detail=f"{role.value} link; use {link.use_count}",
    )
    return OpenedLink(session_token=session_token, appeal=view)


def check_session(
    sessions: sessionmaker[Session],
    policies: Mapping[str, LocalityPolicy],
    *,
    token: str | None,
    role: AppealRole,
    now: dt.datetime,
) -> AppealSession | SessionRefused:
    """The session a cookie carries, if it is a working session of `role`, extended by this use; or why
    it is refused (audited; counted when there is no session or an unknown one, which anyone can send)."""
    with sessions.begin() as session:
        row = find_token(session, AppealToken, token)
        if row is not None:
            return _check_known_session(session, policies, row, role, now)
    reason = SessionRefusal.UNKNOWN if token else SessionRefusal.MISSING
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_SESSION,
        action="appeal_session_refused",
        case_reference=None,
        detail=reason.value,
    )
    return SessionRefused(reason)


def _check_known_session(
    session: Session,
    policies: Mapping[str, LocalityPolicy],
    row: AppealToken,
    role: AppealRole,
    now: dt.datetime,
) -> AppealSession | SessionRefused:
    appeal, case = _appeal_and_case(session, row)
    view = _view(row, appeal, case, policies)
    link = session.get(AppealToken, row.link_id) if row.link_id is not None else None
    if (
        row.purpose != role.session_purpose.value
        or link is None
        or link.purpose != role.link_purpose.value
        or link.appeal_id != row.appeal_id
        or link.chair_key != row.chair_key
    ):
        return _refuse_session(session, now, SessionRefusal.WRONG_PURPOSE, view)
    if row.revoked_at is not None or link.revoked_at is not None:
        return _refuse_session(session, now, SessionRefusal.REVOKED, view)
    if row.expires_at <= now:
        return _refuse_session(session, now, SessionRefusal.EXPIRED, view)
    if role == AppealRole.CHAIR and _not_the_chair(row, appeal):
        return _refuse_session(session, now, SessionRefusal.NOT_THE_CHAIR, view)
    if view.ended:
        return _refuse_session(session, now, SessionRefusal.ENDED, view)
    note_session_used(row, link, now)
    return AppealSession(token_hash=row.token_hash, appeal=view)


def _refuse_session(
    session: Session, now: dt.datetime, reason: SessionRefusal, view: AppealView
) -> SessionRefused:
    add_audit(
        session,
        at=now,
        actor=view.actor,
        action="appeal_session_refused",
        case_reference=view.case_reference,
        detail=reason.value,
    )
    # Whoever holds a working session of an appeal that has ended is told so; nobody else sees anything.
    return SessionRefused(reason, view if reason == SessionRefusal.ENDED else None)


# ---- logs --------------------------------------------------------------------------------------


class _RedactAppealLinks(RedactLinkTokens):
    prefix = "/appeal/r/"


def redact_appeal_link_tokens_in_access_logs() -> None:
    redact_in_access_logs(_RedactAppealLinks)
