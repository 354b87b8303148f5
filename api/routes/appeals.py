"""The SPOC's actions on a case's appeal (its own workflow, `Appeal:<reference>`): record the victim's
consent, name the chair, withdraw the appeal, resend or extend the chair's link; and the chair's actions
recorded by the SPOC on the chair's behalf (acknowledge, decide the grounds, the panel, the outcome).

Each is applied once per Idempotency-Key, answers 409 with the reason when the appeal is not at a stage
where it fits (nothing is written), and 404 for a case outside the staff member's localities.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, status

from api.deps import CaseAction, PoliciesDep, TodayDep, case_action
from api.errors import invalid
from api.routes.case_actions import as_record, record
from domain.decisions import (
    AppealConsent,
    AppealCriteria,
    AppealDecision,
    AppealPanel,
    AppealWithdrawal,
    ChairAcknowledgement,
    ChairLinkExtension,
    ChairLinkResend,
    ChairNaming,
)
from domain.staff import Permission
from workflows.appeal import AppealWorkflow
from workflows.appeal_models import (
    AcknowledgementRecord,
    AppealActionResult,
    AppealConsentRecord,
    AppealDecisionRecord,
    AppealPanelRecord,
    AppealWithdrawalRecord,
    ChairLinkRecord,
    ChairRecord,
    CriteriaRecord,
    appeal_workflow_id,
)

router = APIRouter(
    prefix="/api/cases",
    tags=["appeals"],
    responses={
        409: {"description": "Not possible at the appeal's stage (the message says why), or no appeal runs"},
        503: {
            "description": (
                "The case service is unavailable, or did not answer in time: retry after `Retry-After` "
                "seconds with the same `Idempotency-Key`"
            )
        },
    },
)

AppealAction = Annotated[CaseAction, case_action(Permission.RECORD_APPEAL)]


def _require_appeal(action: CaseAction) -> str:
    """The appeal's workflow id; 409 when the case has no appeal (nothing is written). An appeal just
    requested may not have started yet: `record` then answers 503, to retry in a moment."""
    if action.case.appeal is None and action.case.appeal_request is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "This case has no appeal: record a request for appeal first (POST .../appeal-request).",
        )
    return appeal_workflow_id(action.case.reference)


def _on_behalf_of_chair(action: CaseAction) -> str:
    """How the chronology names the SPOC acting for the chair."""
    return f"{action.staff.name} ({action.staff.role}), on behalf of the appeal chair"


@router.post(
    "/{reference}/appeal/consent",
    response_model=AppealActionResult,
    summary="Record the victim's signed consent to a representative's appeal (the appeal goes on)",
)
async def record_consent(consent: AppealConsent, action: AppealAction, today: TodayDep) -> AppealActionResult:
    if consent.received_on > today:
        raise invalid((("body", "received_on"), "The date the consent arrived must be today or in the past"))
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.record_consent,
        consent,
        "appeal_consent",
        as_record(AppealConsentRecord, consent),
        workflow_id=workflow_id,
    )
    return result


@router.post(
    "/{reference}/appeal/chair",
    response_model=AppealActionResult,
    summary="Name who hears the appeal, from the locality's list (the bundle goes to them at once)",
    description=(
        "`chair` is the key of someone on the locality's list of appeal chairs. Under the independent-chair "
        "route the chair of the applicant's own partnership is refused (409)."
    ),
)
async def name_chair(naming: ChairNaming, action: AppealAction, policies: PoliciesDep) -> AppealActionResult:
    policy = policies[action.case.locality]
    chair = policy.appeal.chair(naming.chair)
    if chair is None:
        choices = ", ".join(f"{c.key} ({c.name})" for c in policy.eligible_appeal_chairs())
        raise invalid((("body", "chair"), f"No such chair on this area's list; choose one of: {choices}"))
    refusal = policy.appeal_chair_refusal(chair)
    if refusal:
        raise HTTPException(status.HTTP_409_CONFLICT, refusal)
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.name_chair,
        naming,
        "appeal_chair",
        lambda submission_id: ChairRecord(chair_key=chair.key, submission_id=submission_id),
        workflow_id=workflow_id,
    )
    return result


@router.post(
    "/{reference}/appeal/withdraw",
    response_model=AppealActionResult,
    summary="Withdraw the appeal (a confirming letter follows and the case closes)",
)
async def withdraw_appeal(withdrawal: AppealWithdrawal, action: AppealAction) -> AppealActionResult:
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.withdraw,
        withdrawal,
        "appeal_withdrawal",
        as_record(AppealWithdrawalRecord, withdrawal),
        workflow_id=workflow_id,
    )
    return result


@router.post(
    "/{reference}/appeal/chair-link/resend",
    response_model=AppealActionResult,
    summary="Send the chair a new link to the appeal (earlier links stop working)",
)
async def resend_chair_link(resend: ChairLinkResend, action: AppealAction) -> AppealActionResult:
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.chair_link,
        resend,
        "chair_link_resend",
        lambda submission_id: ChairLinkRecord(kind="resend", submission_id=submission_id),
        workflow_id=workflow_id,
    )
    return result


@router.post(
    "/{reference}/appeal/chair-link/extend",
    response_model=AppealActionResult,
    summary="Keep the chair's link working until the end of a later day",
)
async def extend_chair_link(
    extension: ChairLinkExtension, action: AppealAction, today: TodayDep
) -> AppealActionResult:
    if extension.valid_until < today:
        raise invalid((("body", "valid_until"), "The link must work until today or a later day"))
    if extension.valid_until > today + dt.timedelta(days=366):
        raise invalid((("body", "valid_until"), "A link can be kept working for up to a year from today"))
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.chair_link,
        extension,
        "chair_link_extension",
        lambda submission_id: ChairLinkRecord(
            kind="extend", valid_until=extension.valid_until, submission_id=submission_id
        ),
        workflow_id=workflow_id,
    )
    return result


# ---- the chair's actions, recorded by the SPOC on the chair's behalf ------------------------------


@router.post(
    "/{reference}/appeal/acknowledge",
    response_model=AppealActionResult,
    summary="On the chair's behalf: acknowledge the appeal (Letter 4 follows)",
)
async def acknowledge(acknowledgement: ChairAcknowledgement, action: AppealAction) -> AppealActionResult:
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.acknowledge,
        acknowledgement,
        "appeal_acknowledgement",
        as_record(AcknowledgementRecord, acknowledgement),
        workflow_id=workflow_id,
        submitted_by=_on_behalf_of_chair(action),
    )
    return result


@router.post(
    "/{reference}/appeal/criteria",
    response_model=AppealActionResult,
    summary="On the chair's behalf: whether the appeal meets the grounds (not met: Letter 5 ends it)",
)
async def decide_criteria(criteria: AppealCriteria, action: AppealAction) -> AppealActionResult:
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.decide_criteria,
        criteria,
        "appeal_criteria",
        lambda submission_id: CriteriaRecord(
            met=criteria.met, has_lessons=bool(criteria.lessons.strip()), submission_id=submission_id
        ),
        workflow_id=workflow_id,
        submitted_by=_on_behalf_of_chair(action),
    )
    return result


@router.post(
    "/{reference}/appeal/panel",
    response_model=AppealActionResult,
    summary="On the chair's behalf: record (or rearrange) the appeal panel",
)
async def record_panel(panel: AppealPanel, action: AppealAction) -> AppealActionResult:
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.record_panel,
        panel,
        "appeal_panel",
        as_record(AppealPanelRecord, panel),
        workflow_id=workflow_id,
        submitted_by=_on_behalf_of_chair(action),
    )
    return result


@router.post(
    "/{reference}/appeal/outcome",
    response_model=AppealActionResult,
    summary="On the chair's behalf: the appeal's outcome, upheld or not (Letter 6 follows; final)",
)
async def decide(decision: AppealDecision, action: AppealAction) -> AppealActionResult:
    workflow_id = _require_appeal(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.decide,
        decision,
        "appeal_decision",
        lambda submission_id: AppealDecisionRecord(
            upheld=decision.upheld,
            recommendation_count=len(decision.recommendations),
            has_lessons=bool(decision.lessons.strip()),
            submission_id=submission_id,
        ),
        workflow_id=workflow_id,
        submitted_by=_on_behalf_of_chair(action),
    )
    return result
