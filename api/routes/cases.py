"""The case API: apply, read a case, list cases, and the staff decisions that move a case on."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import SessionDep, Staff, StaffDep, audit
from api.deps import PoliciesDep, SettingsDep, TodayDep
from api.errors import invalid
from core.config import Settings
from db.models import Attachment, Case, OutboxMessage, ReferenceCounter
from db.session import session_factory
from domain.application import Application
from domain.policy import LocalityPolicy
from domain.staff import Permission
from domain.threshold import ThresholdAssessment, assess, check_application
from workflows.case import CaseWorkflow, search_attributes_at_start
from workflows.models import (
    ActionResult,
    AgencyResponse,
    AppealOutcome,
    AppealRequest,
    CaseInput,
    CaseRules,
    CaseStage,
    ExtendRequest,
    ImpactStatement,
    ImpactStatementMethod,
    PanelDecision,
    ResendRequest,
    ReviewMeeting,
    ThresholdDecision,
    WaiveRequest,
    Withdrawal,
    case_workflow_id,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/cases", tags=["cases"])

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


# ---- response models -------------------------------------------------------------------------


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
    # Emails of this case that could not be delivered (not retried): act on each by hand.
    failed_mail: list[FailedMailView]
    chronology: list[ChronologyView]


class CaseSummary(BaseModel):
    reference: str
    locality: str
    stage: str
    received_on: dt.date
    next_deadline: dt.date | None
    next_deadline_step: str | None
    overdue: bool


# ---- applying --------------------------------------------------------------------------------


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


def _next_reference(session: Session, policy: LocalityPolicy, year: int) -> str:
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


def _store_case(
    settings: Settings,
    application: Application,
    policy: LocalityPolicy,
    received_on: dt.date,
    assessment: ThresholdAssessment,
    idempotency_key: str | None,
) -> tuple[str, bool]:
    """Store the application as a new case; with a known idempotency key, return that case instead."""
    stored = application.model_copy(update={"received_on": received_on}).model_dump(mode="json")
    sessions = session_factory(settings.database_url)
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
            reference = _next_reference(session, policy, received_on.year)
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
            return _store_case(settings, application, policy, received_on, assessment, idempotency_key)
        raise
    return reference, True


def _forget_case(settings: Settings, reference: str) -> None:
    with session_factory(settings.database_url).begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is not None:
            session.delete(case)


def temporal_client(request: Request) -> Client:
    client: Client | None = request.app.state.temporal.client
    if client is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is starting or unavailable; nothing was saved. Please try again shortly.",
        )
    return client


TemporalDep = Annotated[Client, Depends(temporal_client)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseCreated,
    summary="Apply for a Community Trigger",
    description=(
        "Validates the application exactly as `/api/eligibility` does, stores it, gives it a reference "
        "and starts its case. Send an `Idempotency-Key` header (8-64 letters, digits, `-_.:`) so that a "
        "retry returns the same case instead of opening a second one."
    ),
    responses={
        409: {"description": "Idempotency-Key reused for a different application"},
        422: {"description": "A field to correct"},
        503: {"description": "Try again shortly"},
    },
)
async def apply(
    application: Application,
    response: Response,
    request: Request,
    settings: SettingsDep,
    policies: PoliciesDep,
    today: TodayDep,
    client: TemporalDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> CaseCreated:
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise invalid(
            (
                ("header", "Idempotency-Key"),
                "Idempotency-Key must be 8 to 64 letters, digits, hyphens, underscores, dots or colons",
            )
        )
    problems = check_application(application, today=today, policies=policies)
    if problems:
        raise invalid(*((problem.loc, problem.msg) for problem in problems))
    policy = policies[application.locality]
    received_on = application.received_on or today
    assessment = assess(application, policy.threshold, received_on)
    reference, created = await run_in_threadpool(
        _store_case, settings, application, policy, received_on, assessment, idempotency_key
    )
    try:
        await client.start_workflow(
            CaseWorkflow.run,
            CaseInput(
                reference=reference, locality=policy.key, received_on=received_on, rules=rules_for(policy)
            ),
            id=case_workflow_id(reference),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=search_attributes_at_start(reference, policy.key),
        )
    except WorkflowAlreadyStartedError as error:
        if created:
            # A new case whose reference already has a workflow: the database and Temporal disagree
            # (say, a database restored without Temporal). Keep nothing rather than join another case.
            await run_in_threadpool(_forget_case, settings, reference)
            log.error("case reference %s already has a workflow; application not saved", reference)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The case service could not open a case; your application was not saved. Please try "
                "again shortly.",
            ) from error
        # Otherwise: a retry of an application whose case is already running.
    except RPCError as error:
        if created:
            # Nothing half-written: a case that could not start is not kept.
            await run_in_threadpool(_forget_case, settings, reference)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is unavailable; your application was not saved. Please try again shortly.",
        ) from error
    status_url = str(request.url_for("read_case", reference=reference))
    response.headers["Location"] = status_url
    if not created:
        response.status_code = status.HTTP_200_OK
    return CaseCreated(reference=reference, status_url=status_url)


# ---- reading ---------------------------------------------------------------------------------


def _case_for(session: Session, staff: Staff, reference: str) -> Case:
    case = session.scalar(select(Case).where(Case.reference == reference))
    # A case outside the staff member's localities is as good as absent: 404, not 403.
    if case is None or case.locality not in staff.localities:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No case {reference}.")
    return case


@router.get("/{reference}", response_model=CaseView, name="read_case", summary="Read a case")
def read_case(reference: str, staff: StaffDep, session: SessionDep) -> CaseView:
    staff.require(Permission.VIEW_CASE)
    case = _case_for(session, staff, reference)
    audit(session, staff, "view_case", case.reference)
    session.commit()
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
                attachments=[
                    AttachmentView(
                        id=a.id,
                        filename=a.filename,
                        content_type=a.content_type,
                        size=a.size,
                        url=f"/api/cases/{case.reference}/attachments/{a.id}",
                    )
                    for a in r.attachments
                    if a.accepted
                ],
            )
            for r in case.information_requests
        ],
        failed_mail=[failed_mail_view(m) for m in failed_mail_of(session, [case.reference])],
        chronology=[
            ChronologyView(at=entry.at, actor=entry.actor, event=entry.event) for entry in case.chronology
        ],
    )


def failed_mail_of(
    session: Session, references: list[str] | None, localities: frozenset[str] | None = None
) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.status == "failed").order_by(OutboxMessage.id)
    if references is not None:
        query = query.where(OutboxMessage.case_reference.in_(references))
    if localities is not None:
        query = query.join(Case, Case.reference == OutboxMessage.case_reference).where(
            Case.locality.in_(localities)
        )
    return list(session.scalars(query))


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


@router.get(
    "/{reference}/attachments/{attachment_id}",
    summary="Download a file an agency attached to its answer",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(reference: str, attachment_id: int, staff: StaffDep, session: SessionDep) -> Response:
    staff.require(Permission.VIEW_CASE)
    case = _case_for(session, staff, reference)
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id or not attachment.accepted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such attachment on this case.")
    audit(session, staff, "download_attachment", case.reference, f"attachment #{attachment.id}")
    session.commit()
    return Response(
        content=attachment.content,
        media_type=attachment.content_type,
        headers={
            # Always a download, never shown inline: the file came from outside.
            "Content-Disposition": f'attachment; filename="attachment-{attachment.id}"; '
            f"filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get("", response_model=list[CaseSummary], summary="List cases of your localities")
def list_cases(
    staff: StaffDep,
    session: SessionDep,
    today: TodayDep,
    locality: str | None = None,
    stage: CaseStage | None = None,
    overdue: Annotated[
        bool | None, Query(description="Only cases past (true) or within (false) their deadline")
    ] = None,
) -> list[CaseSummary]:
    staff.require(Permission.VIEW_CASE)
    query = select(Case).where(Case.locality.in_(staff.localities)).order_by(Case.received_on, Case.id)
    if locality:
        query = query.where(Case.locality == locality)
    if stage:
        query = query.where(Case.stage == stage.value)
    if overdue is True:
        query = query.where(Case.next_deadline < today)
    elif overdue is False:
        query = query.where((Case.next_deadline.is_(None)) | (Case.next_deadline >= today))
    cases = session.scalars(query).all()
    audit(session, staff, "list_cases", None, f"{len(cases)} cases")
    session.commit()
    return [
        CaseSummary(
            reference=c.reference,
            locality=c.locality,
            stage=c.stage,
            received_on=c.received_on,
            next_deadline=c.next_deadline,
            next_deadline_step=c.next_deadline_step,
            overdue=c.next_deadline is not None and c.next_deadline < today,
        )
        for c in cases
    ]


# ---- staff decisions (Temporal updates) ------------------------------------------------------


async def _act(
    client: Client,
    session: Session,
    staff: Staff,
    reference: str,
    permission: Permission,
    update: Any,
    payload: BaseModel,
) -> ActionResult:
    staff.require(permission)
    await run_in_threadpool(_case_for, session, staff, reference)
    handle = client.get_workflow_handle(case_workflow_id(reference))
    try:
        result: ActionResult = await handle.execute_update(update, args=[staff.actor, payload])
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise HTTPException(status.HTTP_409_CONFLICT, message) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "The case is closed; nothing more can be recorded."
            ) from error
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is unavailable; nothing was recorded. Please try again.",
        ) from error
    audit(session, staff, update.__name__, reference)
    await run_in_threadpool(session.commit)
    return result


@router.post(
    "/{reference}/agency-responses",
    response_model=ActionResult,
    summary="Record an agency's answer to an information request",
)
async def agency_response(
    reference: str, answer: AgencyResponse, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.RECORD_AGENCY_RESPONSE,
        CaseWorkflow.agency_response,
        answer,
    )


@router.post(
    "/{reference}/information-requests/resend",
    response_model=ActionResult,
    summary="Send an information request again with a new link (earlier links stop working)",
)
async def resend_request(
    reference: str, resend: ResendRequest, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.MANAGE_INFORMATION_REQUESTS,
        CaseWorkflow.resend_request,
        resend,
    )


@router.post(
    "/{reference}/information-requests/extend",
    response_model=ActionResult,
    summary="Give an agency longer to answer (its link lasts longer too)",
)
async def extend_request(
    reference: str, extension: ExtendRequest, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.MANAGE_INFORMATION_REQUESTS,
        CaseWorkflow.extend_request,
        extension,
    )


@router.post(
    "/{reference}/information-requests/waive",
    response_model=ActionResult,
    summary="Proceed without an agency's answer, with reasons (a late answer is still recorded)",
)
async def waive_request(
    reference: str, waiver: WaiveRequest, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.MANAGE_INFORMATION_REQUESTS,
        CaseWorkflow.waive_request,
        waiver,
    )


@router.post(
    "/{reference}/threshold-decision",
    response_model=ActionResult,
    summary="Record whether the threshold is met (Letter 2a/2b or a rejection follows)",
)
async def threshold_decision(
    reference: str, decision: ThresholdDecision, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.DECIDE_THRESHOLD,
        CaseWorkflow.threshold_decision,
        decision,
    )


@router.post(
    "/{reference}/review-meeting",
    response_model=ActionResult,
    summary="Schedule (or reschedule) the multi-agency review meeting",
)
async def review_meeting(
    reference: str, meeting: ReviewMeeting, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client, session, staff, reference, Permission.ARRANGE_REVIEW, CaseWorkflow.review_meeting, meeting
    )


@router.post(
    "/{reference}/impact-statement",
    response_model=ActionResult,
    summary="Record how the applicant will give a personal impact statement",
    description="In person: `minutes` up to the locality's limit (LLR: 30), which is also the default.",
)
async def impact_statement(
    reference: str,
    statement: ImpactStatement,
    staff: StaffDep,
    session: SessionDep,
    client: TemporalDep,
    policies: PoliciesDep,
) -> ActionResult:
    case = await run_in_threadpool(_case_for, session, staff, reference)
    limit = policies[case.locality].impact_statement.in_person_minutes
    if statement.method == ImpactStatementMethod.IN_PERSON:
        if statement.minutes is not None and statement.minutes > limit:
            raise invalid((("body", "minutes"), f"An in-person statement can be up to {limit} minutes"))
        statement = statement.model_copy(update={"minutes": statement.minutes or limit})
    return await _act(
        client, session, staff, reference, Permission.ARRANGE_REVIEW, CaseWorkflow.impact_statement, statement
    )


@router.post(
    "/{reference}/panel-decision",
    response_model=ActionResult,
    summary="Record the panel's findings and action plan (Letter 3 follows)",
)
async def panel_decision(
    reference: str, decision: PanelDecision, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.RECORD_PANEL_DECISION,
        CaseWorkflow.panel_decision,
        decision,
    )


@router.post(
    "/{reference}/withdraw",
    response_model=ActionResult,
    summary="Withdraw the application (a confirmation letter follows and the case closes)",
)
async def withdraw(
    reference: str, withdrawal: Withdrawal, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client, session, staff, reference, Permission.WITHDRAW, CaseWorkflow.withdraw, withdrawal
    )


class AppealRequestBody(BaseModel):
    received_on: dt.date | None = Field(
        default=None, description="Date the written request arrived; today if left out."
    )
    grounds: str = Field(min_length=1, max_length=10000)


@router.post(
    "/{reference}/appeal-request",
    response_model=ActionResult,
    summary="Record the applicant's written request for appeal, with its grounds",
)
async def appeal_request(
    reference: str,
    body: AppealRequestBody,
    staff: StaffDep,
    session: SessionDep,
    client: TemporalDep,
    today: TodayDep,
) -> ActionResult:
    received_on = body.received_on or today
    if received_on > today:
        raise invalid((("body", "received_on"), "The date the request arrived must be today or in the past"))
    return await _act(
        client,
        session,
        staff,
        reference,
        Permission.RECORD_APPEAL,
        CaseWorkflow.appeal_request,
        AppealRequest(received_on=received_on, grounds=body.grounds),
    )


@router.post(
    "/{reference}/appeal-outcome",
    response_model=ActionResult,
    summary="Record the appeal's outcome (until the appeal process runs in this service)",
)
async def appeal_outcome(
    reference: str, outcome: AppealOutcome, staff: StaffDep, session: SessionDep, client: TemporalDep
) -> ActionResult:
    return await _act(
        client, session, staff, reference, Permission.RECORD_APPEAL, CaseWorkflow.appeal_outcome, outcome
    )
