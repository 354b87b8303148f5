"""The audit log: who saw or changed what, for staff and for agencies alike. One writer for every route."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from sqlalchemy import delete, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Staff
from db.models import AuditEntry
from domain.calendar import london_date

log = logging.getLogger(__name__)


def add_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    case_reference: str | None,
    detail: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """An entry in the caller's transaction (the caller commits). Never a token, its hash or personal data
    in `detail`. `at` is the request's clock where a page has one (tests move it); otherwise now."""
    session.add(
        AuditEntry(
            at=at or dt.datetime.now(dt.UTC),
            actor=actor,
            action=action,
            case_reference=case_reference,
            detail=detail,
        )
    )


def add_staff_audit(
    session: Session, staff: Staff, at: dt.datetime, action: str, case_reference: str | None, detail: str
) -> None:
    """add_audit for an entry by a member of staff (named by their label), at the request's time."""
    add_audit(session, actor=staff.label, action=action, case_reference=case_reference, detail=detail, at=at)


def record_audit(
    sessions: sessionmaker[Session],
    *,
    actor: str,
    action: str,
    case_reference: str | None,
    detail: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """An entry in a transaction of its own, for a use or a refusal that writes nothing else."""
    with sessions.begin() as session:
        add_audit(session, actor=actor, action=action, case_reference=case_reference, detail=detail, at=at)


def record_tallied_audit(
    sessions: sessionmaker[Session],
    *,
    actor: str,
    action: str,
    case_reference: str | None,
    detail: str | None,
    at: dt.datetime,
) -> None:
    """Count a refusal that anyone can cause in bulk (an unknown link, a repeated request) in the day's one
    entry for its kind (actor, action, case, detail), instead of an entry each: a thousand bad links make
    one row with `occurrences` 1000, not a thousand rows.

    The day's entry is replaced by one carrying the new count and time, so that the log, read in order,
    shows it where the latest of them happened. In a transaction of its own, and one at a time for each
    entry (SQLite has one writer; PostgreSQL takes a lock on the entry's key), so that no count is lost.
    """
    day = london_date(at).isoformat()
    kind = "\x1f".join((day, actor, action, case_reference or "", detail or ""))
    tally_key = hashlib.sha256(kind.encode("utf-8")).hexdigest()
    for _attempt in range(3):
        try:
            with sessions.begin() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(tally_key[:15], 16)}
                    )
                earlier = session.execute(
                    delete(AuditEntry)
                    .where(AuditEntry.tally_key == tally_key)
                    .returning(AuditEntry.occurrences)
                ).scalar_one_or_none()
                session.add(
                    AuditEntry(
                        at=at,
                        actor=actor,
                        action=action,
                        case_reference=case_reference,
                        detail=detail,
                        occurrences=(earlier or 0) + 1,
                        tally_key=tally_key,
                    )
                )
            return
        except IntegrityError:
            continue
    log.warning("a tallied %s refusal could not be counted: the entry was busy", action)
