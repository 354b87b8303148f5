"""The appeal pages: the appeal as its pages need it (read in a thread), the chair's bundle, the forms of
the chair's next step, and the pages that refuse a link or a session. GOV.UK pages rendered with the
headers every page reached from a link carries (api.link_pages, as the agency pages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, sessionmaker

from api.appeal.forms import (
    MAX_MEMBERS,
    MAX_RECOMMENDATIONS,
    AcknowledgeForm,
    CriteriaForm,
    NameChairForm,
    OutcomeForm,
    PanelForm,
    appeal_csrf_token,
)
from api.appeal.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    AppealSession,
    AppealView,
    SessionRefusal,
    SessionRefused,
)
from api.link_pages import FormError, errors_by_field, link_page, max_length
from db.models import Appeal, Case
from domain.calendar import LONDON, long_date
from domain.decisions import AppealCriteria, AppealDecision, AppealPanel, ChairAcknowledgement
from domain.policy import AppealRoute, LocalityPolicy

ROUTE_NAMES = {
    AppealRoute.INDEPENDENT_CHAIR.value: "an independent chair from another Community Safety Partnership",
    AppealRoute.CSP_CHAIR.value: "the chair of the Community Safety Partnership",
    AppealRoute.PCC.value: "the Office of the Police and Crime Commissioner",
    AppealRoute.SENIOR_OFFICERS.value: "a secondary review by the partnership's senior officers",
}
STAGE_NAMES = {
    "appeal_consent_requested": "Waiting for the victim's consent",
    "appeal_chair_requested": "Waiting for a chair to be named",
    "appeal_chair_named": "Waiting for the chair's acknowledgement",
    "appeal_acknowledged": "Waiting for the chair's decision on the grounds",
    "appeal_panel": "Appeal panel and outcome to come",
    "appeal_decided": "Decided",
    "appeal_withdrawn": "Withdrawn",
}
# The notification after an action (`/appeal/chair?done=<action>`): fixed texts, nothing from the URL shown.
DONE_MESSAGES = {
    "acknowledge": "Your acknowledgement has been recorded. The applicant and the council are sent Letter 4.",
    "criteria": "Your decision on the grounds has been recorded.",
    "panel": "The appeal panel's arrangements have been recorded.",
    "outcome": "The appeal's outcome has been recorded. The applicant and the council are sent the letter.",
}


class ChairAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    CRITERIA = "criteria"
    PANEL = "panel"
    OUTCOME = "outcome"


# ---- the appeal as the pages need it ----------------------------------------------------------


def _day(value: object) -> str:
    """20 November 2026, from a date or an ISO string (decisions are stored as JSON); "" if neither."""
    if isinstance(value, dt.datetime):
        return long_date(value.astimezone(LONDON).date() if value.tzinfo else value.date())
    if isinstance(value, dt.date):
        return long_date(value)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
        except ValueError:
            return value
        return _day(parsed)
    return ""


def _instant(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _when(value: object) -> str:
    """20 November 2026 at 14:30 (London time)."""
    instant = _instant(value)
    if instant is None:
        return str(value or "")
    local = instant.astimezone(LONDON)
    return f"{long_date(local.date())} at {local:%H:%M}"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class AppealState:
    """The appeal's row now (the chair's forms follow it), without the applicant's data."""

    stage: str
    route: str
    chair_key: str | None
    chair_name: str | None
    chair_partnership: str | None
    received_on: dt.date
    name_chair_by: dt.date | None
    acknowledge_by: dt.date | None
    decision_by: dt.date | None
    bundle_sent_on: dt.date | None
    acknowledgement: dict[str, Any] | None
    criteria: dict[str, Any] | None
    panel: dict[str, Any] | None
    decision: dict[str, Any] | None

    @property
    def panel_at(self) -> dt.datetime | None:
        return _instant(self.panel.get("meeting_at")) if self.panel else None

    def actions(self, now: dt.datetime) -> list[ChairAction]:
        """What the chair can record now, in the order the page offers it."""
        if self.stage == "appeal_chair_named" and self.acknowledgement is None:
            return [ChairAction.ACKNOWLEDGE]
        if self.stage == "appeal_acknowledged" and self.criteria is None:
            return [ChairAction.CRITERIA]
        if self.stage == "appeal_panel" and self.decision is None:
            panel_at = self.panel_at
            if panel_at is not None and panel_at <= now:
                # The panel has met: its outcome (and the panel's record can still be corrected).
                return [ChairAction.OUTCOME, ChairAction.PANEL]
            return [ChairAction.PANEL]
        return []


