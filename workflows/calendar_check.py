"""The weekly bank-holiday check: tells running cases when the installed bank holidays differ from theirs.

A case counts its deadlines with the bank holidays it was given when it started (see domain/calendar.py),
so that upgrading the `holidays` package never changes a running case behind its back. When a new release
adds or moves a day (a one-off bank holiday is proclaimed, say), this check, run by a Temporal Schedule
that the worker creates, sends each open case the `calendar_changed` update; a case that already has the
same days rejects it, which leaves nothing in its history.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.models import CalendarCheckResult

CALENDAR_CHECK_SCHEDULE_ID = "bank-holiday-check"
CALENDAR_CHECK_WORKFLOW_ID = "bank-holiday-check"

# One attempt may update thousands of cases; it heartbeats after each, so a dead worker is noticed soon.
CHECK_TIMEOUT = timedelta(hours=2)
CHECK_HEARTBEAT = timedelta(minutes=2)


@workflow.defn(name="CalendarCheckWorkflow")
class CalendarCheckWorkflow:
    @workflow.run
    async def run(self) -> CalendarCheckResult:
        result: CalendarCheckResult = await workflow.execute_activity(
            "send_bank_holidays_to_open_cases",
            start_to_close_timeout=CHECK_TIMEOUT,
            heartbeat_timeout=CHECK_HEARTBEAT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), maximum_attempts=5),
            result_type=CalendarCheckResult,
            summary="Send the installed bank holidays to every open case",
        )
        return result


async def ensure_calendar_check_schedule(client: Client, task_queue: str) -> bool:
    """Create the weekly schedule unless it exists (every Monday at 06:00 London time); True if created."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            CalendarCheckWorkflow.run,
            id=CALENDAR_CHECK_WORKFLOW_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_week=[ScheduleRange(1)],
                    hour=[ScheduleRange(6)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name="Europe/London",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(CALENDAR_CHECK_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
