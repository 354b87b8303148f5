"""The cases in the database as the API reads and writes them, and the one place a case's workflow input
is built from its locality's policy."""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, sessionmaker

from api.auth import Staff, scope_of
from api.staff.dashboard import Position
from db.models import Appeal, Attachment, Case, OutboxMessage, ReferenceCounter, Submission
from domain.application import Application
from domain.policy import LocalityPolicy
from domain.threshold import ThresholdAssessment
from workflows.models import BankHolidays, CaseInput, CaseRules, CaseStage


def rules_for(policy: LocalityPolicy) -> CaseRules:
    d = policy.deadlines
    return CaseRules(
        nation=policy.nation,
        acknowledge=d.acknowledge,
        threshold_information=d.threshold_information,
        threshold_decision=d.threshold_decision,
        threshold_update_interval=d.threshold_update_interval,
        review_information=d.review_information,
        outcome=d.outcome,
        outcome_update_interval=d.outcome_update_interval,
        appeal_window=d.appeal_window,
        spoc_reminder_before=d.spoc_reminder_before,
        agency_reminder_before=d.agency_reminder_before,
        agency_link_valid_after_due=d.agency_link_valid_after_due,
    )


def case_input_for(policy: LocalityPolicy, reference: str, received_on: dt.date) -> CaseInput:
    """What a new case's workflow starts with: everything it needs from the locality's policy, so that a
    policy changed later does not change a case already running. The same goes for the bank holidays:
    the case counts its working days with the ones installed today, until a deliberate update."""
    return CaseInput(
        reference=reference,
        locality=policy.key,
        received_on=received_on,
        rules=rules_for(policy),
        bank_holidays=BankHolidays.installed(policy.nation, received_on),
    )


def next_reference(session: Session, policy: LocalityPolicy, year: int) -> str:
    """The next reference of the locality's year, e.g. CT-BLA-2026-0007, without gaps or repeats."""
    counter = (ReferenceCounter.locality == policy.key, ReferenceCounter.year == year)
    for _ in range(2):
        # UPDATE first: it takes the row's write lock at once, so two applications never share a number.
        bumped = session.execute(
            update(ReferenceCounter).where(*counter).values(last_number=ReferenceCounter.last_number + 1)
        )
        if bumped.rowcount:  # type: ignore[attr-defined]
            number = session.scalar(select(ReferenceCounter.last_number).where(*counter))
            return f"CT-{policy.code}-{year}-{number:04d}"
        try:
            # The year's first case: create its counter, unless a concurrent first case just did.
            with session.begin_nested():
                session.add(ReferenceCounter(locality=policy.key, year=year, last_number=1))
            return f"CT-{policy.code}-{year}-0001"
        except IntegrityError:
            continue  # the other transaction created it: bump it instead
    raise RuntimeError("could not allocate a case reference")


