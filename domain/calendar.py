"""Working days and calendar months for Community Trigger deadlines. Pure: no clock, no I/O.

A working day is a weekday that is not a bank holiday in the locality's nation. Bank holidays,
substitute days and one-off proclaimed days come from the `holidays` package ("the installed data").
Deadlines are dates in Europe/London; `deadline_instant` turns one into the UTC instant a timer fires at.

Workflows never read the installed data: a case carries its own `WorkingCalendar` (its nation's bank
holidays for the years it may run) in its input, so that a new release of `holidays` cannot change the
deadlines of a running case on replay. A changed holiday reaches a running case only through a deliberate
update. Every function here takes either a nation's name (the installed data) or such a calendar.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import holidays

# Loaded once at import so that workflow code, which must not read files, can use it.
LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC

# Nation -> the `holidays` subdivision of the United Kingdom whose bank holidays apply.
NATIONS: dict[str, str] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}

# The hour (Europe/London) at which a deadline's timers fire on its date.
DEADLINE_HOUR = dt.time(9, 0)


@dataclass(frozen=True)
class WorkingCalendar:
    """One nation's bank holidays for the years `first_year` to `last_year`, as a case was given them.

    Outside those years only weekends are non-working days: a case is given years enough for its whole
    life, and the weekly calendar check extends them while it runs.
    """

    nation: str
    first_year: int
    last_year: int
    holidays: frozenset[dt.date]

    def covers(self, year: int) -> bool:
        return self.first_year <= year <= self.last_year

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in self.holidays


# A nation's name (its installed bank holidays) or a case's own calendar.
Nation = str | WorkingCalendar


def _subdivision(nation: str) -> str:
    try:
        return NATIONS[nation]
    except KeyError:
        raise ValueError(f"unknown nation {nation!r}; expected one of: {', '.join(NATIONS)}") from None


def _build(nation: str, years: range | int) -> dict[int, frozenset[dt.date]]:
    calendar = holidays.country_holidays("GB", subdiv=NATIONS[nation], years=years)
    by_year: dict[int, set[dt.date]] = {
        year: set() for year in ([years] if isinstance(years, int) else years)
    }
    for day in calendar:
        by_year.setdefault(day.year, set()).add(day)
    return {year: frozenset(days) for year, days in by_year.items()}


# Built once at import (about 0.1 s), outside any workflow: building a `holidays` calendar reads
# translation files, which workflow code may not do. Years outside the table are built on demand.
TABLE_YEARS = range(2000, 2101)
_TABLE: dict[str, dict[int, frozenset[dt.date]]] = {nation: _build(nation, TABLE_YEARS) for nation in NATIONS}


@cache
def _bank_holidays(nation: str, year: int) -> frozenset[dt.date]:
    known = _TABLE[_subdivision(nation) and nation]
    if year in known:
        return known[year]
    return _build(nation, year)[year]


def bank_holidays(year: int, nation: str = "england-and-wales") -> frozenset[dt.date]:
    """The bank holidays (substitute and proclaimed days included) of `nation` in `year`."""
    return _bank_holidays(nation, year)


def installed_calendar(nation: str, first_year: int, last_year: int) -> WorkingCalendar:
    """The installed bank holidays of `nation` for the years given, as a calendar a case can carry."""
    _subdivision(nation)
    days: set[dt.date] = set()
    for year in range(first_year, last_year + 1):
        days |= _bank_holidays(nation, year)
    return WorkingCalendar(
        nation=nation, first_year=first_year, last_year=last_year, holidays=frozenset(days)
    )


def is_working_day(day: dt.date, nation: Nation = "england-and-wales") -> bool:
    if isinstance(nation, WorkingCalendar):
        return nation.is_working_day(day)
    _subdivision(nation)
    return day.weekday() < 5 and day not in _bank_holidays(nation, day.year)


def _check(nation: Nation) -> None:
    if isinstance(nation, str):
        _subdivision(nation)


def add_working_days(start: dt.date, days: int, nation: Nation = "england-and-wales") -> dt.date:
    """The date `days` working days after `start`; `start` itself is not counted and may be a holiday."""
    _check(nation)
    if days < 0:
        raise ValueError(f"days must be zero or more, not {days}")
    day = start
    remaining = days
    while remaining:
        day += dt.timedelta(days=1)
        if is_working_day(day, nation):
            remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date, nation: Nation = "england-and-wales") -> int:
    """Working days after `start` up to and including `end` (0 when `end` is not after `start`)."""
    _check(nation)
    count = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        if is_working_day(day, nation):
            count += 1
    return count


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (earlier when negative), clamped to a shorter month.

    31 January plus one month is 28 February (29 in a leap year); 31 August minus six months is
    28 or 29 February.
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = _calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def long_date(day: dt.date) -> str:
    """20 November 2026: the GOV.UK date style, as letters, pages and the chronology write dates."""
    return f"{day.day} {day:%B %Y}"


def london_date(instant: dt.datetime) -> dt.date:
    """The calendar date in Europe/London at a timezone-aware instant."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(LONDON).date()


def deadline_instant(day: dt.date, at: dt.time = DEADLINE_HOUR) -> dt.datetime:
    """The UTC instant of `at` o'clock, Europe/London wall time, on `day` (GMT or BST as it falls)."""
    return dt.datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)
