"""The staff decisions that move a case on, one function each, for the JSON API (api.routes.case_actions)
and the staff pages (api.routes.staff_actions) alike: what is checked against the locality's policy, what
is kept (the submission, with its texts), which workflow update it becomes, and why it was not recorded.

A decision that is not recorded raises a `NotRecorded`: `InvalidDecision` (a field to correct, nothing
written), `DecisionRefused` (it no longer fits the case's stage, or the case is closed: nothing written),
or `CaseServiceUnavailable` (Temporal did not answer: retry with the same key and it is applied once).
The API answers them 422, 409 and 503; the pages show them on the form. The appeal's decisions are in
api.appeal_decisions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import case_updates
from api.audit import add_audit
from api.case_store import forget_submission, store_submission
from api.deps import CaseAction
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

NOT_ANSWERED_IN_TIME = (
    "The case service did not answer in time. Your action may still be applied; retry with the same "
    "Idempotency-Key and it will be applied once."
)

# ---- why a decision was not recorded ------------------------------------------------------------


class NotRecorded(Exception):
    """A decision that was not recorded (or, `uncertain`, may yet be): `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDecision(NotRecorded):
    """What was given breaks one of the policy's rules: `field` (the submission's) to correct."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class DecisionRefused(NotRecorded):
    """Not possible at the case's (or the appeal's) stage, or the case is closed."""


class KeyReused(DecisionRefused):
    """The idempotency key was used before for a different action or body."""


class CaseServiceUnavailable(NotRecorded):
    """Temporal did not take it. `uncertain`: it did not answer in time, and may still apply it."""

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain


# ---- keeping a decision and sending it to its workflow -------------------------------------------


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
    its appeal's) only its id with the enums and dates it decides by, and audit it; the workflow's answer,
    or the `NotRecorded` that says why not."""
    reference = action.case.reference
    name: str = update.__name__
    # Per staff member, so that two people who happen to choose the same key never share a result.
    update_id = case_updates.update_id_for(name, str(action.staff.id), action.idempotency_key)
    try:
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
    except HTTPException as error:  # the key came before with something else
        raise KeyReused(str(error.detail)) from error
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
        raise DecisionRefused(cause.message if isinstance(cause, ApplicationError) else str(cause)) from error
    except WorkflowUpdateRPCTimeoutOrCancelledError as error:
        raise CaseServiceUnavailable(NOT_ANSWERED_IN_TIME, uncertain=True) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            await run_in_threadpool(forget_submission, action.session, submission_id)
            if workflow_id is not None and action.case.appeal is None:
                raise CaseServiceUnavailable(
                    "The appeal is still starting; nothing was recorded. Please try again in a moment."
                ) from error
            raise DecisionRefused(
                "The case is closed; nothing more can be recorded."
                if workflow_id is None
                else "The appeal has ended (or has not started); nothing more can be recorded."
            ) from error
        raise CaseServiceUnavailable(
            "The case service is unavailable; nothing was recorded. Please try again."
        ) from error
    add_audit(action.session, actor=action.staff.label, action=name, case_reference=reference)
    await run_in_threadpool(action.session.commit)
    return result


# ---- information requests ------------------------------------------------------------------------


async def agency_response(action: CaseAction, answer: AgencyResponse) -> ActionResult:
    """An agency's answer to an information request, given to the SPOC by phone or email."""
    result: ActionResult = await record(
        action, CaseWorkflow.agency_response, answer, "agency_response", as_record(AgencyAnswerRecord, answer)
    )
    return result


async def resend_request(action: CaseAction, resend: ResendRequest) -> ActionResult:
    """Send an information request again with a new link, perhaps to another address."""
    result: ActionResult = await record(
        action,
        CaseWorkflow.resend_request,
        resend,
        "resend",
        lambda sid: ResendRecord(
            request_key=resend.request_key, to_another_address=bool(resend.to), submission_id=sid
        ),
    )
    return result


async def extend_request(action: CaseAction, extension: ExtendRequest) -> ActionResult:
    """A later due date for an information request (its link lasts longer too)."""
    result: ActionResult = await record(
        action, CaseWorkflow.extend_request, extension, "extension", as_record(ExtendRecord, extension)
    )
    return result


async def waive_request(action: CaseAction, waiver: WaiveRequest) -> ActionResult:
    """Go ahead without an agency's answer (a late answer is still recorded)."""
    result: ActionResult = await record(
        action, CaseWorkflow.waive_request, waiver, "waiver", as_record(WaiveRecord, waiver)
    )
    return result


# ---- the case's decisions ------------------------------------------------------------------------


async def threshold_decision(action: CaseAction, decision: ThresholdDecision) -> ActionResult:
    result: ActionResult = await record(
        action,
        CaseWorkflow.threshold_decision,
        decision,
        "threshold_decision",
        as_record(ThresholdDecisionRecord, decision),
    )
    return result


async def review_meeting(action: CaseAction, meeting: ReviewMeeting) -> ActionResult:
    result: ActionResult = await record(
        action,
        CaseWorkflow.review_meeting,
        meeting,
        "review_meeting",
        as_record(ReviewMeetingRecord, meeting),
    )
    return result


async def impact_statement(
    action: CaseAction, statement: ImpactStatement, policy: LocalityPolicy
) -> ActionResult:
    """In person: up to the policy's minutes, which are also the default."""
    limit = policy.impact_statement.in_person_minutes
    if statement.method == ImpactStatementMethod.IN_PERSON:
        if statement.minutes is not None and statement.minutes > limit:
            raise InvalidDecision("minutes", f"An in-person statement can be up to {limit} minutes")
        statement = statement.model_copy(update={"minutes": statement.minutes or limit})
    result: ActionResult = await record(
        action,
        CaseWorkflow.impact_statement,
        statement,
        "impact_statement",
        as_record(ImpactStatementRecord, statement),
    )
    return result


async def panel_decision(action: CaseAction, decision: PanelDecision) -> ActionResult:
    result: ActionResult = await record(
        action,
        CaseWorkflow.panel_decision,
        decision,
        "panel_decision",
        lambda sid: PanelDecisionRecord(
            recommendation_count=len(decision.recommendations), submission_id=sid
        ),
    )
    return result


async def withdraw(action: CaseAction, withdrawal: Withdrawal) -> ActionResult:
    result: ActionResult = await record(
        action, CaseWorkflow.withdraw, withdrawal, "withdrawal", as_record(WithdrawalRecord, withdrawal)
    )
    return result


async def appeal_outcome(action: CaseAction, outcome: AppealOutcome) -> ActionResult:
    """For an appeal that does not run as its own workflow (from before appeals ran here)."""
    result: ActionResult = await record(
        action,
        CaseWorkflow.appeal_outcome,
        outcome,
        "appeal_outcome",
        as_record(AppealOutcomeRecord, outcome),
    )
    return result


# ---- the request for appeal ------------------------------------------------------------------------


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


async def appeal_request(
    action: CaseAction, body: AppealRequestBody, policy: LocalityPolicy, today: dt.date
) -> ActionResult:
    """The applicant's written request for appeal, as the SPOC records it: the appeal starts."""
    received_on = body.received_on or today
    if received_on > today:
        raise InvalidDecision("received_on", "The date the request arrived must be today or in the past")
    problem = appeal_grounds_problem(policy, body.grounds)
    if problem is not None:
        raise InvalidDecision("grounds", problem)
    request = AppealRequest(
        received_on=received_on,
        grounds=body.grounds,
        explanation=body.explanation,
        consent_received=body.consent_received,
    )
    result: ActionResult = await record(
        action,
        CaseWorkflow.appeal_request,
        request,
        "appeal_request",
        appeal_request_record(
            policy, request, for_someone_else=bool(action.case.application.get("on_behalf_of"))
        ),
    )
    return result


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
