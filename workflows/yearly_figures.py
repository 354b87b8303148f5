"""The yearly figures' reminder: on the first working day after a locality's reporting year ends, its
manager gets the year's figures by email with a reminder to publish them.

A Temporal Schedule that the worker creates, `yearly-figures` (1 January and 1 April, 07:00 London time:
the days after calendar and financial years end), starts `YearlyFiguresWorkflow`. It asks which
localities' years have just ended and when each one's first working day after is, sleeps until 07:00 that
day, and has an activity send each locality's email. The history holds locality keys, years and dates;
the figures and the managers' addresses stay in the activity and the outbox.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
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
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.calendar import deadline_instant, london_date
    from domain.policy import ReportingYearKind
    from workflows.options import mail_options, record_options

YEARLY_FIGURES_SCHEDULE_ID = "yearly-figures"
YEARLY_FIGURES_WORKFLOW_ID = "yearly-figures"
# The emails go at this hour (London time) on the first working day after the year.
SEND_AT = dt.time(7, 0)


class _Model(BaseModel):
    # "ignore": a payload written by a newer version must still load in an older one.
    model_config = ConfigDict(extra="ignore", frozen=True)


class FiguresDue(_Model):
    """One locality's year that has just ended, and the day its figures go to its manager."""

    locality: str
    year_kind: ReportingYearKind
    start_year: int
    send_on: dt.date


class YearlyFiguresPlan(_Model):
    due: list[FiguresDue]


class FiguresSent(_Model):
    locality: str
    start_year: int
    emails: int
    # No active manager account for the locality: the email went to the manager named in its policy.
    to_policy_manager: bool


class YearlyFiguresResult(_Model):
    sent: list[FiguresSent]
    # Localities whose email could not be delivered (listed in the outbox as failed).
    failed: list[str]


@workflow.defn(name="YearlyFiguresWorkflow")
class YearlyFiguresWorkflow:
    @workflow.run
    async def run(self) -> YearlyFiguresResult:
        today = london_date(workflow.now())
        plan: YearlyFiguresPlan = await workflow.execute_activity(
            "plan_yearly_figures",
            today,
            result_type=YearlyFiguresPlan,
            **record_options(f"Which localities' reporting years ended by {today.isoformat()}"),
        )
        sent: list[FiguresSent] = []
        failed: list[str] = []
        for send_on in sorted({due.send_on for due in plan.due}):
            wait = deadline_instant(send_on, SEND_AT) - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(
                    wait, summary=f"Until {send_on.isoformat()}, the first working day after the year"
                )
            for due in (due for due in plan.due if due.send_on == send_on):
                try:
                    result: FiguresSent = await workflow.execute_activity(
                        "send_yearly_figures",
                        due,
                        result_type=FiguresSent,
                        **mail_options(f"Email {due.locality}'s figures for the year from {due.start_year}"),
                    )
                    sent.append(result)
                except ActivityError:
                    # Failed for good (a refused address): the other localities' emails still go.
                    failed.append(due.locality)
        return YearlyFiguresResult(sent=sent, failed=failed)


async def ensure_yearly_figures_schedule(client: Client, task_queue: str) -> bool:
    """Create the schedule unless it exists (1 January and 1 April, 07:00 London time); True if created."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            YearlyFiguresWorkflow.run,
            id=YEARLY_FIGURES_WORKFLOW_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    month=[ScheduleRange(1), ScheduleRange(4)],
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(SEND_AT.hour)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name="Europe/London",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(YEARLY_FIGURES_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
