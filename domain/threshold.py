"""The Community Trigger threshold: does an application qualify for a case review? Pure: no clock, no I/O.

`assess` applies a locality's `ThresholdRules` to an application and explains its answer in plain
English, citing each rule with its numbers. `check_application` finds the problems that need today's
date or the localities to spot (dates in the future, an unknown locality); the API answers them as 422.

Incidents are numbered from 1 in reasons, as the form shows them to people; `qualifying_incidents`
and problem locations use indexes from 0 into `application.incidents`, as JSON clients expect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.application import Application, ContactPreference, Incident
from domain.calendar import add_months
from domain.policy import LocalityPolicy, ThresholdRules

Route = Literal["three_incidents", "hate_incident", "multiple_complainants"]

_MONTH_NAMES = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class ThresholdAssessment(BaseModel):
    """Whether the threshold is met, by which route, and why."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "example": {
                "met": True,
                "route": "three_incidents",
                "qualifying_incidents": [0, 1, 2],
                "needs_verification": False,
                "reasons": [
                    "3 separate incidents were reported within the 6 months before 20 November 2026, "
                    "each within 1 month of happening: the threshold of 3 incidents is met."
                ],
            }
        },
    )

    met: bool = Field(description="True when the application meets the threshold for a case review.")
    route: Route | None = Field(
        description="The first route met, in the order three_incidents, hate_incident, "
        "multiple_complainants; null when none is met."
    )
    qualifying_incidents: list[int] = Field(
        description="Indexes (from 0) into the application's incidents of every report that counts."
    )
    needs_verification: bool = Field(
        description="True when only the agencies' records can settle the threshold (several people "
        "complaining about the same incident)."
    )
    reasons: list[str] = Field(description="Plain-English reasons, each citing the rule applied.")


@dataclass(frozen=True)
class Problem:
    """Something wrong with an application: where (`loc`, FastAPI-style) and what to do (`msg`)."""

    loc: tuple[str | int, ...]
    msg: str


def format_date(day: dt.date) -> str:
    """A date as people write it in letters: "20 November 2026"."""
    return f"{day.day} {_MONTH_NAMES[day.month]} {day.year}"


def _months(count: int) -> str:
    return f"{count} month" if count == 1 else f"{count} months"


def _incidents(count: int) -> str:
    return f"{count} incident" if count == 1 else f"{count} incidents"


def _numbers(indexes: Sequence[int]) -> str:
    """Incident indexes as people count them: "1", "1 and 3", "1, 2 and 4"."""
    numbers = [str(index + 1) for index in indexes]
    if len(numbers) == 1:
        return numbers[0]
    return f"{', '.join(numbers[:-1])} and {numbers[-1]}"


def _exclusion(
    incident: Incident, received_on: dt.date, window_months: int, rules: ThresholdRules
) -> str | None:
    """Why an incident does not count within a window of `window_months`, or None when it counts.

    The answer is a clause ("was reported on ...") that the caller finishes with its consequence.
    """
    occurred, reported = incident.occurred_on, incident.reported_on
    if reported < occurred:
        return f"has a date reported ({format_date(reported)}) before the date it happened"
    if reported > received_on:
        return (
            f"was reported on {format_date(reported)}, after the application was received on "
            f"{format_date(received_on)}"
        )
    window_start = add_months(received_on, -window_months)
    if reported < window_start:
        return (
            f"was reported on {format_date(reported)}, before {format_date(window_start)}, so not within "
            f"the {_months(window_months)} before {format_date(received_on)}"
        )
    if reported > add_months(occurred, rules.report_within_months):
        return (
            f"was reported on {format_date(reported)}, more than {_months(rules.report_within_months)} "
            "after it happened"
        )
    return None


def _qualifying(
    incidents: Sequence[Incident], received_on: dt.date, window_months: int, rules: ThresholdRules
) -> list[int]:
    return [
        index
        for index, incident in enumerate(incidents)
        if _exclusion(incident, received_on, window_months, rules) is None
    ]


def _distinct_count(incidents: Sequence[Incident], indexes: Iterable[int], rules: ThresholdRules) -> int:
    indexes = list(indexes)
    if rules.same_date_counts_once:
        return len({incidents[index].occurred_on for index in indexes})
    return len(indexes)


