"""Wait for a step someone owns: remind before its deadline, then update and escalate after it, again and
again, until it is done. Shared by the workflows whose steps have working-day deadlines.

Workflow code: time from `workflow.now()`, waits through `workflow.wait_condition`. The step's due date and
the calendar are read afresh on each turn, so that a calendar change (or an extension) moves what comes
next; events whose moment had already passed when the dates moved are not sent after the fact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import WorkingCalendar, add_working_days
    from domain.deadlines import StepEvent, StepEventKind, step_events


@dataclass
class Step:
    """A step with a deadline, and what to do at each of its moments."""

    name: str
    # The current due date and calendar: read on every turn, as either may move while the step waits.
    due: Callable[[], dt.date]
    calendar: Callable[[], WorkingCalendar]
    reminder_before: int
    update_interval: int
    # True once the step is done (or no longer needed, such as after a withdrawal).
    finished: Callable[[], bool]
    # Bumped whenever the dates may have moved: the waiting step wakes and plans again.
    dates_version: Callable[[], int]
    remind: Callable[[StepEvent, dt.date], Awaitable[None]]
    # Called with the overdue event, the due date, and when the next update is now expected.
    overdue: Callable[[StepEvent, dt.date, dt.date], Awaitable[None]]


async def await_step(step: Step) -> None:
    """Return once the step is finished, sending its reminder, updates and escalations as they fall due."""
    reminded = False
    updates_sent = 0
    # Events at or before this moment were passed over when the dates moved: they are not sent late.
    passed_over_until: dt.datetime | None = None
    while not step.finished():
        due = step.due()
        calendar = step.calendar()
        event = _next_event(due, calendar, step, reminded, updates_sent)
        if passed_over_until is not None and event.at <= passed_over_until:
            reminded, updates_sent = _mark_done(event, reminded, updates_sent)
            continue
        wait = event.at - workflow.now()
        if event.kind == StepEventKind.REMINDER and wait <= timedelta(0):
            reminded = True  # too late to remind: the deadline itself comes next
            continue
        if wait > timedelta(0):
            try:
                await workflow.wait_condition(
                    _finished_or_moved(step), timeout=wait, timeout_summary=_summary(step, event, due)
                )
            except TimeoutError:
                pass
            else:
                if step.finished():
                    return
                passed_over_until = workflow.now()
                continue
        if event.kind == StepEventKind.REMINDER:
            reminded = True
            await step.remind(event, due)
            continue
        updates_sent = event.sequence
        await step.overdue(event, due, add_working_days(event.on, step.update_interval, calendar))


def _finished_or_moved(step: Step) -> Callable[[], bool]:
    seen = step.dates_version()
    return lambda: step.finished() or step.dates_version() != seen


def _summary(step: Step, event: StepEvent, due: dt.date) -> str:
    if event.kind == StepEventKind.REMINDER:
        return f"Remind the SPOC on {event.on}: {step.name} due {due}"
    return f"Deadline {step.name} due {due}: update {event.sequence} on {event.on} unless done"


def _next_event(
    due: dt.date, calendar: WorkingCalendar, step: Step, reminded: bool, updates_sent: int
) -> StepEvent:
    for event in step_events(
        due, reminder_before=step.reminder_before, update_interval=step.update_interval, nation=calendar
    ):
        if event.kind == StepEventKind.REMINDER and not reminded:
            return event
        if event.kind == StepEventKind.OVERDUE and event.sequence > updates_sent:
            return event
    raise AssertionError("step_events never ends")  # pragma: no cover


def _mark_done(event: StepEvent, reminded: bool, updates_sent: int) -> tuple[bool, int]:
    if event.kind == StepEventKind.REMINDER:
        return True, updates_sent
    return reminded, event.sequence