def store_case(
    sessions: sessionmaker[Session],
    *,
    application: Application,
    policy: LocalityPolicy,
    received_on: dt.date,
    assessment: ThresholdAssessment,
    idempotency_key: str | None,
) -> tuple[str, bool]:
    """Store the application as a new case: (its reference, True). With a known idempotency key, that
    case instead: (its reference, False); a 409 if the key came with a different application."""
    stored = application.model_copy(update={"received_on": received_on}).model_dump(mode="json")
    if idempotency_key:
        with sessions() as session:
            existing = session.scalar(select(Case).where(Case.idempotency_key == idempotency_key))
            if existing is not None:
                if existing.application != stored:
                    raise HTTPException(
                        status.HTTP_409_CONFLICT,
                        "This Idempotency-Key was already used for a different application.",
                    )
                return existing.reference, False
    now = dt.datetime.now(dt.UTC)
    try:
        with sessions.begin() as session:
            reference = next_reference(session, policy, received_on.year)
            session.add(
                Case(
                    reference=reference,
                    locality=policy.key,
                    stage=CaseStage.RECEIVED.value,
                    received_on=received_on,
                    application=stored,
                    assessment=assessment.model_dump(mode="json"),
                    idempotency_key=idempotency_key,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        if idempotency_key:  # a concurrent retry with the same key won the race
            return store_case(
                sessions,
                application=application,
                policy=policy,
                received_on=received_on,
                assessment=assessment,
                idempotency_key=idempotency_key,
            )
        raise
    return reference, True


def forget_case(sessions: sessionmaker[Session], *, reference: str, give_number_back: bool = True) -> None:
    """Remove a case whose workflow could not start, so that nothing half-opened is kept, and give its
    number back when it is still the locality's last: the next application takes it, leaving no gap. (Only
    if another application was numbered in between does the number stay unused.)"""
    with sessions.begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            return
        session.delete(case)
        if not give_number_back:
            return
        year, number = reference.rsplit("-", 2)[1:]
        session.execute(
            update(ReferenceCounter)
            .where(
                ReferenceCounter.locality == case.locality,
                ReferenceCounter.year == int(year),
                ReferenceCounter.last_number == int(number),
            )
            .values(last_number=int(number) - 1)
        )


def case_for_staff(session: Session, *, reference: str, staff: Staff) -> Case | None:
    """The case, if this member of staff may see it (api.auth.scope_of); else None, as if it did not exist."""
    case = session.scalar(select(Case).where(Case.reference == reference))
    return case if case is not None and scope_of(staff).includes(case) else None


# The JSON list's pages: a default and a largest size.
LIST_PAGE_SIZE = 100
LIST_PAGE_MAX = 500

# Only the columns a summary needs: a case's application, letters and chronology stay unread.
_SUMMARY = (
    Case.id,
    Case.reference,
    Case.locality,
    Case.stage,
    Case.received_on,
    Case.next_deadline,
    Case.next_deadline_step,
    Case.step_due_on,
)


@dataclass(frozen=True)
class CasePage:
    """One page of the JSON list: summary rows (the `_SUMMARY` columns) and the cursor of the next page."""

    rows: list[Any]
    next_cursor: str | None


def cases_in_localities(
    session: Session,
    *,
    localities: frozenset[str],
    today: dt.date,
    locality: str | None = None,
    stage: CaseStage | None = None,
    overdue: bool | None = None,
    after: Position | None = None,
    limit: int = LIST_PAGE_SIZE,
    appeals_only: bool = False,
) -> CasePage:
    """A page of the cases of these localities in the staff dashboard's order (the step due first, then
    cases waiting on no deadline, newest first), after the case `after` names. `overdue` true or false: the
    step the case waits on is past its due date (`Case.step_due_on`) or not.

    As the dashboard does, each locality is read on its own from its index `(locality, [stage,]
    step_due_on, id)` and the pages merged, so a page costs the same at any depth and any number of cases.
    """
    found: list[list[tuple[Position, Any]]] = []
    for key in sorted({locality} & localities if locality else localities):
        base = select(*_SUMMARY).where(Case.locality == key)
        if appeals_only:  # the county team (api.auth.scope_of)
            base = base.where(Case.id.in_(select(Appeal.case_id)))
        if stage:
            base = base.where(Case.stage == stage.value)
        found.append(_ahead(session, base, after, limit + 1, today, overdue))
    merged = list(heapq.merge(*found, key=lambda item: item[0]))[: limit + 1]
    page = merged[:limit]
    return CasePage(
        rows=[row for _, row in page],
        next_cursor=page[-1][0].cursor if len(merged) > limit else None,
    )


def _ahead(
    session: Session, base: Any, after: Position | None, limit: int, today: dt.date, overdue: bool | None
) -> list[tuple[Position, Any]]:
    """Up to `limit` rows of one locality after `after`: dated by due date, then undated, newest first."""
    rows: list[Any] = []
    if after is None or not after.undated:
        dated = base.where(Case.step_due_on.is_not(None))
        if overdue is True:
            dated = dated.where(Case.step_due_on < today)
        elif overdue is False:
            dated = dated.where(Case.step_due_on >= today)
        if after is not None:
            dated = dated.where(tuple_(Case.step_due_on, Case.id) > tuple_(after.due_on, after.case_id))
        rows += session.execute(dated.order_by(Case.step_due_on, Case.id).limit(limit)).all()
    if len(rows) < limit and overdue is not True:  # an undated case is never overdue
        undated = base.where(Case.step_due_on.is_(None))
        if after is not None and after.undated:
            undated = undated.where(Case.id < after.case_id)
        rows += session.execute(undated.order_by(Case.id.desc()).limit(limit - len(rows))).all()
    return [(Position.of(row.id, row.step_due_on), row) for row in rows]


def accepted_attachment(session: Session, *, case: Case, attachment_id: int) -> Attachment | None:
    """A file of this case that came with a recorded answer or with the applicant's added information
    (staged files of unrecorded answers are not)."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id or not attachment.accepted:
        return None
    return attachment


# The submissions of information the applicant added from their case page (api.applicant.information).
APPLICANT_INFORMATION = "applicant_information"


def applicant_information_of(session: Session, case: Case) -> list[tuple[Submission, list[Attachment]]]:
    """What the applicant added from their case page, oldest first, each with its file (listed, not read)."""
    added = list(
        session.scalars(
            select(Submission)
            .where(Submission.case_id == case.id, Submission.kind == APPLICANT_INFORMATION)
            .order_by(Submission.submitted_at, Submission.id)
        )
    )
    files: dict[int, list[Attachment]] = {}
    if added:
        for attachment in session.scalars(
            select(Attachment)
            .options(defer(Attachment.content))
            .where(Attachment.submission_id.in_([submission.id for submission in added]))
            .order_by(Attachment.id)
        ):
            assert attachment.submission_id is not None
            files.setdefault(attachment.submission_id, []).append(attachment)
    return [(submission, files.get(submission.id, [])) for submission in added]


def failed_mail_of(
    session: Session, references: list[str] | None, localities: frozenset[str] | None = None
) -> list[OutboxMessage]:
    """Messages that could not be delivered (not retried), of these cases and/or these localities."""
    query = select(OutboxMessage).where(OutboxMessage.status == "failed").order_by(OutboxMessage.id)
    if references is not None:
        query = query.where(OutboxMessage.case_reference.in_(references))
    if localities is not None:
        query = query.join(Case, Case.reference == OutboxMessage.case_reference).where(
            Case.locality.in_(localities)
        )
    return list(session.scalars(query))


def store_submission(
    session: Session, *, case: Case, kind: str, key: str, body: dict[str, Any], submitted_by: str
) -> int:
    """Keep what staff or an agency submitted (texts included) before the workflow hears of it; the id of
    the same submission again when an action is retried with its Idempotency-Key, and 409 if the retry
    carries something else (the workflow would take the first, the record the second)."""
    existing = session.scalar(
        select(Submission).where(Submission.case_id == case.id, Submission.submission_key == key)
    )
    if existing is not None:
        if existing.body != body or existing.kind != kind:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "This Idempotency-Key was already used for a different action or body: use a new key.",
            )
        return existing.id
    submission = Submission(
        case_id=case.id,
        kind=kind,
        submission_key=key,
        body=body,
        submitted_by=submitted_by[:300],
        submitted_at=dt.datetime.now(dt.UTC),
    )
    session.add(submission)
    try:
        session.commit()
    except IntegrityError:  # the same retry, a moment earlier
        session.rollback()
        found = session.scalar(
            select(Submission.id).where(Submission.case_id == case.id, Submission.submission_key == key)
        )
        assert found is not None
        return found
    return submission.id


def forget_submission(session: Session, submission_id: int) -> None:
    """A submission the workflow refused: nothing of it is kept."""
    session.execute(delete(Submission).where(Submission.id == submission_id))
    session.commit()


def store_link_submission(
    sessions: sessionmaker[Session],
    *,
    reference: str,
    kind: str,
    key: str,
    body: dict[str, Any],
    submitted_by: str,
) -> int:
    """What someone without an account sent through their link (an agency's answer, an appeal chair's
    decision), kept before the workflow hears of it."""
    with sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            raise LookupError(f"no case {reference}")
        return store_submission(session, case=case, kind=kind, key=key, body=body, submitted_by=submitted_by)


def forget_link_submission(sessions: sessionmaker[Session], submission_id: int) -> None:
    """A submission through a link that its workflow refused (already answered, closed): nothing of it is
    kept."""
    with sessions() as session:
        forget_submission(session, submission_id)
