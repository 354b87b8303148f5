"""The SPOC's decisions about a case's appeal (its own workflow, `Appeal:<reference>`), one function each,
for the JSON API (api.routes.appeals) and the staff pages (api.routes.staff_appeal_actions) alike: the
victim's consent, naming the chair, withdrawing the appeal, resending or extending the chair's link, and
the chair's steps recorded on the chair's behalf (acknowledge, the grounds, the panel, the outcome).

Each raises what api.case_decisions.record raises when it is not recorded (`NotRecorded`); besides,
`DecisionRefused` when the case has no appeal.
"""

from __future__ import annotations

import datetime as dt

from api.case_decisions import DecisionRefused, InvalidDecision, as_record, record
from api.deps import CaseAction
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
from domain.policy import LocalityPolicy
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

# A chair's link can be kept working for up to this long from today.
LONGEST_LINK = dt.timedelta(days=366)


def appeal_of(action: CaseAction) -> str:
    """The appeal's workflow id; `DecisionRefused` when the case has no appeal (nothing is written). An
    appeal just requested may not have started yet: `record` then says to try again in a moment."""
    if action.case.appeal is None and action.case.appeal_request is None:
        raise DecisionRefused(
            "This case has no appeal: record a request for appeal first (POST .../appeal-request)."
        )
    return appeal_workflow_id(action.case.reference)


def on_behalf_of_chair(action: CaseAction) -> str:
    """How the chronology names the SPOC acting for the chair."""
    return f"{action.staff.name} ({action.staff.role}), on behalf of the appeal chair"


async def record_consent(action: CaseAction, consent: AppealConsent, today: dt.date) -> AppealActionResult:
    """The victim's signed consent to a representative's appeal: the appeal goes on."""
    if consent.received_on > today:
        raise InvalidDecision("received_on", "The date the consent arrived must be today or in the past")
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.record_consent,
        consent,
        "appeal_consent",
        as_record(AppealConsentRecord, consent),
        workflow_id=workflow_id,
    )
    return result


async def name_chair(action: CaseAction, naming: ChairNaming, policy: LocalityPolicy) -> AppealActionResult:
    """Who hears the appeal, from the locality's list: the bundle goes to them at once. Under the
    independent-chair route the chair of the applicant's own partnership is refused."""
    chair = policy.appeal.chair(naming.chair)
    if chair is None:
        choices = ", ".join(f"{c.key} ({c.name})" for c in policy.eligible_appeal_chairs())
        raise InvalidDecision("chair", f"No such chair on this area's list; choose one of: {choices}")
    refusal = policy.appeal_chair_refusal(chair)
    if refusal:
        raise DecisionRefused(refusal)
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.name_chair,
        naming,
        "appeal_chair",
        lambda submission_id: ChairRecord(chair_key=chair.key, submission_id=submission_id),
        workflow_id=workflow_id,
    )
    return result


async def withdraw_appeal(action: CaseAction, withdrawal: AppealWithdrawal) -> AppealActionResult:
    """A confirming letter follows and the case closes."""
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.withdraw,
        withdrawal,
        "appeal_withdrawal",
        as_record(AppealWithdrawalRecord, withdrawal),
        workflow_id=workflow_id,
    )
    return result


async def resend_chair_link(action: CaseAction, resend: ChairLinkResend) -> AppealActionResult:
    """A new link for the chair; earlier links stop working."""
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.chair_link,
        resend,
        "chair_link_resend",
        lambda submission_id: ChairLinkRecord(kind="resend", submission_id=submission_id),
        workflow_id=workflow_id,
    )
    return result


async def extend_chair_link(
    action: CaseAction, extension: ChairLinkExtension, today: dt.date
) -> AppealActionResult:
    """Keep the chair's link working until the end of a later day (up to a year from today)."""
    if extension.valid_until < today:
        raise InvalidDecision("valid_until", "The link must work until today or a later day")
    if extension.valid_until > today + LONGEST_LINK:
        raise InvalidDecision("valid_until", "A link can be kept working for up to a year from today")
    workflow_id = appeal_of(action)
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


# ---- the chair's steps, recorded by the SPOC on the chair's behalf ---------------------------------


async def acknowledge(action: CaseAction, acknowledgement: ChairAcknowledgement) -> AppealActionResult:
    """Letter 4 follows."""
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.acknowledge,
        acknowledgement,
        "appeal_acknowledgement",
        as_record(AcknowledgementRecord, acknowledgement),
        workflow_id=workflow_id,
        submitted_by=on_behalf_of_chair(action),
    )
    return result


async def decide_criteria(action: CaseAction, criteria: AppealCriteria) -> AppealActionResult:
    """Whether the appeal meets the grounds; not met ends it with Letter 5."""
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.decide_criteria,
        criteria,
        "appeal_criteria",
        lambda submission_id: CriteriaRecord(
            met=criteria.met, has_lessons=bool(criteria.lessons.strip()), submission_id=submission_id
        ),
        workflow_id=workflow_id,
        submitted_by=on_behalf_of_chair(action),
    )
    return result


async def record_panel(action: CaseAction, panel: AppealPanel) -> AppealActionResult:
    """The appeal panel: when it meets and who sits on it (recorded again to rearrange it)."""
    workflow_id = appeal_of(action)
    result: AppealActionResult = await record(
        action,
        AppealWorkflow.record_panel,
        panel,
        "appeal_panel",
        as_record(AppealPanelRecord, panel),
        workflow_id=workflow_id,
        submitted_by=on_behalf_of_chair(action),
    )
    return result


async def decide(action: CaseAction, decision: AppealDecision) -> AppealActionResult:
    """The appeal's outcome, upheld or not (Letter 6 follows; final)."""
    workflow_id = appeal_of(action)
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
        submitted_by=on_behalf_of_chair(action),
    )
    return result
