"""The applicant's way in: the link in each emailed letter exchanged for a session, the session checked on
every page, the case both are bound to, and a new link by email for whoever gives the case's reference and
the email address it was made with. Every use and every refusal is audited, never with the token or
personal data (the actor is "applicant").

The same design as the agency and appeal links (what all share is in api.links): only a token's SHA-256 is
stored; a link is exchanged for a session of its own kind; links stay usable until they expire (a year
after they were sent) or are revoked, so that the link in any letter keeps working and a mail scanner that
opened it first does no harm; a token of one purpose is never accepted for another. A new link asked for
by email leaves earlier links working: whoever asks has proved nothing more than the holder of an old
letter, and revoking could be used by a stranger who knows the reference and the address to cut the
applicant off. Revoking is for staff (`revoked_at` on the link's row ends the link and its sessions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from activities.api_mail import NEW_LINK_PURPOSE
from api.audit import add_audit, record_tallied_audit
from api.links import (
    RedactLinkTokens,
    find_token,
    note_link_opened,
    note_session_used,
    redact_in_access_logs,
    session_expiry,
)
from db.models import ApplicantToken, Case, OutboxMessage
from domain.links import ApplicantTokenPurpose

# The cookie that carries an applicant's session (never the link's token), sent only to the case pages.
SESSION_COOKIE = "case_session"
COOKIE_PATH = "/case"
ACTOR = "applicant"
UNKNOWN_LINK = "unknown applicant link"
UNKNOWN_SESSION = "unknown applicant session"
# At most this many emails with a link asked for from the page (NEW_LINK_PURPOSE) a case a day.
NEW_LINKS_A_DAY = 3


class LinkRefusal(StrEnum):
    """Why a link was not accepted; the audit detail. Whoever holds it sees one page whatever the reason."""

    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"


class SessionRefusal(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ApplicantView:
    """The case a token is bound to, as the audit log and the routes need it."""

    case_reference: str
    case_id: int
    locality: str
    # Who applied (the victim, or whoever applied for them): how their submissions name them.
    applicant_name: str

    @property
    def submitted_by(self) -> str:
        """How the submission names who sent it (and so the chronology)."""
        return f"{self.applicant_name} (applicant)"


@dataclass(frozen=True)
class OpenedLink:
    session_token: str
    case: ApplicantView


@dataclass(frozen=True)
class LinkRefused:
    reason: LinkRefusal


@dataclass(frozen=True)
class ApplicantSession:
    token_hash: str
    case: ApplicantView


@dataclass(frozen=True)
class SessionRefused:
    reason: SessionRefusal


def _view(case: Case) -> ApplicantView:
    applicant = case.application.get("applicant") or {}
    return ApplicantView(
        case_reference=case.reference,
        case_id=case.id,
        locality=case.locality,
        applicant_name=str(applicant.get("name") or "the applicant"),
    )


def _case(session: Session, token: ApplicantToken) -> Case:
    case = session.get(Case, token.case_id)
    assert case is not None  # a foreign key: the token goes with its case
    return case


def open_link(sessions: sessionmaker[Session], *, token: str, now: dt.datetime) -> OpenedLink | LinkRefused:
    """Exchange a link's token for a new session, or say why not."""
    with sessions.begin() as session:
        link = find_token(session, ApplicantToken, token)
        if link is not None:
            return _open_known_link(session, link, now)
    # Anyone can make links up: they are counted, not written to the audit log one by one.
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_LINK,
        action="applicant_link_refused",
        case_reference=None,
        detail=LinkRefusal.UNKNOWN.value,
    )
    return LinkRefused(LinkRefusal.UNKNOWN)


def _open_known_link(session: Session, link: ApplicantToken, now: dt.datetime) -> OpenedLink | LinkRefused:
    case = _case(session, link)
    reason: LinkRefusal | None = None
    if link.purpose != ApplicantTokenPurpose.APPLICANT_LINK.value:
        reason = LinkRefusal.WRONG_PURPOSE
    elif link.revoked_at is not None:
        reason = LinkRefusal.REVOKED
    elif link.expires_at <= now:
        reason = LinkRefusal.EXPIRED
    if reason is not None:
        add_audit(
            session,
            at=now,
            actor=ACTOR,
            action="applicant_link_refused",
            case_reference=case.reference,
            detail=reason.value,
        )
        return LinkRefused(reason)
    session_token, opened = ApplicantToken.issue(
        ApplicantTokenPurpose.APPLICANT_SESSION.value,
        case_id=case.id,
        link_id=link.id,
        issued_at=now,
        expires_at=session_expiry(link, now),
    )
    note_link_opened(session, link, opened, now)
    add_audit(
        session,
        at=now,
        actor=ACTOR,
        action="applicant_link_opened",
        case_reference=case.reference,
        detail=f"use {link.use_count}",
    )
    return OpenedLink(session_token=session_token, case=_view(case))


