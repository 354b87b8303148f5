"""How the staff case page writes out what was recorded about a case: the application (the applicant,
their contact preference, a representative and consent, the incidents and which count), the decisions and
arrangements, the agencies' answers with their files, what the applicant added, the appeal; and dates and
times as GOV.UK writes them. Texts stay as recorded, in paragraphs of lines (the template escapes them)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from api.appeal.views import STAGE_NAMES as APPEAL_STAGE_NAMES
from api.appeal.views import paragraphs
from api.views import CaseView
from db.models import Case
from domain.calendar import LONDON, long_date

ROUTES = {
    "three_incidents": "Separate incidents reported within the policy's window",
    "hate_incident": "A hate incident",
    "multiple_complainants": "Several people complaining about the same incident",
}
CONTACT_PREFERENCES = {"email": "By email", "post": "By post", "phone": "By phone"}
CHANNELS = {
    "online": "Online",
    "phone": "Taken by phone",
    "paper": "On paper, by post",
    "in_person": "In person",
    "email": "By email",
}
PURPOSES = {"threshold": "Threshold check", "review": "Case review"}


def when(instant: object) -> str:
    """20 November 2026 at 14:30 (London), from a datetime or the ISO text a decision keeps."""
    moment = instant
    if isinstance(instant, str):
        try:
            moment = dt.datetime.fromisoformat(instant)
        except ValueError:
            return instant
    if not isinstance(moment, dt.datetime):
        return ""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(LONDON)
    return f"{long_date(local.date())} at {local:%H:%M}"


def day(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def answers(case: Case, view: CaseView) -> list[dict[str, Any]]:
    """What each agency answered (or why the case goes ahead without it), with its files."""
    base = attachments_url(case)
    answers = []
    for request in view.information_requests:
        if request.state not in ("answered", "waived") and not request.response:
            continue
        response = request.response or {}
        answers.append(
            {
                "agency": request.agency,
                "purpose": PURPOSES.get(request.purpose, request.purpose),
                "answered_on": request.answered_on,
                "received_by": str(response.get("received_by") or ""),
                "responder": ", ".join(
                    str(response[name]) for name in ("responder_name", "responder_role") if response.get(name)
                ),
                "fields": [
                    (label, paragraphs(response.get(name)))
                    for name, label in (
                        ("records_found", "Records found"),
                        ("actions_taken", "Actions taken"),
                        ("risk_to_victim", "Risk to the victim"),
                        ("notes", "Notes"),
                    )
                    if response.get(name)
                ],
                "supports_threshold": response.get("supports_threshold"),
                "behaviour_continues": response.get("behaviour_continues"),
                "waived_reason": paragraphs(request.waived_reason) if request.state == "waived" else [],
                "attachments": [
                    {"filename": a.filename, "size": a.size, "href": f"{base}/{a.id}"}
                    for a in request.attachments
                ],
            }
        )
    return answers


def attachments_url(case: Case) -> str:
    """Where staff download the case's files (api.routes.staff_pages, audited)."""
    return f"/staff/cases/{quote(case.reference)}/attachments"


def applicant(application: dict[str, Any]) -> dict[str, Any]:
    applicant = application.get("applicant") or {}
    on_behalf_of = application.get("on_behalf_of") or None
    return {
        "name": applicant.get("name") or "",
        "email": applicant.get("email") or "",
        "phone": applicant.get("phone") or "",
        "address": applicant.get("address") or "",
        "postcode": applicant.get("postcode") or "",
        "is_business": bool(applicant.get("is_business")),
        "channel": CHANNELS.get(str(application.get("channel") or ""), ""),
        "contact_preference": CONTACT_PREFERENCES.get(
            str(application.get("contact_preference") or ""), str(application.get("contact_preference") or "")
        ),
        "representative": on_behalf_of
        and {
            "victim_name": on_behalf_of.get("victim_name") or "",
            "relationship": on_behalf_of.get("relationship") or "",
            "victim_consent": bool(on_behalf_of.get("victim_consent")),
        },
        "consent_to_share": bool(application.get("consent_to_share")),
        "support_needs": paragraphs(application.get("support_needs")),
        "hate_incident": bool(application.get("hate_incident")),
        "hate_incident_details": paragraphs(application.get("hate_incident_details")),
        "no_effective_action": bool(application.get("no_effective_action")),
    }


def assessment(recorded: dict[str, Any]) -> dict[str, Any]:
    """The automatic threshold assessment: whether it is met, by which route, and its reasons, each citing
    the rule of the locality's policy it applies (domain.threshold.assess wrote them)."""
    return {
        "met": bool(recorded.get("met")),
        "route": ROUTES.get(str(recorded.get("route") or ""), ""),
        "needs_verification": bool(recorded.get("needs_verification")),
        "reasons": [str(reason) for reason in recorded.get("reasons") or []],
    }


def incidents(application: dict[str, Any], assessment: dict[str, Any]) -> list[dict[str, Any]]:
    counted = set(assessment.get("qualifying_incidents") or [])
    return [
        {
            "number": index + 1,
            "occurred_on": day(incident.get("occurred_on")),
            "reported_on": day(incident.get("reported_on")),
            "reported_to": str(incident.get("reported_to") or "").replace("_", " "),
            "organisation": incident.get("organisation") or "",
            "reference": incident.get("reference") or "",
            "description": paragraphs(incident.get("description")),
            "counts": index in counted,
        }
        for index, incident in enumerate(application.get("incidents") or [])
        if isinstance(incident, dict)
    ]


def decisions(case: Case) -> dict[str, Any]:
    threshold = case.threshold_decision or {}
    meeting = case.review_meeting or {}
    panel = case.panel_decision or {}
    withdrawal = case.withdrawal or {}
    return {
        "threshold": threshold
        and {
            "outcome": str(threshold.get("outcome") or "").replace("_", " "),
            "below_threshold": bool(threshold.get("below_threshold")),
            "rejection_ground": str(threshold.get("rejection_ground") or ""),
            "reasons": paragraphs(threshold.get("reasons")),
        },
        "meeting": meeting
        and {
            "when": when(meeting.get("meeting_at")),
            "location": meeting.get("location") or "",
            "attendees": [a for a in meeting.get("attendees") or [] if isinstance(a, dict)],
            "youth_offending_service_invited": bool(meeting.get("youth_offending_service_invited")),
        },
        "impact_statement": case.impact_statement,
        "panel": panel
        and {
            "findings": paragraphs(panel.get("findings")),
            "recommendations": [r for r in panel.get("recommendations") or [] if isinstance(r, dict)],
        },
        "withdrawal": withdrawal
        and {
            "reason": paragraphs(withdrawal.get("reason")),
            "requested_by": withdrawal.get("requested_by") or "",
        },
    }


def appeal(view: CaseView) -> dict[str, Any] | None:
    appeal = view.appeal
    if appeal is None:
        return None
    request = view.decisions.get("appeal_request") or {}
    return {
        "stage_name": APPEAL_STAGE_NAMES.get(appeal.stage, appeal.stage.replace("_", " ")),
        "result": (appeal.result or "").replace("_", " "),
        "route": appeal.route.replace("_", " "),
        "received_on": appeal.received_on,
        "grounds": appeal.grounds,
        "explanation": paragraphs(request.get("explanation")),
        "needs_consent": appeal.needs_consent,
        "chair": appeal.chair,
        "decisions": {
            name: value
            for name, value in appeal.decisions.items()
            if value is not None and isinstance(value, dict)
        },
    }