def _too_old(
    incidents: Sequence[Incident],
    indexes: Sequence[int],
    rules: ThresholdRules,
    received_on: dt.date,
    what: str,
) -> str | None:
    """The reason `what` fails the application-age rule, or None when the rule is off or passes."""
    limit = rules.application_within_months_of_first_report
    if limit is None or not indexes:
        return None
    earliest = min(incidents[index].reported_on for index in indexes)
    if earliest >= add_months(received_on, -limit):
        return None
    return (
        f"The first report that counts was made on {format_date(earliest)}, more than {_months(limit)} "
        f"before the application was received on {format_date(received_on)}. An application must be made "
        f"within {_months(limit)} of the first report, so {what} is not met."
    )


def assess(application: Application, rules: ThresholdRules, received_on: dt.date) -> ThresholdAssessment:
    """Apply `rules` to `application`, received on `received_on`, and explain the answer."""
    incidents = application.incidents
    reasons: list[str] = []
    within = _months(rules.report_within_months)
    received = format_date(received_on)
    hate_considered = application.hate_incident and rules.hate_incident_route

    main = _qualifying(incidents, received_on, rules.window_months, rules)
    hate = (
        _qualifying(incidents, received_on, rules.hate_incident_window_months, rules)
        if hate_considered
        else []
    )

    # Incidents that do not count, and why.
    for index, incident in enumerate(incidents):
        why = _exclusion(incident, received_on, rules.window_months, rules)
        if why is None:
            continue
        if index in hate:
            consequence = (
                f"so it does not count towards the threshold of {_incidents(rules.incident_count)}, "
                "but it does count for the hate incident route "
                f"({_months(rules.hate_incident_window_months)})"
            )
        else:
            consequence = "so it does not count"
        reasons.append(f"Incident {index + 1} ({format_date(incident.occurred_on)}) {why}, {consequence}.")

    # The same incident reported to several organisations counts once.
    if rules.same_date_counts_once:
        by_date: dict[dt.date, list[int]] = {}
        for index in main:
            by_date.setdefault(incidents[index].occurred_on, []).append(index)
        for day, group in by_date.items():
            if len(group) > 1:
                both = "both" if len(group) == 2 else "all"
                reasons.append(
                    f"Incidents {_numbers(group)} {both} happened on {format_date(day)}, so they are treated "
                    "as the same incident reported to more than one organisation and count as one incident."
                )

    # Route 1: three (or the policy's number of) separate incidents.
    count = _distinct_count(incidents, main, rules)
    needed = _incidents(rules.incident_count)
    joint = {0: " and", 1: ","}.get(count, ", each")
    window = (
        f"within the {_months(rules.window_months)} before {received}{joint} within {within} of happening"
    )
    if count >= rules.incident_count:
        too_old = _too_old(incidents, main, rules, received_on, f"the threshold of {needed}")
        if too_old is None:
            three_met = True
            verdict = f"the threshold of {needed} is met"
        else:
            three_met = False
            verdict = f"this reaches the threshold of {needed}"
        counted = "1 separate incident was" if count == 1 else f"{count} separate incidents were"
        reasons.append(f"{counted} reported {window}: {verdict}.")
        if too_old is not None:
            reasons.append(too_old)
    else:
        three_met = False
        if count == 0:
            counted = "No incidents were reported"
        elif count == 1:
            counted = "Only 1 separate incident was reported"
        else:
            counted = f"Only {count} separate incidents were reported"
        reasons.append(f"{counted} {window}: the threshold of {needed} is not met.")

    # Route 2: a hate incident.
    hate_met = False
    if application.hate_incident and not rules.hate_incident_route:
        reasons.append(
            "The application reports a hate incident. This area's policy has no separate hate incident "
            f"route, so the incidents are assessed against the threshold of {needed}."
        )
    elif hate_considered:
        hate_window = f"within the {_months(rules.hate_incident_window_months)} before {received}"
        if hate:
            too_old = _too_old(incidents, hate, rules, received_on, "the hate incident route")
            hate_met = too_old is None
            reasons.append(
                f"The application reports a hate incident, and {_incidents(len(hate))} "
                f"{'was' if len(hate) == 1 else 'were'} reported {hate_window}, within {within} of "
                f"happening: the hate incident route {'is met' if hate_met else 'would be met'}."
            )
            if too_old is not None:
                reasons.append(too_old)
        else:
            reasons.append(
                f"The application reports a hate incident, but no incident was reported {hate_window} "
                f"within {within} of happening, so the hate incident route is not met."
            )

    # Route 3: several people complained about the same incident; only the agencies can confirm it.
    needs_verification = False
    if rules.multiple_complainants_route and main and not three_met and not hate_met:
        too_old = _too_old(incidents, main, rules, received_on, "the multiple complainants route")
        if too_old is None:
            needs_verification = True
            reasons.append(
                f"The applicant's own reports do not meet the threshold, but {_incidents(len(main))} "
                f"{'counts' if len(main) == 1 else 'count'}. The agencies involved must confirm whether "
                f"{rules.multiple_complainants_count} people complained separately about the same incident "
                f"within the {_months(rules.window_months)} before {received}; until they do, the "
                "multiple complainants route cannot be decided."
            )
        else:
            reasons.append(too_old)

    route: Route | None = "three_incidents" if three_met else "hate_incident" if hate_met else None
    met = route is not None
    qualifying = hate if route == "hate_incident" else main

    if not application.no_effective_action:
        if met or needs_verification:
            reasons.append(
                "The application says effective action has been taken, so the threshold is not met: a case "
                "review is for applicants who believe no effective action has been taken."
            )
        else:
            reasons.append(
                "The application also says effective action has been taken; a case review is for "
                "applicants who believe no effective action has been taken."
            )
        met, route, needs_verification = False, None, False

    for condition in rules.extra_conditions:
        reasons.append(f"The SPOC also checks: {condition}")

    return ThresholdAssessment(
        met=met,
        route=route,
        qualifying_incidents=qualifying,
        needs_verification=needs_verification,
        reasons=reasons,
    )


