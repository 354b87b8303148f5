"""POST /api/eligibility: does an application meet the Community Trigger threshold? Stores nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from api.deps import PoliciesDep, TodayDep
from api.errors import UNPROCESSABLE_RESPONSE, ClearValidationErrorRoute, unprocessable
from api.rate_limits import TOO_MANY_REQUESTS_RESPONSE, RateLimit, rate_limited
from domain.application import Application
from domain.threshold import ThresholdAssessment, assess, check_application

router = APIRouter(route_class=ClearValidationErrorRoute)

_INCIDENTS: list[dict[str, Any]] = [
    {
        "occurred_on": "2026-08-02",
        "reported_on": "2026-08-03",
        "reported_to": "police",
        "organisation": "Leicestershire Police",
        "reference": "LP-2026-0812",
        "description": "Loud music and shouting from the flat above until 3am.",
    },
    {
        "occurred_on": "2026-09-14",
        "reported_on": "2026-09-20",
        "reported_to": "council",
        "organisation": "Blaby District Council ASB Team",
        "description": "Rubbish thrown into the garden.",
    },
    {
        "occurred_on": "2026-10-30",
        "reported_on": "2026-11-02",
        "reported_to": "housing_provider",
        "organisation": "East Midlands Homes",
        "description": "Front door kicked repeatedly at night.",
    },
]

_EXAMPLES: dict[str, dict[str, Any]] = {
    "three_incidents": {
        "summary": "Three incidents, each reported within a month",
        "value": {
            "locality": "blaby",
            "received_on": "2026-11-20",
            "applicant": {"name": "A. Resident", "email": "resident@example.org", "postcode": "LE19 2EP"},
            "incidents": _INCIDENTS,
            "hate_incident": False,
            "no_effective_action": True,
            "consent_to_share": True,
            "contact_preference": "email",
        },
    },
    "on_behalf": {
        "summary": "Applying on someone's behalf, a hate incident",
        "value": {
            "locality": "blaby",
            "applicant": {"name": "A. Neighbour", "phone": "0116 000 0000"},
            "on_behalf_of": {
                "victim_name": "B. Resident",
                "relationship": "Neighbour",
                "victim_consent": True,
            },
            "incidents": _INCIDENTS[2:],
            "hate_incident": True,
            "hate_incident_details": "Abuse shouted about the victim's religion.",
            "no_effective_action": True,
            "consent_to_share": True,
            "contact_preference": "phone",
        },
    },
}

_DESCRIPTION = """
Checks an application against the Community Trigger threshold of the council area named in
`locality`, using that area's policy (number of incidents, months, routes). Nothing is stored and no
one is contacted: the answer is a first view for the applicant and the SPOC, who makes the decision.

* `received_on` is the day the council received the application; leave it out for today
  (Europe/London).
* `met` and `route` give the answer; `route` is the first route met, in the order
  `three_incidents`, `hate_incident`, `multiple_complainants`.
* `qualifying_incidents` lists the indexes (from 0) of the incident reports that count.
* `needs_verification` is true when only the agencies' records can settle it (several people
  complaining about the same incident).
* `reasons` explains the answer in plain English, citing each rule with its numbers; reasons number
  incidents from 1, as the form does.

A 422 answer names the field of every problem in `loc`, for example an unknown council area, a
date in the future or not a real date, an incident reported before it happened, or applying on
someone's behalf without their consent.
"""


@router.post(
    "/api/eligibility",
    dependencies=[rate_limited(RateLimit.ELIGIBILITY)],
    tags=["applications"],
    summary="Check an application against the threshold",
    description=_DESCRIPTION,
    response_model=ThresholdAssessment,
    response_description="The assessment: whether the threshold is met, by which route, and why.",
    responses={**UNPROCESSABLE_RESPONSE, **TOO_MANY_REQUESTS_RESPONSE},
)
async def check_eligibility(
    application: Annotated[Application, Body(openapi_examples=_EXAMPLES)],
    policies: PoliciesDep,
    today: TodayDep,
) -> ThresholdAssessment | JSONResponse:
    problems = check_application(application, today=today, policies=policies)
    if problems:
        return unprocessable(problems)
    rules = policies[application.locality].threshold
    return assess(application, rules, application.received_on or today)
