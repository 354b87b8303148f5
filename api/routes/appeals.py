"""The SPOC's actions on a case's appeal (its own workflow, `Appeal:<reference>`): record the victim's
consent, name the chair, withdraw the appeal, resend or extend the chair's link; and the chair's actions
recorded by the SPOC on the chair's behalf (acknowledge, decide the grounds, the panel, the outcome).

Each is applied once per Idempotency-Key, answers 409 with the reason when the appeal is not at a stage
where it fits (nothing is written), and 404 for a case outside the staff member's localities. What each
checks, keeps and sends is in api.appeal_decisions, which the staff pages call too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api import appeal_decisions
from api.deps import CaseAction, PoliciesDep, TodayDep, case_action
from api.routes.case_actions import answered
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
from workflows.appeal_models import AppealActionResult

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


@router.post(
    "/{reference}/appeal/consent",
    response_model=AppealActionResult,
    summary="Record the victim's signed consent to a representative's appeal (the appeal goes on)",
)
async def record_consent(consent: AppealConsent, action: AppealAction, today: TodayDep) -> AppealActionResult:
    return await answered(action, appeal_decisions.record_consent(action, consent, today))


@router.post(
    "/{reference}/appeal/chair",
    response_model=AppealActionResult,
    summary="Name who hears the appeal, from the locality's list (the bundle goes to them at once)",
    description=(
        "`chair` is the key of someone on the locality's list of appeal chairs. Under the independent-chair "
        "route the chair of the applicant's own partnership is refused (409)."
    ),
)
async def name_chair(
    naming: ChairNaming,
    action: Annotated[CaseAction, case_action(Permission.NAME_APPEAL_CHAIR)],
    policies: PoliciesDep,
) -> AppealActionResult:
    return await answered(action, appeal_decisions.name_chair(action, naming, policies[action.case.locality]))


@router.post(
    "/{reference}/appeal/withdraw",
    response_model=AppealActionResult,
    summary="Withdraw the appeal (a confirming letter follows and the case closes)",
)
async def withdraw_appeal(withdrawal: AppealWithdrawal, action: AppealAction) -> AppealActionResult:
    return await answered(action, appeal_decisions.withdraw_appeal(action, withdrawal))


@router.post(
    "/{reference}/appeal/chair-link/resend",
    response_model=AppealActionResult,
    summary="Send the chair a new link to the appeal (earlier links stop working)",
)
async def resend_chair_link(resend: ChairLinkResend, action: AppealAction) -> AppealActionResult:
    return await answered(action, appeal_decisions.resend_chair_link(action, resend))


@router.post(
    "/{reference}/appeal/chair-link/extend",
    response_model=AppealActionResult,
    summary="Keep the chair's link working until the end of a later day",
)
async def extend_chair_link(
    extension: ChairLinkExtension, action: AppealAction, today: TodayDep
) -> AppealActionResult:
    return await answered(action, appeal_decisions.extend_chair_link(action, extension, today))


# ---- the chair's actions, recorded by the SPOC on the chair's behalf ------------------------------


@router.post(
    "/{reference}/appeal/acknowledge",
    response_model=AppealActionResult,
    summary="On the chair's behalf: acknowledge the appeal (Letter 4 follows)",
)
async def acknowledge(acknowledgement: ChairAcknowledgement, action: AppealAction) -> AppealActionResult:
    return await answered(action, appeal_decisions.acknowledge(action, acknowledgement))


@router.post(
    "/{reference}/appeal/criteria",
    response_model=AppealActionResult,
    summary="On the chair's behalf: whether the appeal meets the grounds (not met: Letter 5 ends it)",
)
async def decide_criteria(criteria: AppealCriteria, action: AppealAction) -> AppealActionResult:
    return await answered(action, appeal_decisions.decide_criteria(action, criteria))


@router.post(
    "/{reference}/appeal/panel",
    response_model=AppealActionResult,
    summary="On the chair's behalf: record (or rearrange) the appeal panel",
)
async def record_panel(panel: AppealPanel, action: AppealAction) -> AppealActionResult:
    return await answered(action, appeal_decisions.record_panel(action, panel))


@router.post(
    "/{reference}/appeal/outcome",
    response_model=AppealActionResult,
    summary="On the chair's behalf: the appeal's outcome, upheld or not (Letter 6 follows; final)",
)
async def decide(decision: AppealDecision, action: AppealAction) -> AppealActionResult:
    return await answered(action, appeal_decisions.decide(action, decision))
