"""What the case API answers with: the JSON views of a case, its letters, requests and failed mail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from db.models import Appeal, Attachment, Case, OutboxMessage, Submission
from domain.policy import LocalityPolicy

# The letters of the appeal, as the appeal's view lists them (they are the case's letters too).
APPEAL_LETTERS = ("appeal-received", "letter-4", "letter-5", "letter-6", "update-appeal", "appeal-withdrawn")


class CaseCreated(BaseModel):
    reference: str
    status_url: str


class Deadlines(BaseModel):
    acknowledge_by: dt.date | None
    threshold_decision_by: dt.date | None
    outcome_by: dt.date | None
    appeal_by: dt.date | None


class LetterView(BaseModel):
    code: str
    sequence: int
    sent_on: dt.date
    channel: str
    status: str


class AttachmentView(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class InformationRequestView(BaseModel):
    request_key: str
    purpose: str
    agency: str
    agency_email: str | None
    requested_on: dt.date
    due_on: dt.date
    # requested, answered, waived, or no_contact (no address in the policy: ask by hand).
    state: str
    # The latest email: pending, sent, failed (resend it to another address), or none.
    delivery: str
    resent_count: int
    answered_on: dt.date | None
    response: dict[str, Any] | None
    waived_reason: str | None
    attachments: list[AttachmentView]


class ApplicantInformationView(BaseModel):
    """Information the applicant added from their case page, as they wrote it, with their document."""

    submission_id: int
    submitted_at: dt.datetime
    # "" when they sent only a document.
    text: str
    attachments: list[AttachmentView]


class FailedMailView(BaseModel):
    case_reference: str | None
    purpose: str
    recipient: str
    subject: str
    error: str | None
    recorded_at: dt.datetime
    attempts: int


class ChronologyView(BaseModel):
    at: dt.datetime
    actor: str
    event: str


class AppealGround(BaseModel):
    number: int
    text: str


class AppealDeadlines(BaseModel):
    name_chair_by: dt.date | None
    bundle_by: dt.date | None
    acknowledge_by: dt.date | None
    decision_by: dt.date | None


class AppealLetterView(BaseModel):
    code: str
    sequence: int
    sent_on: dt.date
    channel: str


class AppealView(BaseModel):
    """A case's appeal: its own workflow, `Appeal:<reference>`."""

    workflow_id: str
    # appeal_consent_requested, appeal_chair_requested, appeal_chair_named, appeal_acknowledged,
    # appeal_panel, appeal_decided or appeal_withdrawn.
    stage: str
    # criteria_not_met, upheld, not_upheld or withdrawn, once it has ended.
    result: str | None
    route: str
    received_on: dt.date
    grounds: list[AppealGround]
    needs_consent: bool
    # Who hears it (name only), once named.
    chair: str | None
    deadlines: AppealDeadlines
    next_deadline: dt.date | None
    next_deadline_step: str | None
    decisions: dict[str, dict[str, Any] | None]
    letters: list[AppealLetterView]
    chronology: list[ChronologyView]


class CaseView(BaseModel):
    reference: str
    locality: str
    stage: str
    closed_reason: str | None
    received_on: dt.date
    next_deadline: dt.date | None
    next_deadline_step: str | None
    deadlines: Deadlines
    assessment: dict[str, Any]
    application: dict[str, Any]
    decisions: dict[str, dict[str, Any] | None]
    letters: list[LetterView]
    information_requests: list[InformationRequestView]
    # What the applicant added from their case page, oldest first.
    applicant_information: list[ApplicantInformationView] = []
    # Emails of this case that could not be delivered (not retried): act on each by hand.
    failed_mail: list[FailedMailView]
    chronology: list[ChronologyView]
    # Once a request for appeal starts one.
    appeal: AppealView | None = None


class CaseSummary(BaseModel):
    reference: str
    locality: str
    stage: str
    received_on: dt.date
    next_deadline: dt.date | None
    next_deadline_step: str | None
    overdue: bool


