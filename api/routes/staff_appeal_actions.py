"""The staff action pages for a case's appeal, at `/staff/cases/{reference}/appeal-<action>`: the victim's
consent, naming the chair, withdrawing the appeal, resending or extending the chair's link, and the chair's
steps recorded on the chair's behalf (acknowledge, the grounds, the panel, the outcome).

Each is the JSON API's action (api.appeal_decisions, the same function) behind a GOV.UK form that works
without JavaScript; how a page runs is api.staff.action_pages.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import appeal_decisions
from api.staff.action_pages import ActionPage, add_action_pages
from api.staff.appeal_forms import (
    AcknowledgeForm,
    AppealConsentForm,
    AppealDecisionForm,
    AppealPanelForm,
    AppealWithdrawForm,
    ChairForm,
    ChairLinkExtendForm,
    ChairLinkResendForm,
    CriteriaForm,
)
from api.staff.form_parts import YES_NO, FormContext
from api.staff.forms import REQUESTED_BY
from domain.staff import Permission

router = APIRouter(prefix="/staff", include_in_schema=False)

NO_APPEAL = "This case has no appeal. Record the applicant's request for appeal first."


def _no_appeal(context: FormContext) -> str | None:
    case = context.case
    return NO_APPEAL if case.appeal is None and case.appeal_request is None else None


def _appeal(context: FormContext) -> dict[str, Any]:
    appeal = context.case.appeal
    return {
        "appeal_stage": appeal.stage if appeal else None,
        "chair_name": appeal.chair_name if appeal else None,
        "yes_no": YES_NO,
        "requested_by": REQUESTED_BY,
    }


def _chairs(context: FormContext) -> dict[str, Any]:
    policy = context.policy
    return {
        **_appeal(context),
        "chairs": policy.eligible_appeal_chairs(),
        "route": policy.appeal.route.value,
        "own_chair_left_out": len(policy.eligible_appeal_chairs()) < len(policy.appeal.chairs),
    }


def _page(
    slug: str,
    title: str,
    submit: str,
    form: Any,
    decide: Any,
    offers: Any = _appeal,
    permission: Permission = Permission.RECORD_APPEAL,
) -> ActionPage:
    return ActionPage(slug, title, submit, form, permission, decide, offers, _no_appeal)


PAGES = (
    _page(
        "appeal-consent",
        "Record the victim's consent to the appeal",
        "Record the consent",
        AppealConsentForm,
        lambda action, body, context: appeal_decisions.record_consent(action, body, context.today),
    ),
    _page(
        "appeal-chair",
        "Name who will hear the appeal",
        "Name the chair",
        ChairForm,
        lambda action, body, context: appeal_decisions.name_chair(action, body, context.policy),
        offers=_chairs,
        # The county team names chairs (LLR) without recording anything else of the appeal.
        permission=Permission.NAME_APPEAL_CHAIR,
    ),
    _page(
        "appeal-withdraw",
        "Withdraw the appeal",
        "Withdraw the appeal",
        AppealWithdrawForm,
        lambda action, body, context: appeal_decisions.withdraw_appeal(action, body),
    ),
    _page(
        "appeal-chair-link-resend",
        "Send the appeal chair a new link",
        "Send a new link",
        ChairLinkResendForm,
        lambda action, body, context: appeal_decisions.resend_chair_link(action, body),
    ),
    _page(
        "appeal-chair-link-extend",
        "Keep the appeal chair's link working longer",
        "Extend the link",
        ChairLinkExtendForm,
        lambda action, body, context: appeal_decisions.extend_chair_link(action, body, context.today),
    ),
    _page(
        "appeal-acknowledge",
        "Acknowledge the appeal on the chair's behalf",
        "Acknowledge the appeal",
        AcknowledgeForm,
        lambda action, body, context: appeal_decisions.acknowledge(action, body),
    ),
    _page(
        "appeal-criteria",
        "Record whether the appeal meets the grounds",
        "Record the decision",
        CriteriaForm,
        lambda action, body, context: appeal_decisions.decide_criteria(action, body),
    ),
    _page(
        "appeal-panel",
        "Record the appeal panel",
        "Record the panel",
        AppealPanelForm,
        lambda action, body, context: appeal_decisions.record_panel(action, body),
    ),
    _page(
        "appeal-decision",
        "Record the appeal's outcome on the chair's behalf",
        "Record the outcome",
        AppealDecisionForm,
        lambda action, body, context: appeal_decisions.decide(action, body),
    ),
)

add_action_pages(router, PAGES)
