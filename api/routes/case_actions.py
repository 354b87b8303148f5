"""The staff decisions that move a case on (agency answers by phone, information requests, the threshold
decision, the review, the panel, withdrawal, appeals), each sent to the case's workflow as an update; and
a failed letter to the applicant sent again (api.letter_resend: no workflow update, nothing personal in
the workflow's history).

Each is applied once per Idempotency-Key, and none waits longer than `case_updates.UPDATE_TIMEOUT`. What
each decision checks, keeps and sends is in api.case_decisions, which the staff pages call too; this
module gives its JSON shape and answers its refusals with their HTTP status.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, status

from api import case_decisions
from api.case_decisions import (
    AppealRequestBody,
    CaseServiceUnavailable,
    DecisionRefused,
    InvalidDecision,
)
from api.deps import (
    CaseAction,
    NowDep,
    PoliciesDep,
    SessionFactoryDep,
    SettingsDep,
    TodayDep,
    case_action,
)
from api.errors import invalid
from api.letter_resend import LetterResend, LetterResent, resend_letter
from domain.decisions import (
    AgencyResponse,
    AppealOutcome,
    ExtendRequest,
    ImpactStatement,
    PanelDecision,
    ResendRequest,
    ReviewMeeting,
    ThresholdDecision,
    WaiveRequest,
    Withdrawal,
)
from domain.staff import Permission
from workflows.models import ActionResult

ResultT = TypeVar("ResultT")

# How long a client should wait before retrying after the case service did not answer in time.
RETRY_AFTER_SECONDS = 5

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


async def answered(action: CaseAction, decision: Awaitable[ResultT]) -> ResultT:
    """The decision's result; or, when it was not recorded, the HTTP answer that says why (422 with the
    field, 409, or 503 with `Retry-After`), each with the Idempotency-Key to retry with."""
    key_header = {"Idempotency-Key": action.idempotency_key}
    try:
        return await decision
    except InvalidDecision as error:
        raise invalid((("body", error.field), error.message)) from None
    except DecisionRefused as error:
        raise HTTPException(status.HTTP_409_CONFLICT, error.message, headers=key_header) from error
    except CaseServiceUnavailable as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            error.message,
            headers={**key_header, "Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from error


@router.post(
    "/{reference}/agency-responses",
    response_model=ActionResult,
    summary="Record an agency's answer to an information request",
)
async def agency_response(
    answer: AgencyResponse,
    action: Annotated[CaseAction, case_action(Permission.RECORD_AGENCY_RESPONSE)],
) -> ActionResult:
    return await answered(action, case_decisions.agency_response(action, answer))


@router.post(
    "/{reference}/information-requests/resend",
    response_model=ActionResult,
    summary="Send an information request again with a new link (earlier links stop working)",
)
async def resend_request(
    resend: ResendRequest,
    action: Annotated[CaseAction, case_action(Permission.MANAGE_INFORMATION_REQUESTS)],
) -> ActionResult:
    return await answered(action, case_decisions.resend_request(action, resend))


@router.post(
    "/{reference}/information-requests/extend",
    response_model=ActionResult,
    summary="Give an agency longer to answer (its link lasts longer too)",
)
async def extend_request(
    extension: ExtendRequest,
    action: Annotated[CaseAction, case_action(Permission.MANAGE_INFORMATION_REQUESTS)],
) -> ActionResult:
    return await answered(action, case_decisions.extend_request(action, extension))


@router.post(
    "/{reference}/information-requests/waive",
    response_model=ActionResult,
    summary="Proceed without an agency's answer, with reasons (a late answer is still recorded)",
)
async def waive_request(
    waiver: WaiveRequest,
    action: Annotated[CaseAction, case_action(Permission.MANAGE_INFORMATION_REQUESTS)],
) -> ActionResult:
    return await answered(action, case_decisions.waive_request(action, waiver))


@router.post(
    "/{reference}/threshold-decision",
    response_model=ActionResult,
    summary="Record whether the threshold is met (Letter 2a/2b or a rejection follows)",
)
async def threshold_decision(
    decision: ThresholdDecision,
    action: Annotated[CaseAction, case_action(Permission.DECIDE_THRESHOLD)],
) -> ActionResult:
    return await answered(action, case_decisions.threshold_decision(action, decision))


@router.post(
    "/{reference}/review-meeting",
    response_model=ActionResult,
    summary="Schedule (or reschedule) the multi-agency review meeting",
)
async def review_meeting(
    meeting: ReviewMeeting,
    action: Annotated[CaseAction, case_action(Permission.ARRANGE_REVIEW)],
) -> ActionResult:
    return await answered(action, case_decisions.review_meeting(action, meeting))


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
    policy = policies[action.case.locality]
    return await answered(action, case_decisions.impact_statement(action, statement, policy))


@router.post(
    "/{reference}/panel-decision",
    response_model=ActionResult,
    summary="Record the panel's findings and action plan (Letter 3 follows)",
)
async def panel_decision(
    decision: PanelDecision,
    action: Annotated[CaseAction, case_action(Permission.RECORD_PANEL_DECISION)],
) -> ActionResult:
    return await answered(action, case_decisions.panel_decision(action, decision))


@router.post(
    "/{reference}/withdraw",
    response_model=ActionResult,
    summary="Withdraw the application (a confirmation letter follows and the case closes)",
)
async def withdraw(
    withdrawal: Withdrawal,
    action: Annotated[CaseAction, case_action(Permission.WITHDRAW)],
) -> ActionResult:
    return await answered(action, case_decisions.withdraw(action, withdrawal))


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
    policy = policies[action.case.locality]
    return await answered(action, case_decisions.appeal_request(action, body, policy, today))


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
    return await answered(action, case_decisions.appeal_outcome(action, outcome))


@router.post(
    "/{reference}/letters/resend",
    response_model=LetterResent,
    summary="Send a letter to the applicant whose email failed again: to a corrected address, or by post",
    description=(
        "For a letter (by `code` and `sequence`, as in the case's `letters`) whose email failed for good: "
        "`send_by` `email` emails the same letter and its PDF to `to`, which becomes the applicant's address "
        "for later letters; `send_by` `post` puts it in the print queue, and later letters go by post (only "
        "when the case has the applicant's postal address: 422 otherwise). The failed email leaves the "
        "failed-mail list (`status` `resent` in the outbox). A letter that did not fail answers 409."
    ),
)
async def resend_failed_letter(
    resend: LetterResend,
    action: Annotated[CaseAction, case_action(Permission.RESEND_LETTERS)],
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    settings: SettingsDep,
    now: NowDep,
) -> LetterResent:
    return await answered(
        action,
        resend_letter(
            sessions,
            staff=action.staff,
            reference=action.case.reference,
            resend=resend,
            idempotency_key=action.idempotency_key,
            policy=policies[action.case.locality],
            settings=settings,
            now=now,
        ),
    )