def appeal_view(case: Case, appeal: Appeal, policy: LocalityPolicy) -> AppealView:
    grounds = policy.appeal.grounds
    return AppealView(
        workflow_id=f"Appeal:{case.reference}",
        stage=appeal.stage,
        result=appeal.result,
        route=appeal.route,
        received_on=appeal.received_on,
        grounds=[
            AppealGround(number=number, text=grounds[number - 1] if 0 < number <= len(grounds) else "")
            for number in appeal.grounds
        ],
        needs_consent=appeal.needs_consent,
        chair=appeal.chair_name,
        deadlines=AppealDeadlines(
            name_chair_by=appeal.name_chair_by,
            bundle_by=appeal.bundle_by,
            acknowledge_by=appeal.acknowledge_by,
            decision_by=appeal.decision_by,
        ),
        next_deadline=appeal.next_deadline,
        next_deadline_step=appeal.next_deadline_step,
        decisions={
            "consent": appeal.consent,
            "chair": appeal.chair,
            "acknowledgement": appeal.acknowledgement,
            "criteria": appeal.criteria,
            "panel": appeal.panel,
            "decision": appeal.decision,
            "withdrawal": appeal.withdrawal,
        },
        letters=[
            AppealLetterView(
                code=letter.code, sequence=letter.sequence, sent_on=letter.sent_on, channel=letter.channel
            )
            for letter in case.letters
            if letter.code in APPEAL_LETTERS
        ],
        chronology=[
            ChronologyView(at=entry.at, actor=entry.actor, event=entry.event)
            for entry in case.chronology
            if entry.event_key.startswith("appeal-")
        ],
    )


def attachment_view(case: Case, attachment: Attachment) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        url=f"/api/cases/{case.reference}/attachments/{attachment.id}",
    )


def case_view(
    case: Case,
    failed_mail: list[OutboxMessage],
    policy: LocalityPolicy,
    applicant_information: Sequence[tuple[Submission, Sequence[Attachment]]] = (),
) -> CaseView:
    return CaseView(
        reference=case.reference,
        locality=case.locality,
        stage=case.stage,
        closed_reason=case.closed_reason,
        received_on=case.received_on,
        next_deadline=case.next_deadline,
        next_deadline_step=case.next_deadline_step,
        deadlines=Deadlines(
            acknowledge_by=case.acknowledge_by,
            threshold_decision_by=case.threshold_decision_by,
            outcome_by=case.outcome_by,
            appeal_by=case.appeal_by,
        ),
        assessment=case.assessment,
        application=case.application,
        decisions={
            "threshold_decision": case.threshold_decision,
            "review_meeting": case.review_meeting,
            "impact_statement": case.impact_statement,
            "panel_decision": case.panel_decision,
            "appeal_request": case.appeal_request,
            "appeal_outcome": case.appeal_outcome,
            "withdrawal": case.withdrawal,
        },
        letters=[
            LetterView(
                code=letter.code,
                sequence=letter.sequence,
                sent_on=letter.sent_on,
                channel=letter.channel,
                status=letter.status,
            )
            for letter in case.letters
        ],
        information_requests=[
            InformationRequestView(
                request_key=r.request_key,
                purpose=r.purpose,
                agency=r.agency_name,
                agency_email=r.agency_email,
                requested_on=r.requested_on,
                due_on=r.due_on,
                state=r.state,
                delivery=r.delivery,
                resent_count=r.resent_count,
                answered_on=r.answered_on,
                response=r.response,
                waived_reason=r.waived_reason,
                attachments=[attachment_view(case, a) for a in r.attachments if a.accepted],
            )
            for r in case.information_requests
        ],
        applicant_information=[
            ApplicantInformationView(
                submission_id=submission.id,
                submitted_at=submission.submitted_at,
                text=str(submission.body.get("text") or ""),
                attachments=[attachment_view(case, a) for a in attachments if a.accepted],
            )
            for submission, attachments in applicant_information
        ],
        failed_mail=[failed_mail_view(message) for message in failed_mail],
        chronology=[
            ChronologyView(at=entry.at, actor=entry.actor, event=entry.event) for entry in case.chronology
        ],
        appeal=appeal_view(case, case.appeal, policy) if case.appeal is not None else None,
    )


def failed_mail_view(message: OutboxMessage) -> FailedMailView:
    return FailedMailView(
        case_reference=message.case_reference,
        purpose=message.purpose,
        recipient=message.recipient,
        subject=message.subject,
        error=message.last_error,
        recorded_at=message.created_at,
        attempts=message.attempts,
    )


def case_summary(case: Case | Any, today: dt.date) -> CaseSummary:
    """A case, or a row of its summary columns (`api.case_store.cases_in_localities`), as listed."""
    return CaseSummary(
        reference=case.reference,
        locality=case.locality,
        stage=case.stage,
        received_on=case.received_on,
        next_deadline=case.next_deadline,
        next_deadline_step=case.next_deadline_step,
        overdue=case.step_due_on is not None and case.step_due_on < today,
    )
