"""When reminders, escalations and update letters fall for a step, from its due date."""

from __future__ import annotations

import datetime as dt
from itertools import islice

import pytest

from domain.deadlines import StepEventKind, step_events, window_closes_at, working_days_before

UTC = dt.UTC


def test_step_events_remind_two_working_days_before_and_escalate_every_ten() -> None:
    # Due Tuesday 5 January 2027: two working days before is Thursday 31 December 2026 (1 January is
    # a bank holiday); updates every 10 working days after.
    events = list(
        islice(
            step_events(
                dt.date(2027, 1, 5), reminder_before=2, update_interval=10, nation="england-and-wales"
            ),
            4,
        )
    )
    assert [(e.kind, e.on, e.sequence) for e in events] == [
        (StepEventKind.REMINDER, dt.date(2026, 12, 31), 1),
        (StepEventKind.OVERDUE, dt.date(2027, 1, 5), 1),
        (StepEventKind.OVERDUE, dt.date(2027, 1, 19), 2),
        (StepEventKind.OVERDUE, dt.date(2027, 2, 2), 3),
    ]
    # Reminders at 09:00 and overdue events at 17:00, London time (GMT in winter).
    assert events[0].at == dt.datetime(2026, 12, 31, 9, 0, tzinfo=UTC)
    assert events[1].at == dt.datetime(2027, 1, 5, 17, 0, tzinfo=UTC)


def test_step_events_in_summer_fire_at_london_time() -> None:
    events = list(
        islice(
            step_events(
                dt.date(2026, 7, 1), reminder_before=1, update_interval=20, nation="england-and-wales"
            ),
            2,
        )
    )
    assert events[0].at == dt.datetime(2026, 6, 30, 8, 0, tzinfo=UTC)  # 09:00 BST
    assert events[1].at == dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # 17:00 BST


def test_step_events_without_reminder_start_at_the_deadline() -> None:
    first = next(step_events(dt.date(2026, 12, 1), reminder_before=0, update_interval=10, nation="scotland"))
    assert first.kind == StepEventKind.OVERDUE and first.on == dt.date(2026, 12, 1)


@pytest.mark.parametrize(
    ("day", "days", "nation", "expected"),
    [
        (dt.date(2026, 12, 29), 1, "england-and-wales", dt.date(2026, 12, 24)),
        (dt.date(2026, 4, 7), 1, "england-and-wales", dt.date(2026, 4, 2)),  # over Easter
        (dt.date(2026, 4, 7), 1, "scotland", dt.date(2026, 4, 6)),  # no Easter Monday in Scotland
        (dt.date(2026, 11, 23), 0, "england-and-wales", dt.date(2026, 11, 23)),
    ],
)
def test_working_days_before_skips_weekends_and_bank_holidays(
    day: dt.date, days: int, nation: str, expected: dt.date
) -> None:
    assert working_days_before(day, days, nation) == expected


def test_working_days_before_negative_is_refused() -> None:
    with pytest.raises(ValueError, match="zero or more"):
        working_days_before(dt.date(2026, 1, 5), -1, "england-and-wales")


def test_window_closes_at_midnight_after_the_last_day_in_london() -> None:
    assert window_closes_at(dt.date(2026, 7, 10)) == dt.datetime(2026, 7, 10, 23, 0, tzinfo=UTC)
    assert window_closes_at(dt.date(2026, 12, 10)) == dt.datetime(2026, 12, 11, 0, 0, tzinfo=UTC)
