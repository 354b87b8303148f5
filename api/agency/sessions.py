"""An agency's way in: a link exchanged for a session, the session checked on every page, and the
request (with its case) that both are bound to. Every use and every refusal is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
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
from db.models import AccessToken, Case, InformationRequest
from domain.links import TokenPurpose

# The cookie that carries an agency's session (never the link's token).
SESSION_COOKIE = "agency_session"
UNKNOWN_LINK = "unknown link"
UNKNOWN_SESSION = "unknown session"


# ---- refusals --------------------------------------------------------------------------------


class LinkRefusal(StrEnum):
    """Why a link was not accepted; the audit detail. The agency sees one page whatever the reason."""

    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"
    CLOSED = "closed"


class SessionRefusal(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    WRONG_PURPOSE = "wrong_purpose"
    REVOKED = "revoked"
    EXPIRED = "expired"
    CLOSED = "closed"


@dataclass(frozen=True)
class RequestView:
    """The request a token is bound to, as the pages and the audit log need it (no personal data)."""

    case_reference: str
    case_id: int
    locality: str
    request_id: int
    request_key: str
    purpose: str
    agency_key: str
    agency_name: str
    state: str
    requested_on: dt.date
    due_on: dt.date

    @property
    def actor(self) -> str:
        return f"agency: {self.agency_name}"


@dataclass(frozen=True)
class OpenedLink:
    session_token: str
    request: RequestView


@dataclass(frozen=True)
class LinkRefused:
    reason: LinkRefusal
    # Known when the token was recognised (for the audit log only; never shown).
    request: RequestView | None = None


@dataclass(frozen=True)
class AgencySession:
    token_hash: str
    request: RequestView


@dataclass(frozen=True)
class SessionRefused:
    reason: SessionRefusal
    # Only for a valid session of a closed case, so that its page can name whom to contact.
    request: RequestView | None = None


def _view(request: InformationRequest, case: Case) -> RequestView:
    return RequestView(
        case_reference=case.reference,
        case_id=case.id,
        locality=case.locality,
        request_id=request.id,
        request_key=request.request_key,
        purpose=request.purpose,
        agency_key=request.agency_key,
        agency_name=request.agency_name,
        state=request.state,
        requested_on=request.requested_on,
        due_on=request.due_on,
    )


def _is_closed(case: Case) -> bool:
    # A withdrawn application closes as soon as its letter has gone; it takes no answers meanwhile.
    return case.stage == "closed" or case.withdrawal is not None


def _request_and_case(session: Session, token: AccessToken) -> tuple[InformationRequest, Case]:
    request = session.get(InformationRequest, token.request_id)
    case = session.get(Case, token.case_id)
    assert request is not None and case is not None  # foreign keys, deleted with the token
    return request, case


# ---- links and sessions ----------------------------------------------------------------------


def open_link(sessions: sessionmaker[Session], *, token: str, now: dt.datetime) -> OpenedLink | LinkRefused:
    """Exchange a link's token for a new session, or say why not. Links stay usable until they expire or
    are revoked: mail scanners open links before the person does, so a single-use link would be spent."""
    with sessions.begin() as session:
        link = find_token(session, AccessToken, token)
        if link is not None:
            return _open_known_link(session, link, now)
    # Anyone can make links up: they are counted, not written to the audit log one by one.
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_LINK,
        action="agency_link_refused",
        case_reference=None,
        detail=LinkRefusal.UNKNOWN.value,
    )
    return LinkRefused(LinkRefusal.UNKNOWN)


def _open_known_link(session: Session, link: AccessToken, now: dt.datetime) -> OpenedLink | LinkRefused:
    request, case = _request_and_case(session, link)
    view = _view(request, case)
    reason: LinkRefusal | None = None
    if link.purpose != TokenPurpose.AGENCY_LINK.value:
        reason = LinkRefusal.WRONG_PURPOSE
    elif link.revoked_at is not None:
        reason = LinkRefusal.REVOKED
    elif link.expires_at <= now:
        reason = LinkRefusal.EXPIRED
    elif _is_closed(case):
        reason = LinkRefusal.CLOSED
    if reason is not None:
        add_audit(
            session,
            at=now,
            actor=view.actor,
            action="agency_link_refused",
            case_reference=case.reference,
            detail=f"{reason.value}; request {request.request_key}",
        )
        return LinkRefused(reason, view)
    session_token, opened = AccessToken.issue(
        TokenPurpose.AGENCY_SESSION.value,
        case_id=case.id,
        request_id=request.id,
        link_id=link.id,
        issued_at=now,
        expires_at=session_expiry(link, now),
    )
    note_link_opened(session, link, opened, now)
    add_audit(
        session,
        at=now,
        actor=view.actor,
        action="agency_link_opened",
        case_reference=case.reference,
        detail=f"request {request.request_key}; use {link.use_count}",
    )
    return OpenedLink(session_token=session_token, request=view)


def check_session(
    sessions: sessionmaker[Session], *, token: str | None, now: dt.datetime
) -> AgencySession | SessionRefused:
    """The session a cookie carries, extended by this use; or why it is refused (audited; counted when
    there is no session or an unknown one, which anyone can send)."""
    with sessions.begin() as session:
        row = find_token(session, AccessToken, token)
        if row is not None:
            return _check_known_session(session, row, now)
    reason = SessionRefusal.UNKNOWN if token else SessionRefusal.MISSING
    record_tallied_audit(
        sessions,
        at=now,
        actor=UNKNOWN_SESSION,
        action="agency_session_refused",
        case_reference=None,
        detail=reason.value,
    )
    return SessionRefused(reason)


def _check_known_session(
    session: Session, row: AccessToken, now: dt.datetime
) -> AgencySession | SessionRefused:
    request, case = _request_and_case(session, row)
    view = _view(request, case)
    link = session.get(AccessToken, row.link_id) if row.link_id is not None else None
    if row.purpose != TokenPurpose.AGENCY_SESSION.value or link is None:
        return _refuse_session(session, now, SessionRefusal.WRONG_PURPOSE, view)
    if row.revoked_at is not None or link.revoked_at is not None:
        return _refuse_session(session, now, SessionRefusal.REVOKED, view)
    if row.expires_at <= now:
        return _refuse_session(session, now, SessionRefusal.EXPIRED, view)
    if _is_closed(case):
        return _refuse_session(session, now, SessionRefusal.CLOSED, view)
    note_session_used(row, link, now)
    return AgencySession(token_hash=row.token_hash, request=view)


def _refuse_session(
    session: Session, now: dt.datetime, reason: SessionRefusal, view: RequestView
) -> SessionRefused:
    add_audit(
        session,
        at=now,
        actor=view.actor,
        action="agency_session_refused",
        case_reference=view.case_reference,
        detail=reason.value,
    )
    # Whoever holds a working session of a closed case may see whom to contact; nobody else sees anything.
    return SessionRefused(reason, view if reason == SessionRefusal.CLOSED else None)


def link_request(sessions: sessionmaker[Session], *, token: str) -> tuple[RequestView, bool] | None:
    """The request a link (in any state) belongs to, and whether its case is closed; None if unknown."""
    with sessions() as session:
        link = find_token(session, AccessToken, token)
        if link is None or link.purpose != TokenPurpose.AGENCY_LINK.value:
            return None
        request, case = _request_and_case(session, link)
        return _view(request, case), _is_closed(case)


def claim_new_link_request(sessions: sessionmaker[Session], *, request_id: int, today: dt.date) -> bool:
    """Note that the agency asked for a new link today: True when this call noted it (the SPOC is to be
    told), False when it had been asked today already (nothing is to be sent to the case).

    The case workflow would only drop a second request of the day after taking it into its history, where
    every signal counts against the workflow's limits. One conditional UPDATE decides, so that two requests
    at the same moment cannot both be the first.
    """
    with sessions.begin() as session:
        result = session.execute(
            update(InformationRequest)
            .where(
                InformationRequest.id == request_id,
                or_(
                    InformationRequest.new_link_requested_on.is_(None),
                    InformationRequest.new_link_requested_on != today,
                ),
            )
            .values(new_link_requested_on=today)
        )
        return cast(CursorResult[Any], result).rowcount == 1


def release_new_link_request(sessions: sessionmaker[Session], *, request_id: int, today: dt.date) -> None:
    """Forget today's request when the SPOC could not be told (the case service was down): asking again
    later today may then get through."""
    with sessions.begin() as session:
        session.execute(
            update(InformationRequest)
            .where(InformationRequest.id == request_id, InformationRequest.new_link_requested_on == today)
            .values(new_link_requested_on=None)
        )


def request_status(sessions: sessionmaker[Session], *, request_id: int) -> tuple[str, bool]:
    """The request's state now (requested, answered, waived...) and whether its case is closed."""
    with sessions() as session:
        request = session.get(InformationRequest, request_id)
        assert request is not None
        return request.state, _is_closed(request.case)


# ---- logs --------------------------------------------------------------------------------------


class _RedactAgencyLinks(RedactLinkTokens):
    prefix = "/agency/r/"


def redact_link_tokens_in_access_logs() -> None:
    redact_in_access_logs(_RedactAgencyLinks)
