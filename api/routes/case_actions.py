"""The staff decisions that move a case on (agency answers by phone, information requests, the threshold
decision, the review, the panel, withdrawal, appeals), each sent to the case's workflow as an update.

Each is applied once per Idempotency-Key, and none waits longer than `case_updates.UPDATE_TIMEOUT`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import case_updates
from api.audit import add_audit
from api.case_store import forget_submission, store_submission
from api.deps import CaseAction, PoliciesDep, TodayDep, case_action
from api.errors import invalid
from domain.decisions import (
    AgencyResponse,
    AppealOutcome,
    AppealRequest,
    ExtendRequest,
    ImpactStatement,
    ImpactStatementMethod,
    PanelDecision,
    ResendRequest,
    ReviewMeeting,
    ThresholdDecision,
    WaiveRequest,
    Withdrawal,
)
from domain.policy import LocalityPolicy
from domain.staff import Permission
from workflows.case import CaseWorkflow
from workflows.models import (
    ActionResult,
    Actor,
    AgencyAnswerRecord,
    AppealOutcomeRecord,
    AppealRequestRecord,
    AppealRules,
    ExtendRecord,
    ImpactStatementRecord,
    PanelDecisionRecord,
    ResendRecord,
    ReviewMeetingRecord,
    ThresholdDecisionRecord,
    WaiveRecord,
    WithdrawalRecord,
    case_workflow_id,
)

# How long a client should wait before retrying after the case service did not answer in time.
RETRY_AFTER_SECONDS = 5
NOT_ANSWERED_IN_TIME = (
    "The case service did not answer in time. Your action may still be applied; retry with the same "
    "Idempotency-Key and it will be applied once."
)

router = APIRouter(
    prefix="/api/cases",
    tags=["cases"],
    responses={
        409: {
            "description": "Not possible at the case's stage (the message says why), or the case is closed"
        },
        503: {
            "description": (
                "The case service is unavailable, or did not answer in time: retry after `Retry-After` "
                "seconds with the same `Idempotency-Key`"
            )
        },
    },
)


def as_record(model: type[BaseModel], body: BaseModel) -> Callable[[int], BaseModel]:
    """The workflow's view of a submission: its enums and dates (the record model ignores the texts)."""
    return lambda submission_id: model.model_validate({**body.model_dump(), "submission_id": submission_id})


