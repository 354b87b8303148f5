"""The staff action pages for a case's decisions, at `/staff/cases/{reference}/<action>`: an agency's answer
given by phone or email, resending, extending or waiving an information request (`?request=<key>`), the
threshold decision, the review meeting, the impact statement, the panel's decision with its action plan,
withdrawal, the request for appeal and (for appeals from before they ran here) the appeal's outcome.

Each is the JSON API's action (api.case_decisions, the same function) behind a GOV.UK form that works
without JavaScript; how a page runs is api.staff.action_pages. The appeal's pages are in
api.routes.staff_appeal_actions.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import case_decisions
from api.staff.action_pages import ActionPage, add_action_pages
from api.staff.form_parts import FormContext
from api.staff.forms import (
    IMPACT_METHODS,
    KNOWN,
    RECEIVED_BY,
    REJECTION_GROUNDS,
    REQUESTED_BY,
    THRESHOLD_OUTCOMES,
    AgencyResponseForm,
    AppealOutcomeForm,
    AppealRequestForm,
    ExtendForm,
    ImpactStatementForm,
    PanelDecisionForm,
    ResendForm,
    ReviewMeetingForm,
    ThresholdDecisionForm,
    WaiveForm,
    WithdrawForm,
)
from domain.staff import Permission

router = APIRouter(prefix="/staff", include_in_schema=False)

PURPOSES = {"threshold": "to check the threshold", "review": "for the case review"}


def _requests(context: FormContext) -> dict[str, Any]:
    """The case's information requests that can still be answered, resent, extended or waived."""
    return {
        "requests": [
            {
                "key": r.request_key,
                "agency": r.agency_name,
                "purpose": PURPOSES.get(r.purpose, r.purpose),
                "due_on": r.due_on,
                "delivery": r.delivery,
                "email": r.agency_email,
            }
            for r in context.open_requests()
        ]
    }


def _no_open_requests(context: FormContext) -> str | None:
    if not context.open_requests():
        return "This case has no information requests waiting for an answer."
    return None


def _request_offers(context: FormContext) -> dict[str, Any]:
    return {**_requests(context), "received_by": RECEIVED_BY, "known": KNOWN}


def _request_page(
    slug: str, title: str, submit: str, form: Any, permission: Permission, decide: Any
) -> ActionPage:
    return ActionPage(slug, title, submit, form, permission, decide, _request_offers, _no_open_requests)


def _threshold(context: FormContext) -> dict[str, Any]:
    assessment = context.case.assessment or {}
    return {
        "outcomes": THRESHOLD_OUTCOMES,
        "grounds": REJECTION_GROUNDS,
        "assessment_met": assessment.get("met"),
        "assessment_reasons": assessment.get("reasons") or [],
        "decide_by": context.case.threshold_decision_by,
    }


def _appeal_request(context: FormContext) -> dict[str, Any]:
    return {
        "grounds": list(enumerate(context.policy.appeal.grounds, start=1)),
        "for_someone_else": bool(context.case.application.get("on_behalf_of")),
        "appeal_by": context.case.appeal_by,
    }


PAGES = (
    _request_page(
        "agency-response",
        "Record an agency's answer",
        "Record the answer",
        AgencyResponseForm,
        Permission.RECORD_AGENCY_RESPONSE,
        lambda action, body, context: case_decisions.agency_response(action, body),
    ),
    _request_page(
        "resend",
        "Send an information request again",
        "Send it again",
        ResendForm,
        Permission.MANAGE_INFORMATION_REQUESTS,
        lambda action, body, context: case_decisions.resend_request(action, body),
    ),
    _request_page(
        "extend",
        "Give an agency longer to answer",
        "Extend the due date",
        ExtendForm,
        Permission.MANAGE_INFORMATION_REQUESTS,
        lambda action, body, context: case_decisions.extend_request(action, body),
    ),
    _request_page(
        "waive",
        "Go ahead without an agency's answer",
        "Go ahead without it",
        WaiveForm,
        Permission.MANAGE_INFORMATION_REQUESTS,
        lambda action, body, context: case_decisions.waive_request(action, body),
    ),
    ActionPage(
        slug="threshold-decision",
        title="Record the threshold decision",
        submit="Record the decision",
        form=ThresholdDecisionForm,
        permission=Permission.DECIDE_THRESHOLD,
        decide=lambda action, body, context: case_decisions.threshold_decision(action, body),
        offers=_threshold,
    ),
    ActionPage(
        slug="review-meeting",
        title="Arrange the review meeting",
        submit="Record the meeting",
        form=ReviewMeetingForm,
        permission=Permission.ARRANGE_REVIEW,
        decide=lambda action, body, context: case_decisions.review_meeting(action, body),
    ),
    ActionPage(
        slug="impact-statement",
        title="How the applicant will give their impact statement",
        submit="Record the arrangement",
        form=ImpactStatementForm,
        permission=Permission.ARRANGE_REVIEW,
        decide=lambda action, body, context: case_decisions.impact_statement(action, body, context.policy),
        offers=lambda context: {
            "methods": IMPACT_METHODS,
            "in_person_minutes": context.policy.impact_statement.in_person_minutes,
        },
    ),
    ActionPage(
        slug="panel-decision",
        title="Record the panel's decision",
        submit="Record the decision",
        form=PanelDecisionForm,
        permission=Permission.RECORD_PANEL_DECISION,
        decide=lambda action, body, context: case_decisions.panel_decision(action, body),
    ),
    ActionPage(
        slug="withdraw",
        title="Withdraw the application",
        submit="Withdraw the application",
        form=WithdrawForm,
        permission=Permission.WITHDRAW,
        decide=lambda action, body, context: case_decisions.withdraw(action, body),
        offers=lambda context: {"requested_by": REQUESTED_BY},
    ),
    ActionPage(
        slug="appeal-request",
        title="Record a request for appeal",
        submit="Record the request",
        form=AppealRequestForm,
        permission=Permission.RECORD_APPEAL,
        decide=lambda action, body, context: case_decisions.appeal_request(
            action, body, context.policy, context.today
        ),
        offers=_appeal_request,
    ),
    ActionPage(
        slug="appeal-outcome",
        title="Record the outcome of an earlier appeal",
        submit="Record the outcome",
        form=AppealOutcomeForm,
        permission=Permission.RECORD_APPEAL,
        decide=lambda action, body, context: case_decisions.appeal_outcome(action, body),
    ),
)

add_action_pages(router, PAGES)