def appeal_state(sessions: sessionmaker[Session], *, appeal_id: int) -> AppealState:
    with sessions() as session:
        appeal = session.get(Appeal, appeal_id)
        assert appeal is not None
        return AppealState(
            stage=appeal.stage,
            route=appeal.route,
            chair_key=appeal.chair_key,
            chair_name=appeal.chair_name,
            chair_partnership=appeal.chair_partnership,
            received_on=appeal.received_on,
            name_chair_by=appeal.name_chair_by,
            acknowledge_by=appeal.acknowledge_by,
            decision_by=appeal.decision_by,
            bundle_sent_on=appeal.bundle_sent_on,
            acknowledgement=appeal.acknowledgement,
            criteria=appeal.criteria,
            panel=appeal.panel,
            decision=appeal.decision,
        )


@dataclass(frozen=True)
class Bundle:
    """What the chair reads: the request for appeal, the application, the decisions and meeting of the
    review, the letters sent and the chronology. Texts as recorded; dates written out."""

    request: dict[str, Any] | None
    application: dict[str, Any] | None
    threshold: dict[str, Any] | None
    meeting: dict[str, Any] | None
    impact: dict[str, Any] | None
    outcome: dict[str, Any] | None
    letters: list[dict[str, Any]] = field(default_factory=list)
    chronology: list[dict[str, Any]] = field(default_factory=list)
    # What the chair has recorded so far, shown above the next form.
    recorded: dict[str, Any] = field(default_factory=dict)


def load_bundle(sessions: sessionmaker[Session], *, view: AppealView, policy: LocalityPolicy) -> Bundle:
    with sessions() as session:
        case = session.get(Case, view.case_id)
        assert case is not None and case.appeal is not None
        appeal = case.appeal
        return Bundle(
            request=_request(case, appeal, policy),
            application=_application(case.application),
            threshold=_threshold(case.threshold_decision),
            meeting=_meeting(case.review_meeting),
            impact=_dict(case.impact_statement) or None,
            outcome=_outcome(case.panel_decision),
            letters=[
                {
                    "title": letter.subject,
                    "code": letter.code,
                    "sequence": letter.sequence,
                    "sent_on": _day(letter.sent_on),
                    "channel": "email" if letter.channel == "email" else "post",
                    "paragraphs": paragraphs(letter.body_text),
                }
                for letter in case.letters
            ],
            chronology=[
                {"at": _when(entry.at), "actor": entry.actor, "event": entry.event}
                for entry in case.chronology
            ],
            recorded=_recorded(appeal),
        )


def paragraphs(text: object) -> list[list[str]]:
    """A text as paragraphs of lines (blank lines part paragraphs), for `<p>` and `<br>` without markup."""
    blocks: list[list[str]] = []
    for block in str(text or "").replace("\r\n", "\n").split("\n\n"):
        lines = [line.rstrip() for line in block.strip("\n").split("\n")]
        if any(lines):
            blocks.append(lines)
    return blocks


def _request(case: Case, appeal: Appeal, policy: LocalityPolicy) -> dict[str, Any] | None:
    request = _dict(case.appeal_request)
    grounds = policy.appeal.grounds
    numbers = [n for n in _list(appeal.grounds) or _list(request.get("grounds")) if isinstance(n, int)]
    explanation = request.get("explanation")
    if explanation is None and isinstance(request.get("grounds"), str):  # recorded before appeals ran here
        explanation = request.get("grounds")
    return {
        "received_on": _day(request.get("received_on") or appeal.received_on),
        "grounds": [
            {
                "number": n,
                "text": grounds[n - 1] if 0 < n <= len(grounds) else "not in the council's list of grounds",
            }
            for n in numbers
        ],
        "explanation": paragraphs(explanation),
        "consent_received": bool(request.get("consent_received")),
    }