async def record(
    action: CaseAction,
    update: Any,
    body: BaseModel,
    kind: str,
    record_of: Callable[[int], BaseModel],
    *,
    workflow_id: str | None = None,
    submitted_by: str | None = None,
) -> Any:
    """Keep the submission (its texts) in the database, send the workflow (the case's, or `workflow_id`:
    its appeal's) only its id with the enums and dates it decides by, and audit it; the HTTP answer for
    each way it can fail."""
    reference = action.case.reference
    name: str = update.__name__
    key_header = {"Idempotency-Key": action.idempotency_key}
    # Per staff member, so that two people who happen to choose the same key never share a result.
    update_id = case_updates.update_id_for(name, str(action.staff.id), action.idempotency_key)
    submission_id = await run_in_threadpool(
        store_submission,
        action.session,
        case=action.case,
        kind=kind,
        key=update_id,
        body=body.model_dump(mode="json"),
        # As the chronology names them.
        submitted_by=submitted_by or f"{action.staff.name} ({action.staff.role})",
    )
    try:
        result = await case_updates.execute_workflow_update(
            action.client,
            workflow_id or case_workflow_id(reference),
            update,
            # Staff by id: the chronology's activity names them from the staff table.
            args=[Actor(user_id=action.staff.id, role=action.staff.role), record_of(submission_id)],
            update_id=update_id,
        )
    except WorkflowUpdateFailedError as error:
        # Refused: nothing of it is kept.
        await run_in_threadpool(forget_submission, action.session, submission_id)
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise HTTPException(status.HTTP_409_CONFLICT, message, headers=key_header) from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            NOT_ANSWERED_IN_TIME,
            headers={**key_header, "Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            await run_in_threadpool(forget_submission, action.session, submission_id)
            if workflow_id is not None and action.case.appeal is None:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    "The appeal is still starting; nothing was recorded. Please try again in a moment.",
                    headers={**key_header, "Retry-After": str(RETRY_AFTER_SECONDS)},
                ) from error
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "The case is closed; nothing more can be recorded."
                if workflow_id is None
                else "The appeal has ended (or has not started); nothing more can be recorded.",
                headers=key_header,
            ) from error
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is unavailable; nothing was recorded. Please try again.",
            headers={**key_header, "Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from error
    add_audit(action.session, actor=action.staff.label, action=name, case_reference=reference)
    await run_in_threadpool(action.session.commit)
    return result


@router.post(
    "/{reference}/agency-responses",
    response_model=ActionResult,
    summary="Record an agency's answer to an information request",
)
async def agency_response(
    answer: AgencyResponse,
    action: Annotated[CaseAction, case_action(Permission.RECORD_AGENCY_RESPONSE)],
) -> ActionResult:
    return await record(
        action, CaseWorkflow.agency_response, answer, "agency_response", as_record(AgencyAnswerRecord, answer)
    )


@router.post(
    "/{reference}/information-requests/resend",
    response_model=ActionResult,
    summary="Send an information request again with a new link (earlier links stop working)",
)
async def resend_request(
    resend: ResendRequest,
    action: Annotated[CaseAction, case_action(Permission.MANAGE_INFORMATION_REQUESTS)],
) -> ActionResult:
    return await record(
        action,
        CaseWorkflow.resend_request,
        resend,
        "resend",
        lambda sid: ResendRecord(
            request_key=resend.request_key, to_another_address=bool(resend.to), submission_id=sid
        ),
    )


@router.post(
    "/{reference}/information-requests/extend",
    response_model=ActionResult,
    summary="Give an agency longer to answer (its link lasts longer too)",
)
async def extend_request(
    extension: ExtendRequest,
    action: Annotated[CaseAction, case_action(Permission.MANAGE_INFORMATION_REQUESTS)],
) -> ActionResult:
    return await record(
        action, CaseWorkflow.extend_request, extension, "extension", as_record(ExtendRecord, extension)
    )


@router.post(
    "/{reference}/information-requests/waive",
    response_model=ActionResult,
    summary="Proceed without an agency's answer, with reasons (a late answer is still recorded)",
)
async def waive_request(
    waiver: WaiveRequest,
    action: Annotated[CaseAction, case_action(Permission.MANAGE_INFORMATION_REQUESTS)],
) -> ActionResult:
    return await record(action, CaseWorkflow.waive_request, waiver, "waiver", as_record(WaiveRecord, waiver))


@router.post(
    "/{reference}/threshold-decision",
    response_model=ActionResult,
    summary="Record whether the threshold is met (Letter 2a/2b or a rejection follows)",
)
async def threshold_decision(
    decision: ThresholdDecision,
    action: Annotated[CaseAction, case_action(Permission.DECIDE_THRESHOLD)],
) -> ActionResult:
    return await record(
        action,
        CaseWorkflow.threshold_decision,
        decision,
        "threshold_decision",
        as_record(ThresholdDecisionRecord, decision),
    )


@router.post(
    "/{reference}/review-meeting",
    response_model=ActionResult,
    summary="Schedule (or reschedule) the multi-agency review meeting",
)
async def review_meeting(
    meeting: ReviewMeeting,
    action: Annotated[CaseAction, case_action(Permission.ARRANGE_REVIEW)],
) -> ActionResult:
    return await record(
        action,
        CaseWorkflow.review_meeting,
        meeting,
        "review_meeting",
        as_record(ReviewMeetingRecord, meeting),
    )


@router.post(
    "/{reference}/impact-statement",
    response_model=ActionResult,
    summary="Record how the applicant will give a personal impact statement",
    description="In person: `minutes` up to the locality's limit (LLR: 30), which is also the default.",
)
async def impact_statement(
    statement: ImpactStatement,
    action: Annotated[CaseAction, case_action(Permission.ARRANGE_REVIEW)],
    policies: PoliciesDep,
) -> ActionResult:
    limit = policies[action.case.locality].impact_statement.in_person_minutes
    if statement.method == ImpactStatementMethod.IN_PERSON:
        if statement.minutes is not None and statement.minutes > limit:
            raise invalid((("body", "minutes"), f"An in-person statement can be up to {limit} minutes"))
        statement = statement.model_copy(update={"minutes": statement.minutes or limit})
    return await record(
        action,
        CaseWorkflow.impact_statement,
        statement,
        "impact_statement",
        as_record(ImpactStatementRecord, statement),
    )


@router.post(
    "/{reference}/panel-decision",
    response_model=ActionResult,
    summary="Record the panel's findings and action plan (Letter 3 follows)",
)
async def panel_decision(
    decision: PanelDecision,
    action: Annotated[CaseAction, case_action(Permission.RECORD_PANEL_DECISION)],
) -> ActionResult:
    return await record(
        action,
        CaseWorkflow.panel_decision,
        decision,
        "panel_decision",
        lambda sid: PanelDecisionRecord(
            recommendation_count=len(decision.recommendations), submission_id=sid
        ),
    )


@router.post(
    "/{reference}/withdraw",
    response_model=ActionResult,
    summary="Withdraw the application (a confirmation letter follows and the case closes)",
)
async def withdraw(
    withdrawal: Withdrawal,
    action: Annotated[CaseAction, case_action(Permission.WITHDRAW)],
) -> ActionResult:
    return await record(
        action, CaseWorkflow.withdraw, withdrawal, "withdrawal", as_record(WithdrawalRecord, withdrawal)
    )


class AppealRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    received_on: dt.date | None = Field(
        default=None, description="Date the written request arrived; today if left out."
    )
    grounds: list[int] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "The numbers (1, 2, ...) of the locality's grounds for appeal that the applicant says apply "
            "(LLR: 1, the review failed to consider a relevant process, policy or protocol; 2, it failed "
            "to consider relevant factual information). At least one where the policy lists grounds."
        ),
    )
    explanation: str = Field(
        min_length=1, max_length=10000, description="How the grounds are met, in the applicant's words."
    )
    consent_received: bool = Field(
        default=False,
        description=(
            "For an application made for the victim by someone else: the victim's signed consent to the "
            "appeal came with the request. Without it the appeal waits for the SPOC to record it."
        ),
    )


