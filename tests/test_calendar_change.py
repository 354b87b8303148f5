"""A case runs by the bank holidays in its input, never by the installed `holidays` data: a new bank
holiday in the installed data leaves committed histories replaying, and reaches a running case only
through the weekly check's `calendar_changed` update, which moves the deadlines not yet passed.

Real parts: the time-skipping Temporal server, the worker, the API, the SMTP sink, SQLite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, Worker

from activities.calendar import CalendarActivities
from core.localities import load_policies
from domain import calendar
from domain.calendar import WorkingCalendar, add_working_days, installed_calendar, is_working_day
from domain.legacy_bank_holidays import legacy_calendar
from tests import support
from tests.support import CaseService, application
from workflows.appeal import AppealWorkflow
from workflows.calendar_check import CalendarCheckWorkflow
from workflows.case import WORKFLOW_RUNNER, CaseWorkflow
from workflows.models import BankHolidays, CalendarCheckResult

NATION = "england-and-wales"
HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def add_installed_holidays(days: set[dt.date], nation: str = NATION) -> None:
    """Add days to the installed bank holidays, as a new release of `holidays` would."""
    for day in days:
        table = calendar._TABLE[nation]
        table[day.year] = table.get(day.year, frozenset()) | {day}
    calendar._bank_holidays.cache_clear()


@pytest.fixture
def installed_data() -> Iterator[None]:
    """Restores the installed bank holidays after the test has changed them."""
    saved = {nation: dict(years) for nation, years in calendar._TABLE.items()}
    yield
    for nation, years in saved.items():
        calendar._TABLE[nation] = years
    calendar._bank_holidays.cache_clear()


def test_legacy_calendar_is_the_installed_data_the_old_cases_ran_by() -> None:
    for nation in calendar.NATIONS:
        assert legacy_calendar(nation).holidays == installed_calendar(nation, 2020, 2035).holidays


def test_a_case_calendar_counts_only_its_own_holidays() -> None:
    own = WorkingCalendar(NATION, 2026, 2026, frozenset({dt.date(2026, 6, 3)}))
    # Tuesday 2 June 2026 + 1 working day: the Wednesday is the case's holiday, Thursday it is.
    assert add_working_days(dt.date(2026, 6, 2), 1, own) == dt.date(2026, 6, 4)
    # The installed data's Christmas is not the case's: only weekends are non-working beyond it.
    assert is_working_day(dt.date(2026, 12, 25), own)
    assert not is_working_day(dt.date(2026, 12, 25), NATION)


def test_bank_holidays_round_trip_through_the_workflow_input() -> None:
    holidays = BankHolidays.installed("scotland", dt.date(2026, 11, 29))
    assert (holidays.first_year, holidays.last_year) == (2025, 2029)
    assert holidays.calendar() == installed_calendar("scotland", 2025, 2029)
    # A payload from a newer version, with a field this one does not know, still loads.
    loaded = BankHolidays.model_validate({**holidays.model_dump(mode="json"), "source": "gov.uk"})
    assert loaded == holidays


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_histories_replay_after_the_installed_holidays_change(path: Path, installed_data: None) -> None:
    # Every Wednesday of 2024 to 2028 becomes a bank holiday: any deadline counted with the installed data
    # would move, and the replay would fail.
    wednesdays = {dt.date(2024, 1, 3) + dt.timedelta(weeks=week) for week in range(52 * 5)}
    before = add_working_days(dt.date(2026, 6, 1), 10, NATION)
    add_installed_holidays(wednesdays)
    assert add_working_days(dt.date(2026, 6, 1), 10, NATION) != before
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[CaseWorkflow, AppealWorkflow],
        data_converter=support.DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(history)


async def run_calendar_check(service: CaseService) -> CalendarCheckResult:
    """Run the weekly check as its schedule would, on a worker of its own."""
    queue = f"calendar-{uuid.uuid4().hex[:8]}"
    activities = CalendarActivities(load_policies(service.settings.localities_dir), service.sessions)
    async with Worker(
        service.env.client,
        task_queue=queue,
        workflows=[CalendarCheckWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[activities.send_bank_holidays_to_open_cases],
    ):
        result: CalendarCheckResult = await service.env.client.execute_workflow(
            CalendarCheckWorkflow.run, id=f"bank-holiday-check-{queue}", task_queue=queue
        )
        return result


async def accepted_calendar_updates(service: CaseService, reference: str) -> int:
    history = await service.env.client.get_workflow_handle(f"Case:{reference}").fetch_history()
    return sum(
        1
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "calendar_changed"
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_new_bank_holiday_moves_a_running_case_deadlines_once(
    service: CaseService, installed_data: None
) -> None:
    start = await service.today() + dt.timedelta(days=1)
    while not is_working_day(start, NATION):
        start += dt.timedelta(days=1)
    await service.travel_to(start)
    reference = await service.open_case(application(today=start))
    case = await service.case(reference)
    old_due = dt.date.fromisoformat(case["deadlines"]["threshold_decision_by"])
    assert old_due == add_working_days(start, 10, NATION)
    old_request_due = {r["request_key"]: r["due_on"] for r in case["information_requests"]}

    # A bank holiday is proclaimed three working days from now, and a release of `holidays` has it.
    proclaimed = add_working_days(start, 3, NATION)
    add_installed_holidays({proclaimed})
    # The running case does not see it until the check tells it.
    assert (await service.case(reference))["deadlines"]["threshold_decision_by"] == old_due.isoformat()

    first = await run_calendar_check(service)
    assert first.updated >= 1
    new_due = add_working_days(old_due, 1, NATION)  # the installed data now includes the new holiday
    case = await service.case(reference)
    assert case["deadlines"]["threshold_decision_by"] == new_due.isoformat()
    assert case["next_deadline"] == new_due.isoformat()
    for request in case["information_requests"]:
        # Each agency's answer was due after the holiday: one working day later now.
        before = dt.date.fromisoformat(old_request_due[request["request_key"]])
        assert request["due_on"] == add_working_days(before, 1, NATION).isoformat()
    entries = [e["event"] for e in case["chronology"] if e["event"].startswith("Bank holidays changed")]
    assert len(entries) == 1
    assert f"Added: {proclaimed.day} {proclaimed:%B %Y}" in entries[0]
    assert f"the threshold decision from {old_due.day} {old_due:%B %Y} to {new_due.day}" in entries[0]

    # Run again: the case already has these days, rejects the update, and its history gains nothing.
    second = await run_calendar_check(service)
    assert second.open_cases >= 1
    assert await accepted_calendar_updates(service, reference) == 1

    # The SPOC's deadline timers follow the new date: nothing at 17:30 on the old due date...
    await service.answer_requests(reference, "threshold")
    await service.travel_to(old_due, dt.time(17, 30))
    await asyncio.sleep(1.0)
    assert service.letters(await service.case(reference), "update-threshold") == []
    # ... the update letter at 17:00 on the new one, dated that day.
    await service.travel_to(new_due, dt.time(17, 30))
    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "update-threshold")))
    assert service.letters(case, "update-threshold")[0]["sent_on"] == new_due.isoformat()

    withdrawn = await service.act(
        reference, "withdraw", {"reason": "The applicant moved away.", "requested_by": "applicant"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await service.result(reference, history="calendar-changed-v3")