def _application(raw: object) -> dict[str, Any] | None:
    application = _dict(raw)
    if not application:
        return None
    applicant = _dict(application.get("applicant"))
    on_behalf_of = _dict(application.get("on_behalf_of")) or None
    return {
        "received_on": _day(application.get("received_on")),
        "applicant": {
            "name": applicant.get("name") or "",
            "email": applicant.get("email") or "",
            "phone": applicant.get("phone") or "",
            "address": applicant.get("address") or "",
            "postcode": applicant.get("postcode") or "",
            "is_business": bool(applicant.get("is_business")),
        },
        "on_behalf_of": on_behalf_of
        and {
            "victim_name": on_behalf_of.get("victim_name") or "",
            "relationship": on_behalf_of.get("relationship") or "",
            "victim_consent": bool(on_behalf_of.get("victim_consent")),
        },
        "incidents": [
            {
                "occurred_on": _day(incident.get("occurred_on")),
                "reported_on": _day(incident.get("reported_on")),
                "reported_to": str(incident.get("reported_to") or "").replace("_", " "),
                "organisation": incident.get("organisation") or "",
                "reference": incident.get("reference") or "",
                "description": incident.get("description") or "",
            }
            for incident in map(_dict, _list(application.get("incidents")))
        ],
        "hate_incident": bool(application.get("hate_incident")),
        "hate_incident_details": paragraphs(application.get("hate_incident_details")),
        "no_effective_action": bool(application.get("no_effective_action")),
        # Not every application records these; shown when present.
        "vulnerability": paragraphs(application.get("vulnerability") or application.get("vulnerabilities")),
        "contact_preference": str(application.get("contact_preference") or ""),
    }


def _threshold(raw: object) -> dict[str, Any] | None:
    decision = _dict(raw)
    if not decision:
        return None
    outcome = str(decision.get("outcome") or "")
    return {
        "outcome": {
            "met": "The application meets the threshold",
            "not_met": "The application does not meet the threshold",
            "rejected": "The application was rejected",
        }.get(outcome, outcome.replace("_", " ")),
        "below_threshold": bool(decision.get("below_threshold")),
        "rejection_ground": str(decision.get("rejection_ground") or ""),
        "reasons": paragraphs(decision.get("reasons")),
    }


def _meeting(raw: object) -> dict[str, Any] | None:
    meeting = _dict(raw)
    if not meeting:
        return None
    return {
        "when": _when(meeting.get("meeting_at")),
        "location": meeting.get("location") or "",
        "attendees": [
            {"name": a.get("name") or "", "organisation": a.get("organisation") or ""}
            for a in map(_dict, _list(meeting.get("attendees")))
        ],
        "youth_offending_service_invited": bool(meeting.get("youth_offending_service_invited")),
    }


def _recommendations(raw: object) -> list[dict[str, str]]:
    return [
        {"agency": r.get("agency") or "", "action": r.get("action") or "", "due_on": _day(r.get("due_on"))}
        for r in map(_dict, _list(raw))
    ]


def _outcome(raw: object) -> dict[str, Any] | None:
    decision = _dict(raw)
    if not decision:
        return None
    return {
        "findings": paragraphs(decision.get("findings")),
        "recommendations": _recommendations(decision.get("recommendations")),
    }


def _recorded(appeal: Appeal) -> dict[str, Any]:
    recorded: dict[str, Any] = {}
    if appeal.acknowledgement is not None:
        recorded["acknowledgement"] = {"note": paragraphs(_dict(appeal.acknowledgement).get("note"))}
    if appeal.criteria is not None:
        criteria = _dict(appeal.criteria)
        recorded["criteria"] = {
            "met": bool(criteria.get("met")),
            "reasons": paragraphs(criteria.get("reasons")),
            "lessons": paragraphs(criteria.get("lessons")),
        }
    if appeal.panel is not None:
        panel = _dict(appeal.panel)
        recorded["panel"] = {
            "when": _when(panel.get("meeting_at")),
            "location": panel.get("location") or "",
            "members": [
                {"name": m.get("name") or "", "role": m.get("role") or ""}
                for m in map(_dict, _list(panel.get("members")))
            ],
            "victim_attends_minutes": panel.get("victim_attends_minutes"),
        }
    if appeal.decision is not None:
        decision = _dict(appeal.decision)
        recorded["decision"] = {
            "upheld": bool(decision.get("upheld")),
            "reasons": paragraphs(decision.get("reasons")),
            "recommendations": _recommendations(decision.get("recommendations")),
        }
    return recorded


# ---- pages -----------------------------------------------------------------------------------


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return link_page(f"appeal/{template}", status_code, **context)


def link_refused_page() -> HTMLResponse:
    """One page for every link that cannot be used: it says nothing about any appeal."""
    return page("link_refused.html", status_code=404)


def session_refused_page(refused: SessionRefused, policies: Mapping[str, LocalityPolicy]) -> HTMLResponse:
    if refused.reason == SessionRefusal.ENDED and refused.appeal is not None:
        return ended_page(refused.appeal, policies[refused.appeal.locality])
    response = page("session_refused.html", status_code=401)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