def check_application(
    application: Application, *, today: dt.date, policies: Mapping[str, LocalityPolicy]
) -> list[Problem]:
    """Problems that need today's date (Europe/London) or the localities to find; empty when none.

    `received_on` defaults to `today`, so leaving it out is never a problem.
    """
    problems: list[Problem] = []
    if application.locality not in policies:
        allowed = ", ".join(sorted(policies))
        problems.append(
            Problem(("body", "locality"), f"Select a council area this service covers: {allowed}")
        )
    if application.received_on is not None and application.received_on > today:
        problems.append(Problem(("body", "received_on"), "Date received must be today or in the past"))

    applicant = application.applicant
    if application.contact_preference == ContactPreference.EMAIL and not applicant.email:
        problems.append(
            Problem(
                ("body", "applicant", "email"),
                "Enter an email address, or choose a different way to be contacted",
            )
        )
    elif application.contact_preference == ContactPreference.POST and not applicant.address:
        problems.append(
            Problem(
                ("body", "applicant", "address"),
                "Enter a postal address, or choose a different way to be contacted",
            )
        )
    elif application.contact_preference == ContactPreference.PHONE and not applicant.phone:
        problems.append(
            Problem(
                ("body", "applicant", "phone"),
                "Enter a phone number, or choose a different way to be contacted",
            )
        )

    if application.on_behalf_of is not None and not application.on_behalf_of.victim_consent:
        problems.append(
            Problem(
                ("body", "on_behalf_of", "victim_consent"),
                "Confirm the victim has agreed to you applying on their behalf",
            )
        )

    for index, incident in enumerate(application.incidents):
        if incident.occurred_on > today:
            problems.append(
                Problem(
                    ("body", "incidents", index, "occurred_on"),
                    "Date the incident happened must be today or in the past",
                )
            )
        if incident.reported_on > today:
            problems.append(
                Problem(
                    ("body", "incidents", index, "reported_on"), "Date reported must be today or in the past"
                )
            )
        elif incident.reported_on < incident.occurred_on:
            problems.append(
                Problem(
                    ("body", "incidents", index, "reported_on"),
                    "Date reported must be on or after the date the incident happened",
                )
            )
    return problems
