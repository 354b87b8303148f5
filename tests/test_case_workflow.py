"""Every path of a case, end to end: the real API, the real workflow on the time-skipping server, a real
SMTP sink and a real SQLite database. Dates are checked against the working-day calendar."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import Case, ChronologyEntry, Letter
from domain.calendar import add_working_days, is_working_day, london_date
from domain.deadlines import working_days_before
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"
MEETING = {
    # Replaced by `held_meeting` with a time just before the test's now: the panel decides after it met.
    "meeting_at": "2030-01-01T10:00:00+00:00",
    "location": "Council Offices, Narborough",
    "attendees": [
        {"name": "Sam Officer", "organisation": "Leicestershire Police"},
        {"name": "Jo Officer", "organisation": "Blaby District Council"},
    ],
    "youth_offending_service_invited": True,
}
PANEL = {
    "findings": "Agencies did not share information about repeated noise reports.",
    "recommendations": [
        {
            "agency": "Blaby District Council ASB Team",
            "action": "Install noise monitoring equipment.",
            "due_on": "2030-02-01",
        },
        {
            "agency": "East Midlands Homes",
            "action": "Review the tenancy and issue a warning.",
            "due_on": "2030-02-15",
        },
    ],
}


async def held_meeting(service: CaseService) -> dict[str, Any]:
    """The review meeting, held an hour ago (the panel cannot decide before its meeting)."""
    held_at = await service.now() - dt.timedelta(hours=1)
    return {**MEETING, "meeting_at": held_at.isoformat()}


async def next_working_morning(service: CaseService) -> dt.date:
    """Move to 10:00 on the next working day (a fresh start for each test's dates)."""
    day = await service.today() + dt.timedelta(days=1)
    while not is_working_day(day, NATION):
        day += dt.timedelta(days=1)
    await service.travel_to(day)
    return day


async def decide(service: CaseService, reference: str, outcome: str, **extra: Any) -> dict[str, Any]:
    await service.answer_requests(reference, "threshold")
    response = await service.act(
        reference,
        "threshold-decision",
        {
            "outcome": outcome,
            "reasons": "Checked with the police and the council: three incidents were reported in time.",
            **extra,
        },
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def to_review(service: CaseService) -> tuple[str, dt.date]:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    assert (await decide(service, reference, "met"))["stage"] == "review"
    await service.wait_for(reference, lambda c: c["stage"] == "review" and service.letters(c, "letter-2a"))
    return reference, today


async def to_outcome(service: CaseService) -> tuple[str, dt.date]:
    reference, today = await to_review(service)
    assert (await service.act(reference, "review-meeting", await held_meeting(service))).status_code == 200
    assert (await service.act(reference, "impact-statement", {"method": "in_person"})).status_code == 200
    await service.answer_requests(reference, "review")
    response = await service.act(reference, "panel-decision", PANEL)
    assert response.status_code == 200, response.text
    await service.wait_for(
        reference, lambda c: service.letters(c, "letter-3") and c["deadlines"]["appeal_by"]
    )
    return reference, today


async def test_apply_met_path_runs_to_closure_with_every_letter(service: CaseService) -> None:
    today = await next_working_morning(service)
    response = await service.apply(application(today=today), key=uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    assert reference.startswith(f"CT-BLA-{today.year}-")
    assert response.headers["Location"].endswith(f"/api/cases/{reference}")

    case = await service.wait_for(
        reference, lambda c: c["stage"] == "threshold_check" and len(c["information_requests"]) == 3
    )
    # Letter 1 at once; its deadline and the threshold decision's follow the working-day calendar.
    assert case["deadlines"]["acknowledge_by"] == add_working_days(today, 5, NATION).isoformat()
    assert case["deadlines"]["threshold_decision_by"] == add_working_days(today, 10, NATION).isoformat()
    assert [(letter["code"], letter["sent_on"], letter["channel"]) for letter in case["letters"]] == [
        ("letter-1", today.isoformat(), "email")
    ]
    assert case["assessment"]["met"] is True and case["assessment"]["route"] == "three_incidents"
    # The police, the council's ASB team and the housing provider are asked for their records.
    agencies = sorted(r["agency"] for r in case["information_requests"])
    assert agencies == ["Blaby District Council ASB Team", "East Midlands Homes", "Leicestershire Police"]
    request_mail = [m for m in service.mail_about(reference) if "information request" in str(m["Subject"])]
    assert sorted(str(m["To"]) for m in request_mail) == [
        "asb.casereview@leicestershire-police.example",
        "asb@blaby.council.example",
        "asb@east-midlands-homes.example",
    ]
    letter_1 = [m for m in service.mail_about(reference) if str(m["To"]) == "alex@example.test"]
    assert len(letter_1) == 1
    assert letter_1[0]["From"] == "community.trigger@blaby.council.example"
    assert "Alex" not in str(letter_1[0]["Subject"])

    # The SPOC records the police's answer on its behalf; it shows on the case.
    police = next(r for r in case["information_requests"] if r["agency"] == "Leicestershire Police")
    answer = {
        "request_key": police["request_key"],
        "records_found": "Three calls logged.",
        "supports_threshold": True,
        "received_by": "phone",
    }
    response = await service.act(reference, "agency-responses", answer)
    assert response.status_code == 200, response.text
    case = await service.case(reference)
    police = next(r for r in case["information_requests"] if r["agency"] == "Leicestershire Police")
    assert police["state"] == "answered" and police["response"]["records_found"] == "Three calls logged."
    again = await service.act(reference, "agency-responses", answer)
    assert again.status_code == 409 and "already been answered" in again.json()["detail"]

    assert (await decide(service, reference, "met"))["stage"] == "review"
    case = await service.wait_for(
        reference,
        lambda c: (
            service.letters(c, "letter-2a")
            and len(c["information_requests"]) == 6
            and c["deadlines"]["outcome_by"]
        ),
    )
    letter_2a_on = dt.date.fromisoformat(service.letters(case, "letter-2a")[0]["sent_on"])
    assert case["deadlines"]["outcome_by"] == add_working_days(letter_2a_on, 20, NATION).isoformat()
    assert {r["purpose"] for r in case["information_requests"]} == {"threshold", "review"}

    assert (await service.act(reference, "review-meeting", await held_meeting(service))).status_code == 200
    response = await service.act(reference, "impact-statement", {"method": "in_person", "minutes": 45})
    assert response.status_code == 422 and "30 minutes" in response.text
    response = await service.act(reference, "impact-statement", {"method": "in_person"})
    assert response.status_code == 200, response.text
    await service.answer_requests(reference, "review")
    response = await service.act(reference, "panel-decision", PANEL)
    assert response.status_code == 200 and response.json()["stage"] == "appeal_window"

    case = await service.wait_for(
        reference, lambda c: service.letters(c, "letter-3") and c["deadlines"]["appeal_by"]
    )
    letter_3_on = dt.date.fromisoformat(service.letters(case, "letter-3")[0]["sent_on"])
    assert case["deadlines"]["appeal_by"] == add_working_days(letter_3_on, 20, NATION).isoformat()
    assert case["decisions"]["impact_statement"]["minutes"] == 30
    assert len(case["decisions"]["panel_decision"]["recommendations"]) == 2

    status = await service.result(reference, history="met-path-v3")  # skips to the end of the appeal window
    assert status.closed_reason.value == "review_completed"
    case = await service.case(reference)
    assert case["stage"] == "closed" and case["closed_reason"] == "review_completed"
    assert [letter["code"] for letter in case["letters"]] == ["letter-1", "letter-2a", "letter-3"]
    # The chronology names who did what.
    actors = {entry["actor"] for entry in case["chronology"]}
    assert any("Development SPOC" in actor for actor in actors)
    assert any("Threshold decision: met" in entry["event"] for entry in case["chronology"])


async def test_apply_not_met_sends_letter_2b_and_closes_when_appeal_window_ends(service: CaseService) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    result = await decide(service, reference, "not_met")
    assert result["stage"] == "appeal_window"
    case = await service.wait_for(
        reference, lambda c: service.letters(c, "letter-2b") and c["deadlines"]["appeal_by"]
    )
    assert [letter["code"] for letter in case["letters"]] == ["letter-1", "letter-2b"]
    status = await service.result(reference, history="not-met-v3")
    assert status.closed_reason.value == "threshold_not_met"
    closed_at = next(
        e for e in (await service.case(reference))["chronology"] if "appeal window ended" in e["event"]
    )
    # The window closes at the end of the appeal_by day, London time.
    appeal_by = dt.date.fromisoformat(case["deadlines"]["appeal_by"])
    assert london_date(dt.datetime.fromisoformat(closed_at["at"])) == appeal_by + dt.timedelta(days=1)


async def test_apply_rejected_sends_rejection_with_ground(service: CaseService) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    response = await service.act(reference, "threshold-decision", {"outcome": "rejected", "reasons": "x"})
    assert response.status_code == 422  # a rejection needs its ground
    await decide(service, reference, "rejected", rejection_ground="vexatious")
    case = await service.wait_for(reference, lambda c: service.letters(c, "rejection"))
    assert case["decisions"]["threshold_decision"]["rejection_ground"] == "vexatious"
    status = await service.result(reference, history="rejected-v3")
    assert status.closed_reason.value == "rejected"


async def test_decide_below_threshold_acceptance_is_recorded_with_reasons(service: CaseService) -> None:
    today = await next_working_morning(service)
    body = application(today=today)
    body["incidents"] = body["incidents"][:1]  # one incident: below the threshold
    reference = await service.open_case(body)
    assert (await service.case(reference))["assessment"]["met"] is False
    await decide(service, reference, "met", below_threshold=True)
    case = await service.wait_for(reference, lambda c: service.letters(c, "letter-2a"))
    assert case["decisions"]["threshold_decision"]["below_threshold"] is True
    assert any("accepted below the threshold" in e["event"] for e in case["chronology"])


async def test_threshold_decision_late_sends_updates_and_escalations_on_working_days(
    service: CaseService,
) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    due = add_working_days(today, 10, NATION)
    # Decide 25 working days after Letter 1: the deadline passed at 10 WD, again at 20 WD.
    decision_day = add_working_days(today, 25, NATION)
    await service.travel_to(decision_day)
    case = await service.wait_for(reference, lambda c: len(service.letters(c, "update-threshold")) == 2)
    updates = service.letters(case, "update-threshold")
    assert [(u["sequence"], u["sent_on"]) for u in updates] == [
        (1, due.isoformat()),
        (2, add_working_days(due, 10, NATION).isoformat()),
    ]
    # Reminder to the SPOC 2 working days before; escalations to the SPOC and the manager each time.
    reminders = service.outbox(reference, "reminder")
    assert [m.recipient for m in reminders] == ["community.trigger@blaby.council.example"]
    escalations = service.outbox(reference, "escalation")
    assert sorted(m.recipient for m in escalations) == sorted(
        ["community.trigger@blaby.council.example", "community.safety.manager@blaby.council.example"] * 2
    )
    chronology = case["chronology"]
    reminded = next(e for e in chronology if e["event"].startswith("Reminder 1"))
    assert london_date(dt.datetime.fromisoformat(reminded["at"])) == working_days_before(due, 2, NATION)
    escalated = [e for e in chronology if e["event"].startswith("Escalation")]
    assert [london_date(dt.datetime.fromisoformat(e["at"])) for e in escalated] == [
        due,
        add_working_days(due, 10, NATION),
    ]
    assert all(m.status == "sent" for m in escalations)
    await decide(service, reference, "not_met")
    await service.wait_for(reference, lambda c: service.letters(c, "letter-2b"))
    # No more updates once decided.
    await service.travel_to(add_working_days(decision_day, 15, NATION))
    case = await service.case(reference)
    assert len(service.letters(case, "update-threshold")) == 2


async def test_threshold_decision_25_working_days_after_deadline_sends_three_updates(
    service: CaseService,
) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    due = add_working_days(today, 10, NATION)
    await service.travel_to(add_working_days(due, 25, NATION))
    case = await service.wait_for(reference, lambda c: len(service.letters(c, "update-threshold")) == 3)
    assert [u["sent_on"] for u in service.letters(case, "update-threshold")] == [
        due.isoformat(),
        add_working_days(due, 10, NATION).isoformat(),
        add_working_days(due, 20, NATION).isoformat(),
    ]
    assert case["next_deadline"] == add_working_days(due, 30, NATION).isoformat()
    # The decision is 25 working days late: overdue, although the next deadline (the next update letter)
    # is still ahead.
    for overdue, listed in (("true", True), ("false", False)):
        found = await service.api.get(
            "/api/cases",
            params={"overdue": overdue, "stage": "threshold_check", "limit": 500},
            headers=service.spoc(),
        )
        assert (reference in {c["reference"] for c in found.json()}) is listed
    await service.act(reference, "withdraw", {"reason": "Moved away.", "requested_by": "applicant"})
    await service.result(reference, history="threshold-late-withdrawn-v3")


async def test_outcome_late_sends_update_outcome_every_20_working_days(service: CaseService) -> None:
    reference, _ = await to_review(service)
    case = await service.case(reference)
    outcome_by = dt.date.fromisoformat(case["deadlines"]["outcome_by"])
    await service.travel_to(add_working_days(outcome_by, 21, NATION))
    case = await service.wait_for(reference, lambda c: len(service.letters(c, "update-outcome")) == 2)
    assert [u["sent_on"] for u in service.letters(case, "update-outcome")] == [
        outcome_by.isoformat(),
        add_working_days(outcome_by, 20, NATION).isoformat(),
    ]
    assert (await service.act(reference, "review-meeting", await held_meeting(service))).status_code == 200
    await service.answer_requests(reference, "review")
    assert (await service.act(reference, "panel-decision", PANEL)).status_code == 200
    await service.wait_for(reference, lambda c: service.letters(c, "letter-3"))


@pytest.mark.parametrize("stage", ["threshold_check", "review", "appeal_window"])
async def test_withdraw_at_each_stage_closes_with_a_confirmation_letter(
    service: CaseService, stage: str
) -> None:
    if stage == "threshold_check":
        reference = await service.open_case(application(today=await next_working_morning(service)))
    elif stage == "review":
        reference, _ = await to_review(service)
    else:
        reference, _ = await to_outcome(service)
    response = await service.act(
        reference, "withdraw", {"reason": "Things are better now.", "requested_by": "applicant"}
    )
    assert response.status_code == 200 and response.json()["stage"] == "closed"
    status = await service.result(reference)
    assert status.closed_reason.value == "withdrawn"
    case = await service.case(reference)
    assert case["stage"] == "closed" and case["closed_reason"] == "withdrawn"
    assert service.letters(case, "withdrawal")
    assert any(f"withdrawn at the {stage} stage" in e["event"] for e in case["chronology"])
    again = await service.act(reference, "withdraw", {"reason": "again"})
    assert again.status_code == 409


async def test_appeal_request_after_window_is_refused(service: CaseService) -> None:
    reference, _ = await to_outcome(service)
    case = await service.case(reference)
    late = dt.date.fromisoformat(case["deadlines"]["appeal_by"]) + dt.timedelta(days=1)
    response = await service.act(
        reference, "appeal-request", {"received_on": late.isoformat(), "grounds": [1], "explanation": "x"}
    )
    assert response.status_code == 422  # in the future, as far as today is concerned
    await service.result(reference)
    response = await service.act(reference, "appeal-request", {"grounds": [1], "explanation": "Too late."})
    assert response.status_code == 409 and "closed" in response.json()["detail"]


async def test_deadlines_over_christmas_and_easter_skip_bank_holidays(fresh_clock: CaseService) -> None:
    # A clock of its own: the shared one may be past this Christmas already (see conftest `fresh_clock`).
    service = fresh_clock
    now = await service.today()
    christmas = dt.date(now.year if (now.month, now.day) < (12, 20) else now.year + 1, 12, 25)
    christmas_week = working_days_before(christmas, 2, NATION)  # 5 working days must span Christmas
    await service.travel_to(christmas_week)
    reference = await service.open_case(application(today=christmas_week))
    case = await service.case(reference)
    acknowledge_by = dt.date.fromisoformat(case["deadlines"]["acknowledge_by"])
    threshold_by = dt.date.fromisoformat(case["deadlines"]["threshold_decision_by"])
    assert acknowledge_by == add_working_days(christmas_week, 5, NATION)
    # Christmas Day, Boxing Day (or their substitutes) and New Year's Day are not counted.
    assert (acknowledge_by - christmas_week).days >= 9
    assert threshold_by == add_working_days(christmas_week, 10, NATION)
    assert (threshold_by - christmas_week).days >= 16
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "spoc"})
    await service.result(reference)

    # Easter: a case whose threshold decision falls due across Good Friday and Easter Monday.
    from dateutil.easter import easter  # holidays depends on python-dateutil

    good_friday = easter(christmas_week.year + 1) - dt.timedelta(days=2)
    start = working_days_before(good_friday, 3, NATION)
    await service.travel_to(start)
    reference = await service.open_case(application(today=start))
    case = await service.case(reference)
    threshold_by = dt.date.fromisoformat(case["deadlines"]["threshold_decision_by"])
    assert threshold_by == add_working_days(start, 10, NATION)
    # 10 working days, two weekends (4 days) and Good Friday and Easter Monday: 16 calendar days.
    assert (threshold_by - start).days == 16
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "spoc"})
    await service.result(reference)


