"""Activities that keep the case record current: its stage, deadlines, decisions and chronology, and the
state of its information requests (answers, new due dates, waivers).

Each is idempotent, because Temporal runs an activity at least once: chronology entries on (case, event
key); an answer, a due date or a waiver is simply set again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import CaseFiles
from activities.mail import utc_now
from db.models import AccessToken, Case, ChronologyEntry, InformationRequest, Submission
from domain.decisions import DECISION_KINDS, chronology_detail
from domain.links import TokenPurpose, link_expires_at
from workflows.models import AgencyAnswerRecord, CaseProgress, ChronologyEvent, RequestChange


class CaseRecords(CaseFiles):
    """The case row, its chronology, and its information requests' state."""

    def _case_row(self, session: Session, reference: str, lock: bool = False) -> Case:
        """The case's row alone: none of its letters, requests, chronology or appeal is read with it (they
        are loaded with every `Case` otherwise), as a record touches only the row and what it adds. With
        `lock`, locked until the transaction ends (PostgreSQL; SQLite has one writer at a time anyway)."""
        query = select(Case).where(Case.reference == reference).options(lazyload("*"))
        case = session.scalar(query.with_for_update() if lock else query)
        if case is None:
            raise ApplicationError(f"no case {reference}", type="UnknownCase", non_retryable=True)
        return case

    @activity.defn
    def record_progress(self, progress: CaseProgress) -> None:
        with self._sessions.begin() as session:
            # Locked: two records running at once must compare their numbers one after the other.
            case = self._case_row(session, progress.reference, lock=True)
            # Two records scheduled together commit in either order: only the later one's stage and
            # deadlines stand (a decision or a chronology entry belongs to its own record, so it is kept).
            if progress.version is None or progress.version >= (case.record_version or 0):
                if progress.version is not None:
                    case.record_version = progress.version
                case.stage = progress.stage.value
                case.closed_reason = progress.closed_reason.value if progress.closed_reason else None
                for name, day in progress.deadlines.items():
                    if name in ("acknowledge_by", "threshold_decision_by", "outcome_by", "appeal_by"):
                        setattr(case, name, day)
                case.next_deadline = progress.next_deadline
                case.next_deadline_step = progress.next_deadline_step
            for column, value in progress.decisions.items():
                if column not in DECISION_KINDS:
                    raise ApplicationError(f"unknown decision column {column!r}", non_retryable=True)
                submission_id = value.get("submission_id")
                if isinstance(submission_id, int) and len(value) == 1:
                    value = submission_of(session, case, submission_id).body
                setattr(case, column, value)
            case.updated_at = utc_now()
            add_to_chronology(session, case, progress.events)

    @activity.defn
    def record_agency_response(
        self, reference: str, response: AgencyAnswerRecord, answered_on: dt.date
    ) -> None:
        with self._sessions.begin() as session:
            case = self._case_row(session, reference)
            request = session.scalar(
                select(InformationRequest).where(
                    InformationRequest.case_id == case.id,
                    InformationRequest.request_key == response.request_key,
                )
            )
            if request is None:
                raise ApplicationError(f"no information request {response.request_key!r}", non_retryable=True)
            if request.state == "answered":
                return
            request.state = "answered"
            request.answered_on = answered_on
            if response.submission_id is not None:
                request.response = submission_of(session, case, response.submission_id).body
            else:  # an answer from before submissions: its texts came through Temporal
                request.response = response.model_dump(mode="json")
            for attachment in request.attachments:
                if attachment.id in response.attachment_ids:
                    attachment.accepted = True

    @activity.defn
    def record_request_change(self, change: RequestChange) -> None:
        """A new due date (links last longer with it) or a waiver of an information request."""
        with self._sessions.begin() as session:
            case = self._case_row(session, change.reference)
            request = self._request(session, case, change.request_key)
            if change.due_on is not None:
                request.due_on = change.due_on
                expires_at = link_expires_at(change.due_on, change.link_valid_after_due, change.nation)
                for token in session.scalars(
                    select(AccessToken).where(
                        AccessToken.request_id == request.id,
                        AccessToken.purpose == TokenPurpose.AGENCY_LINK.value,
                        AccessToken.revoked_at.is_(None),
                    )
                ):
                    token.expires_at = expires_at
            waived = change.waived or change.waived_reason is not None
            if waived and request.state in ("requested", "no_contact"):
                request.state = "waived"
                if change.submission_id is not None:
                    reasons = submission_of(session, case, change.submission_id).body.get("reasons")
                    request.waived_reason = str(reasons or "")
                else:
                    request.waived_reason = change.waived_reason


def submission_of(session: Session, case: Case, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None or submission.case_id != case.id:
        raise ApplicationError(f"no submission {submission_id} on this case", non_retryable=True)
    return submission


def add_to_chronology(session: Session, case: Case, events: list[ChronologyEvent]) -> None:
    """Add the workflow's entries to the case's chronology, each once (a retried activity brings them
    again, keyed by event)."""
    known = set(session.scalars(select(ChronologyEntry.event_key).where(ChronologyEntry.case_id == case.id)))
    for event in events:
        if event.key not in known:
            actor, text = entry_text(session, case, event)
            session.add(
                ChronologyEntry(case_id=case.id, event_key=event.key, at=event.at, actor=actor, event=text)
            )


def entry_text(session: Session, case: Case, event: ChronologyEvent) -> tuple[str, str]:
    """The chronology entry as staff read it: who submitted it, by name, and the submission's words, from
    the database (the workflow's history carries only the submission's id)."""
    actor = event.actor
    text = event.event
    if event.submission_id is not None:
        submission = submission_of(session, case, event.submission_id)
        actor = submission.submitted_by
        detail = chronology_detail(submission.kind, submission.body)
        if detail:
            text = f"{text} {detail}"
    return actor[:200], text
