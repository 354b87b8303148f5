"""When a step's reminders, escalations and update letters fall, from its due date. Pure: no clock.

A step is due by the end of its due date. The SPOC is reminded at the start of the working day that is
`reminder_before` working days earlier. If the step is still not done at close of business on the due
date, the deadline has passed: the applicant gets an update letter dated that day, and the SPOC and the
locality's manager an escalation. Both go again every `update_interval` working days until it is done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from domain.calendar import Nation, add_working_days, deadline_instant, is_working_day

START_OF_DAY = dt.time(9, 0)
CLOSE_OF_BUSINESS = dt.time(17, 0)


class StepEventKind(StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class StepEvent:
    kind: StepEventKind
    on: dt.date
    at: dt.datetime  # UTC
    # 1 for the reminder and the first overdue event, then 2, 3, ... for each further update.
    sequence: int


def working_days_before(day: dt.date, days: int, nation: Nation) -> dt.date:
    """The working day that is `days` working days before `day` (`day` itself when days is 0)."""
    if days < 0:
        raise ValueError(f"days must be zero or more, not {days}")
    result = day
    remaining = days
    while remaining:
        result -= dt.timedelta(days=1)
        if is_working_day(result, nation):
            remaining -= 1
    return result


def step_events(
    due: dt.date, *, reminder_before: int, update_interval: int, nation: Nation
) -> Iterator[StepEvent]:
    """The step's events in time order: an optional reminder, then overdue events without end."""
    if reminder_before > 0:
        reminder_on = working_days_before(due, reminder_before, nation)
        yield StepEvent(StepEventKind.REMINDER, reminder_on, deadline_instant(reminder_on, START_OF_DAY), 1)
    overdue_on = due
    sequence = 1
    while True:
        yield StepEvent(
            StepEventKind.OVERDUE, overdue_on, deadline_instant(overdue_on, CLOSE_OF_BUSINESS), sequence
        )
        overdue_on = add_working_days(overdue_on, update_interval, nation)
        sequence += 1


def window_closes_at(last_day: dt.date) -> dt.datetime:
    """The UTC instant a window that includes the whole of `last_day` (Europe/London) closes."""
    return deadline_instant(last_day + dt.timedelta(days=1), dt.time(0, 0))


class ChaseKind(StrEnum):
    # A reminder to the agency some working days before its answer is due.
    REMINDER = "reminder"
    # The due date: a second reminder to the agency, and an escalation to the SPOC.
    DUE = "due"


@dataclass(frozen=True)
class ChaseEvent:
    kind: ChaseKind
    on: dt.date
    at: dt.datetime  # UTC


def chase_events(due: dt.date, *, reminder_before: int, nation: Nation) -> list[ChaseEvent]:
    """When an agency is chased for an answer due on `due`: a reminder at the start of the working day
    `reminder_before` working days earlier (none when 0), then the due-date chase at the start of that day.
    """
    events = []
    if reminder_before > 0:
        reminder_on = working_days_before(due, reminder_before, nation)
        events.append(
            ChaseEvent(ChaseKind.REMINDER, reminder_on, deadline_instant(reminder_on, START_OF_DAY))
        )
    events.append(ChaseEvent(ChaseKind.DUE, due, deadline_instant(due, START_OF_DAY)))
    return events


@dataclass(frozen=True)
class ChaseDue:
    """A chase of one information request, and the due date it was planned for."""

    key: str
    due: dt.date
    event: ChaseEvent

    @property
    def tag(self) -> str:
        """Names this chase once for good: a chase with the same tag is never sent twice."""
        return chase_tag(self.key, self.event)


def chase_tag(key: str, event: ChaseEvent) -> str:
    return f"{key}|{event.kind.value}|{event.on.isoformat()}"


@dataclass(frozen=True)
class AwaitedAnswer:
    """An information request still waiting for its answer."""

    key: str
    due: dt.date
    # When its due date was last set: a reminder that would fall before then is not sent.
    due_set_at: dt.datetime


def chases_to_come(
    awaited: list[AwaitedAnswer], *, chased: set[str], reminder_before: int, nation: Nation
) -> list[ChaseDue]:
    """The chases still to send for the requests awaited, in time order (then by request key)."""
    planned: list[ChaseDue] = []
    for answer in awaited:
        for event in chase_events(answer.due, reminder_before=reminder_before, nation=nation):
            chase = ChaseDue(answer.key, answer.due, event)
            if chase.tag in chased:
                continue
            if event.kind == ChaseKind.REMINDER and event.at <= answer.due_set_at:
                continue  # too late to remind: the due-date chase comes next
            planned.append(chase)
    planned.sort(key=lambda chase: (chase.event.at, chase.key))
    return planned