async def test_apply_twice_with_same_idempotency_key_makes_one_case(service: CaseService) -> None:
    today = await next_working_morning(service)
    body = application(today=today)
    key = uuid.uuid4().hex
    first, second = await asyncio.gather(service.apply(body, key=key), service.apply(body, key=key))
    assert {first.status_code, second.status_code} <= {200, 201}
    assert first.json()["reference"] == second.json()["reference"]
    reference = first.json()["reference"]
    third = await service.apply(body, key=key)
    assert third.status_code == 200 and third.json()["reference"] == reference
    await service.wait_for(reference, lambda c: service.letters(c, "letter-1"))
    await asyncio.sleep(0.5)
    with service.sessions() as session:
        letters = session.scalar(
            select(func.count())
            .select_from(Letter)
            .join(Letter.case)
            .where(Letter.code == "letter-1")
            .where(Letter.case.has(reference=reference))
        )
    assert letters == 1
    assert len([m for m in service.mail_about(reference) if str(m["To"]) == "alex@example.test"]) == 1
    other = dict(body, hate_incident=True)
    conflict = await service.apply(other, key=key)
    assert conflict.status_code == 409


async def test_decision_at_wrong_stage_is_409_and_writes_nothing(service: CaseService) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    # The case's last entry before it waits for the decision: from here on only an action writes.
    await service.wait_for(
        reference, lambda c: any(e["event"].startswith("Waiting to tell") for e in c["chronology"])
    )
    with service.sessions() as session:
        before = session.scalar(
            select(func.count())
            .select_from(ChronologyEntry)
            .where(ChronologyEntry.case.has(reference=reference))
        )
    response = await service.act(reference, "panel-decision", PANEL)
    assert response.status_code == 409
    assert "review stage" in response.json()["detail"] and "threshold_check" in response.json()["detail"]
    response = await service.act(reference, "appeal-request", {"grounds": [1], "explanation": "x"})
    assert response.status_code == 409
    with service.sessions() as session:
        after = session.scalar(
            select(func.count())
            .select_from(ChronologyEntry)
            .where(ChronologyEntry.case.has(reference=reference))
        )
        assert after == before
    assert service.case_row(reference).panel_decision is None
    await decide(service, reference, "met")
    response = await service.act(reference, "panel-decision", PANEL)
    assert response.status_code == 409 and "review meeting" in response.json()["detail"]
    duplicate = await service.act(reference, "threshold-decision", {"outcome": "not_met", "reasons": "x"})
    assert duplicate.status_code == 409
    await service.act(reference, "withdraw", {"reason": "Done.", "requested_by": "spoc"})
    await service.result(reference)