def check_session(
    sessions: sessionmaker[Session], *, token: str | None, now: dt.datetime
) -> ApplicantSession | SessionRefused:
    """The session a cookie carries, if it is a working applicant's session, extended by this use; or why
    it is refused (audited; counted when there is no session or an unknown one, which anyone can send)."""
    with sessions.begin() as session:
        row = find_token(session, ApplicantToken, token)
        if row is not None:
            return _check_known_session(session, row, now)
    reason = SessionRefusal.UNKNOWN if token else SessionRefusal.MISSING
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_SESSION,
        action="applicant_session_refused",
        case_reference=None,
        detail=reason.value,
    )
    return SessionRefused(reason)


def _check_known_session(
    session: Session, row: ApplicantToken, now: dt.datetime
) -> ApplicantSession | SessionRefused:
    case = _case(session, row)
    link = session.get(ApplicantToken, row.link_id) if row.link_id is not None else None
    reason: SessionRefusal | None = None
    if (
        row.purpose != ApplicantTokenPurpose.APPLICANT_SESSION.value
        or link is None
        or link.purpose != ApplicantTokenPurpose.APPLICANT_LINK.value
        or link.case_id != row.case_id
    ):
        reason = SessionRefusal.WRONG_PURPOSE
    elif row.revoked_at is not None or link.revoked_at is not None:
        reason = SessionRefusal.REVOKED
    elif row.expires_at <= now:
        reason = SessionRefusal.EXPIRED
    if reason is not None:
        add_audit(
            session,
            at=now,
            actor=ACTOR,
            action="applicant_session_refused",
            case_reference=case.reference,
            detail=reason.value,
        )
        return SessionRefused(reason)
    assert link is not None
    note_session_used(row, link, now)
    return ApplicantSession(token_hash=row.token_hash, case=_view(case))


# ---- a new link by email ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLink:
    """A link issued for a case whose reference and address matched: the email to send it in."""

    reference: str
    locality: str
    token: str
    recipient: str
    applicant_name: str


def _normalised_email(value: str) -> str:
    return value.strip().casefold()


def issue_new_link(
    sessions: sessionmaker[Session],
    *,
    reference: str,
    email: str,
    now: dt.datetime,
    queue: Callable[[Session, NewLink], str],
) -> str | None:
    """A new link for the case with this reference, when `email` is the applicant's address on it and the
    case has not had its day's share of new links: `queue` records its email in the outbox in the same
    transaction as the link, and its key is returned; None otherwise. Audited either way, without the
    address (a mismatch is counted, not written each time: anyone can try)."""
    reference = reference.strip().upper()
    with sessions.begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference)) if reference else None
        applicant = (case.application.get("applicant") or {}) if case is not None else {}
        address = str(applicant.get("email") or "")
        if case is None or not address or _normalised_email(address) != _normalised_email(email):
            outcome = "no match"
        else:
            since = now - dt.timedelta(days=1)
            sent_today = session.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.case_reference == case.reference,
                    OutboxMessage.purpose == NEW_LINK_PURPOSE,
                    OutboxMessage.created_at > since,
                )
            )
            if (sent_today or 0) >= NEW_LINKS_A_DAY:
                outcome = "too many today"
            else:
                token = ApplicantToken.add_case_page_link(session, case_id=case.id, now=now)
                add_audit(
                    session,
                    at=now,
                    actor=ACTOR,
                    action="applicant_new_link_requested",
                    case_reference=case.reference,
                    detail="link issued",
                )
                return queue(
                    session,
                    NewLink(
                        reference=case.reference,
                        locality=case.locality,
                        token=token,
                        recipient=address,
                        applicant_name=str(applicant.get("name") or ""),
                    ),
                )
    record_tallied_audit(
        sessions,
        at=now,
        actor=ACTOR if outcome != "no match" else UNKNOWN_LINK,
        action="applicant_new_link_requested",
        case_reference=reference if outcome != "no match" else None,
        detail=outcome,
    )
    return None


# ---- logs --------------------------------------------------------------------------------------


class _RedactApplicantLinks(RedactLinkTokens):
    prefix = "/case/r/"


def redact_applicant_link_tokens_in_access_logs() -> None:
    redact_in_access_logs(_RedactApplicantLinks)
