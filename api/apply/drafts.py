"""The answers of an online application kept between its pages, server side, for the browser whose
cookie holds the draft's session id. Only the id's SHA-256 is stored: the row is useless without the
cookie. A draft expires after `IDLE` without use; expired drafts are deleted when a new one starts.
Once sent, a draft keeps the case's reference, so that sending again shows the same confirmation, and
only how letters will go of its answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from api.link_pages import sign
from db.models import ApplicationDraft

COOKIE = "apply_session"
COOKIE_PATH = "/apply"
IDLE = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Draft:
    id: int
    draft_hash: str
    locality: str
    answers: dict[str, Any]
    submitted_reference: str | None


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def hash_session(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(secret_key: str, draft_hash: str) -> str:
    """Every apply form's CSRF token: bound to the browser's session, useless without its cookie."""
    return sign(secret_key, f"apply|{draft_hash}")


def _view(row: ApplicationDraft) -> Draft:
    return Draft(
        id=row.id,
        draft_hash=row.draft_hash,
        locality=row.locality,
        answers=dict(row.answers),
        submitted_reference=row.submitted_reference,
    )


def find_draft(sessions: sessionmaker[Session], *, draft_hash: str, now: dt.datetime) -> Draft | None:
    """The session's draft if it has not expired, its expiry moved on by this use."""
    with sessions.begin() as session:
        row = session.scalar(select(ApplicationDraft).where(ApplicationDraft.draft_hash == draft_hash))
        if row is None or row.expires_at <= now:
            return None
        row.expires_at = now + IDLE
        return _view(row)


def start_draft(
    sessions: sessionmaker[Session], *, draft_hash: str, locality: str, now: dt.datetime
) -> Draft | None:
    """A draft for this session and locality: the one in progress for the same locality, else a new one.
    None when the session's draft was already sent (the caller starts a new session)."""
    with sessions.begin() as session:
        session.execute(delete(ApplicationDraft).where(ApplicationDraft.expires_at <= now))
        row = session.scalar(select(ApplicationDraft).where(ApplicationDraft.draft_hash == draft_hash))
        if row is not None and row.submitted_reference is not None:
            return None
        if row is None:
            row = ApplicationDraft(
                draft_hash=draft_hash,
                locality=locality,
                answers={},
                created_at=now,
                updated_at=now,
                expires_at=now + IDLE,
            )
            session.add(row)
        elif row.locality != locality:
            row.locality, row.answers, row.updated_at = locality, {}, now
        row.expires_at = now + IDLE
        session.flush()
        return _view(row)


def save_answers(
    sessions: sessionmaker[Session], *, draft_id: int, answers: dict[str, Any], now: dt.datetime
) -> None:
    with sessions.begin() as session:
        row = session.get(ApplicationDraft, draft_id)
        if row is None or row.submitted_reference is not None:
            return
        row.answers, row.updated_at, row.expires_at = answers, now, now + IDLE


def mark_submitted(
    sessions: sessionmaker[Session],
    *,
    draft_id: int,
    reference: str,
    kept: dict[str, Any],
    now: dt.datetime,
) -> None:
    """The draft was sent as case `reference`: its answers go (the case has them), but `kept`."""
    with sessions.begin() as session:
        row = session.get(ApplicationDraft, draft_id)
        if row is None:
            return
        if row.submitted_reference is None:
            row.submitted_reference, row.submitted_at = reference, now
        row.answers, row.updated_at, row.expires_at = kept, now, now + IDLE