async def test_staff_of_another_locality_get_404_and_anonymous_get_401(service: CaseService) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    other = await service.api.get(f"/api/cases/{reference}", headers=service.spoc("derby"))
    assert other.status_code == 404
    acted = await service.act(
        reference, "threshold-decision", {"outcome": "met", "reasons": "x"}, locality="derby"
    )
    assert acted.status_code == 404
    anonymous = await service.api.get(f"/api/cases/{reference}")
    assert anonymous.status_code == 401
    listed = await service.api.get("/api/cases", headers=service.spoc("derby"))
    assert reference not in {c["reference"] for c in listed.json()}
    listed = await service.api.get(
        "/api/cases", params={"locality": "blaby", "limit": 500}, headers=service.spoc()
    )
    assert reference in {c["reference"] for c in listed.json()}
    await service.act(reference, "withdraw", {"reason": "Done.", "requested_by": "spoc"})
    await service.result(reference)


async def test_apply_invalid_application_is_422_and_stores_nothing(service: CaseService) -> None:
    today = await next_working_morning(service)
    body = application(
        today=today, on_behalf_of={"victim_name": "V", "relationship": "son", "victim_consent": False}
    )
    with service.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Case))
    response = await service.apply(body, key=uuid.uuid4().hex)
    assert response.status_code == 422
    assert ["body", "on_behalf_of", "victim_consent"] in [item["loc"] for item in response.json()["detail"]]
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == before


