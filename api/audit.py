"""The audit log: who saw or changed what, for staff and for agencies alike. One writer for every route."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from db.models import AuditEntry


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
