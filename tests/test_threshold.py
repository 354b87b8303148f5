"""The Community Trigger threshold rules (domain.threshold): pure unit tests with fixed dates."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.application import Application, ContactPreference, Incident, ReportedTo
from domain.policy import LocalityPolicy, ThresholdRules
from domain.threshold import Problem, ThresholdAssessment, assess, check_application, format_date

RECEIVED = date(2026, 11, 20)
# Six calendar months before RECEIVED: the first day a report counts.
WINDOW_START = date(2026, 5, 20)
LLR = ThresholdRules()


def incident(occurred: date, reported: date | None = None, to: ReportedTo = ReportedTo.POLICE) -> Incident:
    return Incident(
        occurred_on=occurred,
        reported_on=reported or occurred,
        reported_to=to,
        organisation="Leicestershire Police" if to == ReportedTo.POLICE else "Blaby District Council",
        description="Shouting and banging at night.",
    )


def application(*incidents: Incident, **fields: Any) -> Application:
    values: dict[str, Any] = {
        "locality": "blaby",
        "applicant": {"name": "Jane Smithson", "email": "jane@example.org"},
        "incidents": list(incidents),
        "no_effective_action": True,
        "consent_to_share": True,
    }
    values.update(fields)
    return Application.model_validate(values)


def three_recent() -> list[Incident]:
    return [
        incident(date(2026, 8, 2), date(2026, 8, 3)),
        incident(date(2026, 9, 14), date(2026, 9, 20)),
        incident(date(2026, 10, 30), date(2026, 11, 2)),
    ]


def two_recent() -> list[Incident]:
    return three_recent()[:2]


def counts(assessment: ThresholdAssessment, index: int) -> bool:
    return index in assessment.qualifying_incidents


# The assessment's shape and wording.


def test_assess_three_incidents_met() -> None:
    result = assess(application(*three_recent()), LLR, RECEIVED)
    assert result.met is True
    assert result.route == "three_incidents"
    assert result.qualifying_incidents == [0, 1, 2]
    assert result.needs_verification is False
    assert result.reasons == [
        "3 separate incidents were reported within the 6 months before 20 November 2026, each within "
        "1 month of happening: the threshold of 3 incidents is met."
    ]


def test_serialise_assessment_has_exact_keys() -> None:
    result = assess(application(*three_recent()), LLR, RECEIVED)
    assert result.model_dump(mode="json") == {
        "met": True,
        "route": "three_incidents",
        "qualifying_incidents": [0, 1, 2],
        "needs_verification": False,
        "reasons": result.reasons,
    }


def test_serialise_assessment_route_null_when_not_met() -> None:
    result = assess(application(*two_recent()), LLR, RECEIVED)
    assert result.model_dump(mode="json")["route"] is None


def test_assess_two_incidents_not_met() -> None:
    result = assess(application(*two_recent()), LLR, RECEIVED)
    assert result.met is False
    assert result.route is None
    assert result.qualifying_incidents == [0, 1]
    assert result.reasons == [
        "Only 2 separate incidents were reported within the 6 months before 20 November 2026, each within "
        "1 month of happening: the threshold of 3 incidents is not met."
    ]


def test_assess_no_incidents_not_met() -> None:
    result = assess(application(), LLR, RECEIVED)
    assert result.met is False
    assert result.qualifying_incidents == []
    assert result.reasons[0].startswith(
        "No incidents were reported within the 6 months before 20 November 2026"
    )


def test_assess_late_report_reason_cites_dates() -> None:
    late = incident(date(2026, 3, 12), date(2026, 4, 30))
    result = assess(application(*two_recent(), late), ThresholdRules(window_months=12), RECEIVED)
    assert counts(result, 2) is False
    assert (
        "Incident 3 (12 March 2026) was reported on 30 April 2026, more than 1 month after it happened, "
        "so it does not count." in result.reasons
    )


def test_assess_reasons_do_not_name_applicant() -> None:
    late = incident(date(2026, 3, 12), date(2026, 4, 30))
    app = application(
        *three_recent(),
        late,
        hate_incident=True,
        on_behalf_of={"victim_name": "Peter Victimson", "relationship": "son", "victim_consent": True},
    )
    rules = ThresholdRules(multiple_complainants_route=True, extra_conditions=("Check the address.",))
    text = " ".join(assess(app, rules, RECEIVED).reasons)
    assert "Jane" not in text
    assert "Smithson" not in text
    assert "Peter" not in text
    assert "Shouting" not in text


def test_format_date_writes_day_month_year() -> None:
    assert format_date(date(2026, 11, 20)) == "20 November 2026"
    assert format_date(date(2025, 1, 1)) == "1 January 2025"


# The window: reported within the months before received_on, inclusive at both ends.


@pytest.mark.parametrize(
    ("reported", "qualifies"),
    [
        (WINDOW_START - date.resolution, False),
        (WINDOW_START, True),
        (RECEIVED, True),
        (RECEIVED + date.resolution, False),
    ],
)
def test_assess_window_boundaries_report_counts(reported: date, qualifies: bool) -> None:
    # Each report is made on the day it happened, so only the window decides.
    result = assess(application(incident(reported, reported)), LLR, RECEIVED)
    assert counts(result, 0) is qualifies


def test_assess_window_start_report_day_before_gives_reason() -> None:
    day_before = WINDOW_START - date.resolution
    result = assess(application(incident(day_before, day_before)), LLR, RECEIVED)
    assert (
        "Incident 1 (19 May 2026) was reported on 19 May 2026, before 20 May 2026, so not within the "
        "6 months before 20 November 2026, so it does not count." in result.reasons
    )


def test_assess_report_after_received_gives_reason() -> None:
    after = RECEIVED + date.resolution
    result = assess(application(incident(RECEIVED, after)), LLR, RECEIVED)
    assert counts(result, 0) is False
    assert any(
        "after the application was received on 20 November 2026" in reason for reason in result.reasons
    )


@pytest.mark.parametrize(
    ("received", "start"),
    [
        (date(2026, 8, 31), date(2026, 2, 28)),  # 31 August less six months: end of a short February
        (date(2028, 8, 31), date(2028, 2, 29)),  # leap year
    ],
)
def test_assess_window_start_month_end_clamped(received: date, start: date) -> None:
    on_start = assess(application(incident(start, start)), LLR, received)
    before = start - date.resolution
    day_before = assess(application(incident(before, before)), LLR, received)
    assert counts(on_start, 0) is True
    assert counts(day_before, 0) is False


def test_assess_window_months_from_policy() -> None:
    rules = ThresholdRules(window_months=3)
    on_start = incident(date(2026, 8, 20))
    before = incident(date(2026, 8, 19))
    result = assess(application(on_start, before), rules, RECEIVED)
    assert result.qualifying_incidents == [0]
    assert any("within the 3 months before 20 November 2026" in reason for reason in result.reasons)


# Reported within one calendar month of happening.


@pytest.mark.parametrize(
    ("occurred", "reported", "qualifies"),
    [
        (date(2026, 9, 12), date(2026, 9, 12), True),  # same day
        (date(2026, 9, 12), date(2026, 10, 12), True),  # exactly one month
        (date(2026, 9, 12), date(2026, 10, 13), False),
        (date(2025, 1, 31), date(2025, 2, 28), True),  # clamped to a short February
        (date(2025, 1, 31), date(2025, 3, 1), False),
        (date(2028, 1, 31), date(2028, 2, 29), True),  # leap year
        (date(2028, 1, 31), date(2028, 3, 1), False),
    ],
)
def test_assess_report_within_one_month_boundary(occurred: date, reported: date, qualifies: bool) -> None:
    # The application comes a month after the report, well inside the window.
    received = date(reported.year + (reported.month == 12), reported.month % 12 + 1, 1)
    result = assess(application(incident(occurred, reported)), LLR, received)
    assert counts(result, 0) is qualifies


def test_assess_report_within_months_from_policy() -> None:
    rules = ThresholdRules(report_within_months=2)
    two_months = incident(date(2026, 8, 10), date(2026, 10, 10))
    later = incident(date(2026, 8, 11), date(2026, 10, 12))
    result = assess(application(two_months, later), rules, RECEIVED)
    assert result.qualifying_incidents == [0]
    assert any("more than 2 months after it happened" in reason for reason in result.reasons)
    assert any("within 2 months of happening" in reason for reason in result.reasons)


def test_assess_reported_before_occurred_does_not_count() -> None:
    result = assess(application(incident(date(2026, 9, 12), date(2026, 9, 11))), LLR, RECEIVED)
    assert counts(result, 0) is False
    assert any("before the date it happened" in reason for reason in result.reasons)


# The same incident reported to several organisations counts once.


def test_assess_same_date_counts_once() -> None:
    same_day = date(2026, 9, 14)
    reports = [
        incident(same_day, same_day, ReportedTo.POLICE),
        incident(same_day, date(2026, 9, 15), ReportedTo.COUNCIL),
        incident(date(2026, 10, 30), date(2026, 11, 2)),
    ]
    result = assess(application(*reports), LLR, RECEIVED)
    assert result.met is False
    assert result.qualifying_incidents == [0, 1, 2]
    assert any(
        reason.startswith("Incidents 1 and 2 both happened on 14 September 2026") and "count as one" in reason
        for reason in result.reasons
    )
    assert any(reason.startswith("Only 2 separate incidents") for reason in result.reasons)


def test_assess_same_date_three_reports_named() -> None:
    same_day = date(2026, 9, 14)
    result = assess(application(*[incident(same_day) for _ in range(3)]), LLR, RECEIVED)
    assert result.met is False
    assert any(reason.startswith("Incidents 1, 2 and 3 all happened on") for reason in result.reasons)
    assert any(reason.startswith("Only 1 separate incident was reported") for reason in result.reasons)


def test_assess_same_date_counted_separately_when_policy_off() -> None:
    same_day = date(2026, 9, 14)
    reports = [incident(same_day), incident(same_day), incident(date(2026, 10, 30))]
    result = assess(application(*reports), ThresholdRules(same_date_counts_once=False), RECEIVED)
    assert result.met is True
    assert result.route == "three_incidents"
    assert not any("count as one" in reason for reason in result.reasons)


def test_assess_same_date_only_counts_qualifying_reports() -> None:
    same_day = date(2026, 9, 14)
    # The second report of the same day is late, so no merging is mentioned.
    reports = [incident(same_day), incident(same_day, date(2026, 10, 20))]
    result = assess(application(*reports), LLR, RECEIVED)
    assert result.qualifying_incidents == [0]
    assert not any("count as one" in reason for reason in result.reasons)


# The number of incidents comes from the policy.


@pytest.mark.parametrize(("reports", "met"), [(4, False), (5, True)])
def test_assess_incident_count_from_policy(reports: int, met: bool) -> None:
    rules = ThresholdRules(incident_count=5)
    incidents = [incident(date(2026, 9, day)) for day in range(1, reports + 1)]
    result = assess(application(*incidents), rules, RECEIVED)
    assert result.met is met
    assert any("the threshold of 5 incidents" in reason for reason in result.reasons)


def test_assess_incident_count_one_met_by_single_incident() -> None:
    result = assess(application(incident(date(2026, 9, 1))), ThresholdRules(incident_count=1), RECEIVED)
    assert result.met is True
    assert "1 separate incident was reported" in result.reasons[0]
    assert "the threshold of 1 incident is met" in result.reasons[0]


# The hate incident route.


def test_assess_hate_incident_met() -> None:
    result = assess(application(*two_recent(), hate_incident=True), LLR, RECEIVED)
    assert result.met is True
    assert result.route == "hate_incident"
    assert result.qualifying_incidents == [0, 1]
    assert any("the hate incident route is met" in reason for reason in result.reasons)


def test_assess_route_order_three_incidents_before_hate() -> None:
    result = assess(application(*three_recent(), hate_incident=True), LLR, RECEIVED)
    assert result.met is True
    assert result.route == "three_incidents"


def test_assess_hate_incident_not_met_when_route_off() -> None:
    rules = ThresholdRules(hate_incident_route=False)
    result = assess(application(*two_recent(), hate_incident=True), rules, RECEIVED)
    assert result.met is False
    assert result.route is None
    assert any("no separate hate incident route" in reason for reason in result.reasons)


def test_assess_hate_route_off_still_met_by_three_incidents() -> None:
    rules = ThresholdRules(hate_incident_route=False)
    result = assess(application(*three_recent(), hate_incident=True), rules, RECEIVED)
    assert result.route == "three_incidents"


def test_assess_hate_route_needs_hate_incident() -> None:
    result = assess(application(*two_recent(), hate_incident=False), LLR, RECEIVED)
    assert result.met is False
    assert not any("hate incident" in reason for reason in result.reasons)


def test_assess_hate_incident_without_qualifying_incident_not_met() -> None:
    late = incident(date(2026, 9, 1), date(2026, 10, 15))
    result = assess(application(late, hate_incident=True), LLR, RECEIVED)
    assert result.met is False
    assert any("the hate incident route is not met" in reason for reason in result.reasons)


@pytest.mark.parametrize(
    ("reported", "met"),
    [(date(2026, 8, 20), True), (date(2026, 8, 19), False)],  # three months before 20 November 2026
)
def test_assess_hate_incident_window_from_policy(reported: date, met: bool) -> None:
    rules = ThresholdRules(hate_incident_window_months=3)
    result = assess(application(incident(reported), hate_incident=True), rules, RECEIVED)
    assert result.met is met
    assert result.route == ("hate_incident" if met else None)
    assert any("within the 3 months before 20 November 2026" in reason for reason in result.reasons)


def test_assess_hate_incident_window_applies_report_within_rule() -> None:
    late = incident(date(2026, 9, 1), date(2026, 10, 2))
    result = assess(application(late, hate_incident=True), LLR, RECEIVED)
    assert result.met is False


def test_assess_hate_window_longer_than_threshold_window() -> None:
    rules = ThresholdRules(window_months=6, hate_incident_window_months=12)
    old = incident(date(2026, 2, 1))
    result = assess(application(old, hate_incident=True), rules, RECEIVED)
    assert result.route == "hate_incident"
    assert result.qualifying_incidents == [0]
    assert any("it does count for the hate incident route (12 months)" in reason for reason in result.reasons)


# Several people complaining about the same incident: the agencies confirm it.


def test_assess_multiple_complainants_needs_verification() -> None:
    rules = ThresholdRules(multiple_complainants_route=True)
    result = assess(application(incident(date(2026, 9, 14))), rules, RECEIVED)
    assert result.met is False
    assert result.route is None
    assert result.needs_verification is True
    assert result.qualifying_incidents == [0]
    assert any(
        "agencies involved must confirm whether 3 people complained separately about the same incident"
        in reason
        for reason in result.reasons
    )


def test_assess_multiple_complainants_count_from_policy() -> None:
    rules = ThresholdRules(multiple_complainants_route=True, multiple_complainants_count=5)
    result = assess(application(incident(date(2026, 9, 14))), rules, RECEIVED)
    assert any("whether 5 people complained separately" in reason for reason in result.reasons)


def test_assess_multiple_complainants_off_no_verification() -> None:
    result = assess(application(incident(date(2026, 9, 14))), LLR, RECEIVED)
    assert result.needs_verification is False


def test_assess_multiple_complainants_without_qualifying_incident_no_verification() -> None:
    rules = ThresholdRules(multiple_complainants_route=True)
    late = incident(date(2026, 9, 1), date(2026, 10, 15))
    result = assess(application(late), rules, RECEIVED)
    assert result.needs_verification is False
    assert result.met is False


def test_assess_multiple_complainants_not_needed_when_three_incidents_met() -> None:
    rules = ThresholdRules(multiple_complainants_route=True)
    result = assess(application(*three_recent()), rules, RECEIVED)
    assert result.route == "three_incidents"
    assert result.needs_verification is False


def test_assess_multiple_complainants_not_needed_when_hate_met() -> None:
    rules = ThresholdRules(multiple_complainants_route=True)
    result = assess(application(incident(date(2026, 9, 14)), hate_incident=True), rules, RECEIVED)
    assert result.route == "hate_incident"
    assert result.needs_verification is False


# The application must come within some months of the first report (Harborough).


def test_assess_application_age_fails_three_incidents() -> None:
    rules = ThresholdRules(window_months=12, application_within_months_of_first_report=6)
    first = incident(date(2026, 5, 19))  # one day more than six months before 20 November 2026
    result = assess(application(first, *two_recent()), rules, RECEIVED)
    assert result.met is False
    assert result.route is None
    assert any(
        "The first report that counts was made on 19 May 2026, more than 6 months before the application "
        "was received on 20 November 2026"
        in reason
        and "within 6 months of the first report" in reason
        for reason in result.reasons
    )


def test_assess_application_age_boundary_passes() -> None:
    rules = ThresholdRules(window_months=12, application_within_months_of_first_report=6)
    first = incident(date(2026, 5, 20))  # exactly six months before
    result = assess(application(first, *two_recent()), rules, RECEIVED)
    assert result.met is True
    assert result.route == "three_incidents"


def test_assess_application_age_fails_hate_route() -> None:
    rules = ThresholdRules(hate_incident_window_months=12, application_within_months_of_first_report=3)
    result = assess(application(incident(date(2026, 7, 1)), hate_incident=True), rules, RECEIVED)
    assert result.met is False
    assert any("so the hate incident route is not met" in reason for reason in result.reasons)


def test_assess_application_age_fails_multiple_complainants() -> None:
    rules = ThresholdRules(multiple_complainants_route=True, application_within_months_of_first_report=2)
    result = assess(application(incident(date(2026, 7, 1))), rules, RECEIVED)
    assert result.needs_verification is False
    assert any("so the multiple complainants route is not met" in reason for reason in result.reasons)


def test_assess_application_age_off_by_default() -> None:
    old_first = incident(WINDOW_START)
    result = assess(application(old_first, *two_recent()), LLR, RECEIVED)
    assert result.met is True
    assert not any("first report" in reason for reason in result.reasons)


# No effective action, and the SPOC's own checks.


def test_assess_effective_action_taken_never_met() -> None:
    result = assess(application(*three_recent(), no_effective_action=False), LLR, RECEIVED)
    assert result.met is False
    assert result.route is None
    assert any("effective action has been taken, so the threshold is not met" in r for r in result.reasons)


def test_assess_effective_action_taken_hate_not_met() -> None:
    app = application(*two_recent(), hate_incident=True, no_effective_action=False)
    result = assess(app, LLR, RECEIVED)
    assert result.met is False
    assert result.route is None


def test_assess_effective_action_taken_no_verification() -> None:
    rules = ThresholdRules(multiple_complainants_route=True)
    result = assess(application(incident(date(2026, 9, 14)), no_effective_action=False), rules, RECEIVED)
    assert result.needs_verification is False
    assert result.met is False


def test_assess_effective_action_taken_reason_when_not_met_anyway() -> None:
    result = assess(application(no_effective_action=False), LLR, RECEIVED)
    assert any("effective action has been taken" in reason for reason in result.reasons)


def test_assess_extra_conditions_listed_as_spoc_checks() -> None:
    rules = ThresholdRules(extra_conditions=("The incidents happened in the district.", "Check the tenancy."))
    result = assess(application(*three_recent()), rules, RECEIVED)
    assert result.met is True
    assert result.reasons[-2:] == [
        "The SPOC also checks: The incidents happened in the district.",
        "The SPOC also checks: Check the tenancy.",
    ]


# check_application: problems that need today's date or the localities.


TODAY = date(2026, 11, 20)


def blaby_policy() -> LocalityPolicy:
    return LocalityPolicy.model_validate(
        {
            "key": "blaby",
            "code": "BLA",
            "council": "Blaby District Council",
            "partnership": "Blaby Community Safety Partnership",
            "nation": "england-and-wales",
            "report_asb": "Call 101.",
            "spoc": {"name": "SPOC", "email": "spoc@blaby.example.org", "signature": "Community Safety"},
            "manager": {"name": "Manager", "email": "manager@blaby.example.org"},
            "appeal": {
                "route": "independent_chair",
                "contact": {"name": "County team", "email": "county@leics.example.org"},
            },
            "agencies": [
                {"key": "police", "name": "Police", "kind": "police", "email": "police@example.org"},
                {"key": "asb", "name": "ASB team", "kind": "council_asb", "email": "asb@example.org"},
            ],
        }
    )


POLICIES = {"blaby": blaby_policy()}


def check(app: Application) -> list[Problem]:
    return check_application(app, today=TODAY, policies=POLICIES)


def test_check_application_valid_no_problems() -> None:
    assert check(application(*three_recent(), received_on=TODAY)) == []


def test_check_application_received_on_missing_no_problem() -> None:
    assert check(application(*three_recent())) == []


def test_check_application_unknown_locality_problem() -> None:
    problems = check(application(locality="atlantis"))
    assert problems == [Problem(("body", "locality"), "Select a council area this service covers: blaby")]


def test_check_application_received_in_future_problem() -> None:
    problems = check(application(received_on=date(2026, 11, 21)))
    assert problems == [Problem(("body", "received_on"), "Date received must be today or in the past")]


def test_check_application_incident_occurred_in_future_problem() -> None:
    future = incident(date(2026, 11, 21), date(2026, 11, 21))
    problems = check(application(incident(date(2026, 9, 1)), future))
    assert (
        Problem(
            ("body", "incidents", 1, "occurred_on"), "Date the incident happened must be today or in the past"
        )
        in problems
    )
    assert Problem(("body", "incidents", 1, "reported_on"), "Date reported must be today or in the past") in (
        problems
    )


def test_check_application_incident_reported_in_future_problem() -> None:
    problems = check(application(incident(date(2026, 11, 19), date(2026, 11, 21))))
    assert problems == [
        Problem(("body", "incidents", 0, "reported_on"), "Date reported must be today or in the past")
    ]


def test_check_application_incident_dated_today_no_problem() -> None:
    assert check(application(incident(TODAY, TODAY))) == []


def test_check_application_reported_before_occurred_problem() -> None:
    problems = check(application(incident(date(2026, 9, 1)), incident(date(2026, 9, 12), date(2026, 9, 11))))
    assert problems == [
        Problem(
            ("body", "incidents", 1, "reported_on"),
            "Date reported must be on or after the date the incident happened",
        )
    ]


def test_check_application_on_behalf_without_consent_problem() -> None:
    behalf = {"victim_name": "B. Resident", "relationship": "neighbour", "victim_consent": False}
    problems = check(application(on_behalf_of=behalf))
    assert problems == [
        Problem(
            ("body", "on_behalf_of", "victim_consent"),
            "Confirm the victim has agreed to you applying on their behalf",
        )
    ]


def test_check_application_on_behalf_with_consent_no_problem() -> None:
    behalf = {"victim_name": "B. Resident", "relationship": "neighbour", "victim_consent": True}
    assert check(application(on_behalf_of=behalf)) == []


def test_check_application_consent_to_share_false_no_problem() -> None:
    assert check(application(consent_to_share=False)) == []


@pytest.mark.parametrize(
    ("preference", "field"),
    [
        (ContactPreference.EMAIL, "email"),
        (ContactPreference.POST, "address"),
        (ContactPreference.PHONE, "phone"),
    ],
)
def test_check_application_contact_preference_without_detail_problem(
    preference: ContactPreference, field: str
) -> None:
    app = application(applicant={"name": "A. Resident", field: "   "}, contact_preference=preference)
    problems = check(app)
    assert [problem.loc for problem in problems] == [("body", "applicant", field)]
    assert "or choose a different way to be contacted" in problems[0].msg


@pytest.mark.parametrize(
    ("preference", "field", "value"),
    [
        (ContactPreference.EMAIL, "email", "a@example.org"),
        (ContactPreference.POST, "address", "1 High Street, Narborough"),
        (ContactPreference.PHONE, "phone", "0116 000 0000"),
    ],
)
def test_check_application_contact_preference_with_detail_no_problem(
    preference: ContactPreference, field: str, value: str
) -> None:
    app = application(applicant={"name": "A. Resident", field: value}, contact_preference=preference)
    assert check(app) == []


def test_check_application_problems_carry_nothing_personal() -> None:
    app = application(locality="nowhere", applicant={"name": "Jane Smithson"})
    assert all("Jane" not in problem.msg for problem in check(app))