async def test_apply_by_post_queues_letters_for_printing_and_sends_no_email(service: CaseService) -> None:
    today = await next_working_morning(service)
    body = application(today=today, contact_preference="post")
    body["applicant"] = dict(body["applicant"], email=None)
    reference = await service.open_case(body)
    case = await service.wait_for(reference, lambda c: service.letters(c, "letter-1"))
    letter = service.letters(case, "letter-1")[0]
    assert (letter["channel"], letter["status"]) == ("post", "queued_for_printing")
    assert service.outbox(reference, "letter-1") == []
    assert any("queued for printing" in e["event"] for e in case["chronology"])
    await service.act(reference, "withdraw", {"reason": "Done.", "requested_by": "spoc"})
    await service.result(reference)
    assert [m for m in service.mail_about(reference) if "information request" not in str(m["Subject"])] == []


async def test_panel_decision_waits_for_the_review_meeting_to_have_happened(service: CaseService) -> None:
    reference, _ = await to_review(service)
    tomorrow = await service.now() + dt.timedelta(days=1)
    assert (
        await service.act(reference, "review-meeting", {**MEETING, "meeting_at": tomorrow.isoformat()})
    ).status_code == 200
    await service.answer_requests(reference, "review")
    early = await service.act(reference, "panel-decision", PANEL)
    assert early.status_code == 409 and "has not happened yet" in early.json()["detail"]
    assert (await service.case(reference))["decisions"]["panel_decision"] is None

    await service.travel_to(london_date(tomorrow) + dt.timedelta(days=1))
    after = await service.act(reference, "panel-decision", PANEL)
    assert after.status_code == 200, after.text
    await service.wait_for(reference, lambda c: service.letters(c, "letter-3"))


async def test_open_requests_close_with_the_case_and_agencies_hear_no_answer_is_needed(
    service: CaseService,
) -> None:
    reference = await service.open_case(application(today=await next_working_morning(service)))
    case = await service.case(reference)
    agencies = {r["agency_email"] for r in case["information_requests"] if r["state"] == "requested"}
    assert len(agencies) == 3
    response = await service.act(
        reference, "withdraw", {"reason": "Moved away.", "requested_by": "applicant"}
    )
    assert response.status_code == 200
    await service.result(reference)
    case = await service.case(reference)
    assert {r["state"] for r in case["information_requests"]} == {"closed"}
    told = [m for m in service.mail_about(reference) if "No answer needed" in str(m["Subject"])]
    assert told, [str(m["Subject"]) for m in service.mail_about(reference)]
    assert {str(m["To"]) for m in told} == agencies