def ended_page(view: AppealView, policy: LocalityPolicy) -> HTMLResponse:
    """The appeal has been decided or withdrawn: nothing more to do, and no bundle."""
    return page("ended.html", status_code=410, reference=view.case_reference, council=policy, home=None)


def form_expired_page(retry_url: str) -> HTMLResponse:
    return page("form_expired.html", status_code=400, retry_url=retry_url, home=retry_url)


def conflict_page(view: AppealView, policy: LocalityPolicy, message: str) -> HTMLResponse:
    """The appeal workflow refused the step (it was done already, or is not open yet): nothing was kept."""
    return page(
        "not_recorded.html",
        status_code=409,
        reference=view.case_reference,
        council=policy,
        message=message,
        home=view.role.home,
    )


def name_chair_page(
    access: AppealSession,
    policy: LocalityPolicy,
    secret_key: str,
    state: AppealState,
    *,
    form: NameChairForm | None = None,
    errors: Sequence[FormError] = (),
    unavailable: bool = False,
    confirmed: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    """The contact's page: the case's reference, the council, the route and whom they may name; once a
    chair is named, who it is. Nothing about the applicant."""
    route_name = ROUTE_NAMES.get(state.route, state.route.replace("_", " "))
    return page(
        "name_chair.html" if state.chair_key is None else "chair_named.html",
        status_code=status_code,
        appeal=access.appeal,
        state=state,
        council=policy,
        route_name=route_name,
        route_title=route_name[:1].upper() + route_name[1:],
        independent=state.route == AppealRoute.INDEPENDENT_CHAIR.value,
        chairs=policy.eligible_appeal_chairs(),
        values=form.values if form else {},
        errors=list(errors),
        error_for=errors_by_field(errors),
        unavailable=unavailable,
        confirmed=confirmed,
        csrf_token=appeal_csrf_token(secret_key, access.token_hash),
        home=access.appeal.role.home,
    )


def chair_page(
    access: AppealSession,
    policy: LocalityPolicy,
    secret_key: str,
    state: AppealState,
    bundle: Bundle,
    *,
    now: dt.datetime,
    done: str | None = None,
    action: ChairAction | None = None,
    values: Mapping[str, str] | None = None,
    errors: Sequence[FormError] = (),
    unavailable: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    """The chair's page: the bundle, then the form of the step the appeal waits for. `action` and `values`
    are a form sent back to be corrected (the other forms are shown empty)."""
    actions = state.actions(now)
    panel_values = PanelForm.from_panel(state.panel).values if state.panel else {}
    form_values: dict[str, dict[str, str]] = {a.value: {} for a in ChairAction}
    form_values[ChairAction.PANEL.value] = panel_values
    if action is not None and values is not None:
        form_values[action.value] = dict(values)
    return page(
        "chair.html",
        status_code=status_code,
        appeal=access.appeal,
        state=state,
        council=policy,
        stage_name=STAGE_NAMES.get(state.stage, state.stage.replace("_", " ")),
        acknowledge_by=_day(state.acknowledge_by),
        decision_by=_day(state.decision_by),
        bundle_sent_on=_day(state.bundle_sent_on),
        panel_at=_when(state.panel_at) if state.panel_at else "",
        bundle=bundle,
        actions=[a.value for a in actions],
        form_action=action.value if action else None,
        values=form_values,
        errors=list(errors),
        error_for=errors_by_field(errors),
        unavailable=unavailable,
        done_message=DONE_MESSAGES.get(done or ""),
        csrf_token=appeal_csrf_token(secret_key, access.token_hash),
        max_members=MAX_MEMBERS,
        max_recommendations=MAX_RECOMMENDATIONS,
        max_lengths={
            "note": max_length(ChairAcknowledgement, "note"),
            "criteria_reasons": max_length(AppealCriteria, "reasons"),
            "criteria_lessons": max_length(AppealCriteria, "lessons"),
            "location": max_length(AppealPanel, "location"),
            "decision_reasons": max_length(AppealDecision, "reasons"),
            "decision_lessons": max_length(AppealDecision, "lessons"),
        },
        home=access.appeal.role.home,
    )


# The forms of the chair's steps, by the action they post to.
CHAIR_FORMS: dict[ChairAction, type[AcknowledgeForm | CriteriaForm | PanelForm | OutcomeForm]] = {
    ChairAction.ACKNOWLEDGE: AcknowledgeForm,
    ChairAction.CRITERIA: CriteriaForm,
    ChairAction.PANEL: PanelForm,
    ChairAction.OUTCOME: OutcomeForm,
}