@router.post(
    "/{reference}/appeal-request",
    response_model=ActionResult,
    summary="Record the applicant's written request for appeal, with its grounds (the appeal starts)",
    description=(
        "Inside the appeal window only. The appeal then runs as its own workflow, `Appeal:<reference>`: "
        "see the `/appeal/...` actions."
    ),
)
async def appeal_request(
    body: AppealRequestBody,
    action: Annotated[CaseAction, case_action(Permission.RECORD_APPEAL)],
    today: TodayDep,
    policies: PoliciesDep,
) -> ActionResult:
    received_on = body.received_on or today
    if received_on > today:
        raise invalid((("body", "received_on"), "The date the request arrived must be today or in the past"))
    policy = policies[action.case.locality]
    problem = appeal_grounds_problem(policy, body.grounds)
    if problem is not None:
        raise invalid((("body", "grounds"), problem))
    request = AppealRequest(
        received_on=received_on,
        grounds=body.grounds,
        explanation=body.explanation,
        consent_received=body.consent_received,
    )
    return await record(
        action,
        CaseWorkflow.appeal_request,
        request,
        "appeal_request",
        appeal_request_record(
            policy, request, for_someone_else=bool(action.case.application.get("on_behalf_of"))
        ),
    )


def appeal_grounds_problem(policy: LocalityPolicy, numbers: list[int]) -> str | None:
    """What is wrong with the ground numbers a request for appeal names, against the locality's grounds;
    None when nothing is. The SPOC's request and the applicant's own (api.routes.case_pages) both ask."""
    grounds = policy.appeal.grounds
    if grounds and not numbers:
        listed = "; ".join(f"{number}: {text}" for number, text in enumerate(grounds, start=1))
        return f"Name at least one of the grounds for appeal ({listed})"
    unknown = [number for number in numbers if not 1 <= number <= len(grounds)]
    if unknown:
        return (
            f"There is no ground {', '.join(map(str, unknown))}: this area's grounds are numbered "
            f"1 to {len(grounds)}"
            if grounds
            else "This area lists no grounds for appeal: leave grounds empty and explain in explanation"
        )
    if len(set(numbers)) != len(numbers):
        return "Name each ground once"
    return None


def appeal_request_record(
    policy: LocalityPolicy, request: AppealRequest, *, for_someone_else: bool
) -> Callable[[int], AppealRequestRecord]:
    """The case workflow's view of a request for appeal (whoever sent it): its date, the ground numbers,
    whether a representative's appeal still waits for the victim's consent, and the policy's rules."""
    return lambda submission_id: AppealRequestRecord(
        received_on=request.received_on,
        submission_id=submission_id,
        ground_numbers=list(request.grounds),
        needs_consent=for_someone_else and not request.consent_received,
        rules=appeal_rules(policy),
    )


def appeal_rules(policy: LocalityPolicy) -> AppealRules:
    """The numbers and route an appeal runs by, from the locality's policy as it is today."""
    appeal = policy.appeal
    return AppealRules(
        route=appeal.route.value,
        name_chair=appeal.name_chair,
        consent_chase_interval=appeal.consent_chase_interval,
        send_bundle=appeal.send_bundle,
        acknowledge=appeal.acknowledge,
        outcome=appeal.outcome,
        update_interval=appeal.update_interval,
        spoc_reminder_before=policy.deadlines.spoc_reminder_before,
        link_valid_after_due=policy.deadlines.agency_link_valid_after_due,
    )


@router.post(
    "/{reference}/appeal-outcome",
    response_model=ActionResult,
    summary="Record the outcome of an appeal that does not run as its own workflow",
    description=(
        "For cases that reached their appeal before appeals ran as workflows (and an appeal whose "
        "workflow was ended by hand): the SPOC records the outcome. Any other appeal answers 409: its "
        "chair decides (see `/appeal/...`)."
    ),
)
async def appeal_outcome(
    outcome: AppealOutcome,
    action: Annotated[CaseAction, case_action(Permission.RECORD_APPEAL)],
) -> ActionResult:
    return await record(
        action,
        CaseWorkflow.appeal_outcome,
        outcome,
        "appeal_outcome",
        as_record(AppealOutcomeRecord, outcome),
    )
