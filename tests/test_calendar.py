"""Tests of the working-day calendar that every Community Trigger deadline is built on.

Every expected date below is hard-coded and was worked out by hand from the published UK bank holiday
lists (gov.uk/bank-holidays for England and Wales, Scotland and Northern Ireland, including substitute
days and one-off proclaimed days); none is computed with the code under test. Day names are given in
the comments so that each case can be checked against a printed calendar.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from domain.calendar import (
    add_months,
    add_working_days,
    bank_holidays,
    deadline_instant,
    is_working_day,
    london_date,
    working_days_between,
)

D = dt.date
ENG = "england-and-wales"
SCT = "scotland"
NIR = "northern-ireland"
ALL_NATIONS = (ENG, SCT, NIR)


def _utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


# --- The bank holidays of whole years, as published (weekdays only: that is how gov.uk lists them) ---

BANK_HOLIDAYS: dict[tuple[str, int], tuple[dt.date, ...]] = {
    (ENG, 2021): (
        D(2021, 1, 1),  # New Year's Day (Fri)
        D(2021, 4, 2),  # Good Friday
        D(2021, 4, 5),  # Easter Monday
        D(2021, 5, 3),  # Early May bank holiday
        D(2021, 5, 31),  # Spring bank holiday
        D(2021, 8, 30),  # Summer bank holiday
        D(2021, 12, 27),  # Christmas Day (substitute: 25 Dec is a Saturday)
        D(2021, 12, 28),  # Boxing Day (substitute: 26 Dec is a Sunday)
    ),
    (ENG, 2022): (
        D(2022, 1, 3),  # New Year's Day (substitute: 1 Jan is a Saturday)
        D(2022, 4, 15),  # Good Friday
        D(2022, 4, 18),  # Easter Monday
        D(2022, 5, 2),  # Early May bank holiday
        D(2022, 6, 2),  # Spring bank holiday, moved to Thursday for the Platinum Jubilee
        D(2022, 6, 3),  # Platinum Jubilee bank holiday (one-off)
        D(2022, 8, 29),  # Summer bank holiday
        D(2022, 9, 19),  # State funeral of Queen Elizabeth II (one-off)
        D(2022, 12, 26),  # Boxing Day
        D(2022, 12, 27),  # Christmas Day (substitute: 25 Dec is a Sunday)
    ),
    (ENG, 2023): (
        D(2023, 1, 2),  # New Year's Day (substitute: 1 Jan is a Sunday)
        D(2023, 4, 7),  # Good Friday
        D(2023, 4, 10),  # Easter Monday
        D(2023, 5, 1),  # Early May bank holiday
        D(2023, 5, 8),  # Coronation of King Charles III (one-off)
        D(2023, 5, 29),  # Spring bank holiday
        D(2023, 8, 28),  # Summer bank holiday
        D(2023, 12, 25),  # Christmas Day
        D(2023, 12, 26),  # Boxing Day
    ),
    (ENG, 2025): (
        D(2025, 1, 1),
        D(2025, 4, 18),  # Good Friday
        D(2025, 4, 21),  # Easter Monday
        D(2025, 5, 5),
        D(2025, 5, 26),
        D(2025, 8, 25),
        D(2025, 12, 25),
        D(2025, 12, 26),
    ),
    (ENG, 2026): (
        D(2026, 1, 1),  # Thu
        D(2026, 4, 3),  # Good Friday
        D(2026, 4, 6),  # Easter Monday
        D(2026, 5, 4),
        D(2026, 5, 25),
        D(2026, 8, 31),
        D(2026, 12, 25),  # Fri
        D(2026, 12, 28),  # Boxing Day (substitute: 26 Dec is a Saturday)
    ),
    (ENG, 2027): (
        D(2027, 1, 1),  # Fri
        D(2027, 3, 26),  # Good Friday
        D(2027, 3, 29),  # Easter Monday
        D(2027, 5, 3),
        D(2027, 5, 31),
        D(2027, 8, 30),
        D(2027, 12, 27),  # Christmas Day (substitute: 25 Dec is a Saturday)
        D(2027, 12, 28),  # Boxing Day (substitute: 26 Dec is a Sunday)
    ),
    (ENG, 2028): (
        D(2028, 1, 3),  # New Year's Day (substitute: 1 Jan is a Saturday)
        D(2028, 4, 14),  # Good Friday
        D(2028, 4, 17),  # Easter Monday
        D(2028, 5, 1),
        D(2028, 5, 29),
        D(2028, 8, 28),
        D(2028, 12, 25),
        D(2028, 12, 26),
    ),
    (SCT, 2022): (
        D(2022, 1, 3),  # New Year's Day (substitute)
        D(2022, 1, 4),  # 2nd January (substitute: 2 Jan is a Sunday, 3 Jan is already taken)
        D(2022, 4, 15),  # Good Friday; no Easter Monday in Scotland
        D(2022, 5, 2),
        D(2022, 6, 2),
        D(2022, 6, 3),  # Platinum Jubilee
        D(2022, 8, 1),  # Summer bank holiday: first Monday of August in Scotland
        D(2022, 9, 19),  # State funeral
        D(2022, 11, 30),  # St Andrew's Day (Wed)
        D(2022, 12, 26),
        D(2022, 12, 27),
    ),
    (SCT, 2023): (
        D(2023, 1, 2),  # New Year's Day (substitute)
        D(2023, 1, 3),  # 2nd January (substitute)
        D(2023, 4, 7),
        D(2023, 5, 1),
        D(2023, 5, 8),  # Coronation
        D(2023, 5, 29),
        D(2023, 8, 7),
        D(2023, 11, 30),  # St Andrew's Day (Thu)
        D(2023, 12, 25),
        D(2023, 12, 26),
    ),
    (SCT, 2024): (
        D(2024, 1, 1),
        D(2024, 1, 2),
        D(2024, 3, 29),
        D(2024, 5, 6),
        D(2024, 5, 27),
        D(2024, 8, 5),
        D(2024, 12, 2),  # St Andrew's Day (substitute: 30 Nov is a Saturday)
        D(2024, 12, 25),
        D(2024, 12, 26),
    ),
    (SCT, 2026): (
        D(2026, 1, 1),
        D(2026, 1, 2),  # 2nd January (Fri)
        D(2026, 4, 3),  # Good Friday; 6 April is a working day in Scotland
        D(2026, 5, 4),
        D(2026, 5, 25),
        D(2026, 6, 15),  # World Cup bank holiday (one-off, proclaimed February 2026)
        D(2026, 8, 3),
        D(2026, 11, 30),  # St Andrew's Day (Mon)
        D(2026, 12, 25),
        D(2026, 12, 28),
    ),
    (SCT, 2027): (
        D(2027, 1, 1),
        D(2027, 1, 4),  # 2nd January (substitute: 2 Jan is a Saturday)
        D(2027, 3, 26),
        D(2027, 5, 3),
        D(2027, 5, 31),
        D(2027, 8, 2),
        D(2027, 11, 30),  # St Andrew's Day (Tue)
        D(2027, 12, 27),
        D(2027, 12, 28),
    ),
    (NIR, 2022): (
        D(2022, 1, 3),
        D(2022, 3, 17),  # St Patrick's Day (Thu)
        D(2022, 4, 15),
        D(2022, 4, 18),
        D(2022, 5, 2),
        D(2022, 6, 2),
        D(2022, 6, 3),
        D(2022, 7, 12),  # Battle of the Boyne (Tue)
        D(2022, 8, 29),
        D(2022, 9, 19),
        D(2022, 12, 26),
        D(2022, 12, 27),
    ),
    (NIR, 2024): (
        D(2024, 1, 1),
        D(2024, 3, 18),  # St Patrick's Day (substitute: 17 Mar is a Sunday)
        D(2024, 3, 29),
        D(2024, 4, 1),
        D(2024, 5, 6),
        D(2024, 5, 27),
        D(2024, 7, 12),  # Battle of the Boyne (Fri)
        D(2024, 8, 26),
        D(2024, 12, 25),
        D(2024, 12, 26),
    ),
    (NIR, 2025): (
        D(2025, 1, 1),
        D(2025, 3, 17),  # St Patrick's Day (Mon)
        D(2025, 4, 18),
        D(2025, 4, 21),
        D(2025, 5, 5),
        D(2025, 5, 26),
        D(2025, 7, 14),  # Battle of the Boyne (substitute: 12 Jul is a Saturday)
        D(2025, 8, 25),
        D(2025, 12, 25),
        D(2025, 12, 26),
    ),
    (NIR, 2026): (
        D(2026, 1, 1),
        D(2026, 3, 17),  # St Patrick's Day (Tue)
        D(2026, 4, 3),
        D(2026, 4, 6),
        D(2026, 5, 4),
        D(2026, 5, 25),
        D(2026, 7, 13),  # Battle of the Boyne (substitute: 12 Jul is a Sunday)
        D(2026, 8, 31),
        D(2026, 12, 25),
        D(2026, 12, 28),
    ),
}


@pytest.mark.parametrize(
    ("nation", "year"), sorted(BANK_HOLIDAYS), ids=[f"{n}-{y}" for n, y in sorted(BANK_HOLIDAYS)]
)
def test_check_working_day_whole_year_matches_published_list(nation: str, year: int) -> None:
    expected_holidays = set(BANK_HOLIDAYS[nation, year])
    day = D(year, 1, 1)
    wrong = []
    while day.year == year:
        expected = day.weekday() < 5 and day not in expected_holidays
        if is_working_day(day, nation) != expected:
            wrong.append(f"{day} ({day:%a}): expected {'working' if expected else 'not working'}")
        day += dt.timedelta(days=1)
    assert not wrong, "; ".join(wrong)


@pytest.mark.parametrize(
    ("nation", "year"), sorted(BANK_HOLIDAYS), ids=[f"{n}-{y}" for n, y in sorted(BANK_HOLIDAYS)]
)
def test_list_bank_holidays_whole_year_weekdays_match_published_list(nation: str, year: int) -> None:
    weekdays = {day for day in bank_holidays(year, nation) if day.weekday() < 5}
    assert weekdays == set(BANK_HOLIDAYS[nation, year])


@pytest.mark.parametrize(
    ("day", "nation", "expected"),
    [
        # Days that are holidays somewhere else in the UK, or used to be, but not in this nation.
        (D(2025, 4, 21), SCT, True),  # Easter Monday: not a bank holiday in Scotland
        (D(2025, 4, 21), ENG, False),
        (D(2025, 4, 21), NIR, False),
        (D(2025, 1, 2), SCT, False),  # 2nd January: Scotland only
        (D(2025, 1, 2), ENG, True),
        (D(2025, 1, 2), NIR, True),
        (D(2025, 8, 4), SCT, False),  # first Monday of August: Scotland's summer bank holiday
        (D(2025, 8, 4), ENG, True),
        (D(2025, 8, 25), SCT, True),  # last Monday of August: England, Wales and Northern Ireland
        (D(2025, 8, 25), ENG, False),
        (D(2023, 11, 30), SCT, False),  # St Andrew's Day (Thu)
        (D(2023, 11, 30), ENG, True),
        (D(2025, 12, 1), SCT, False),  # St Andrew's Day substitute (30 Nov 2025 is a Sunday)
        (D(2025, 12, 1), ENG, True),
        (D(2025, 3, 17), NIR, False),  # St Patrick's Day
        (D(2025, 3, 17), ENG, True),
        (D(2025, 3, 17), SCT, True),
        (D(2023, 7, 12), NIR, False),  # Battle of the Boyne (Wed)
        (D(2023, 7, 12), ENG, True),
        (D(2026, 7, 13), NIR, False),  # Battle of the Boyne substitute (12 Jul 2026 is a Sunday)
        (D(2026, 7, 13), SCT, True),
        (D(2026, 6, 15), SCT, False),  # World Cup bank holiday: Scotland only
        (D(2026, 6, 15), ENG, True),
        (D(2026, 6, 15), NIR, True),
        # One-off days, everywhere in the UK.
        (D(2022, 9, 19), ENG, False),
        (D(2022, 9, 19), SCT, False),
        (D(2022, 9, 19), NIR, False),
        (D(2023, 5, 8), ENG, False),
        (D(2023, 5, 8), SCT, False),
        (D(2023, 5, 8), NIR, False),
        (D(2022, 6, 3), ENG, False),
        (D(2022, 6, 3), SCT, False),
        (D(2022, 6, 3), NIR, False),
        # Usual bank holidays that were moved in that year are working days.
        (D(2020, 5, 4), ENG, True),  # early May bank holiday moved to Fri 8 May 2020 (VE Day)
        (D(2020, 5, 8), ENG, False),
        (D(2022, 5, 30), ENG, True),  # spring bank holiday moved to Thu 2 June 2022
        # Christmas Eve and New Year's Eve are working days.
        (D(2025, 12, 24), ENG, True),
        (D(2025, 12, 31), SCT, True),
        # Weekends are never working days, and 29 February 2028 is a Tuesday.
        (D(2025, 6, 7), ENG, False),
        (D(2025, 6, 8), NIR, False),
        (D(2028, 2, 29), ENG, True),
        (D(2028, 2, 29), SCT, True),
    ],
)
def test_check_working_day_single_day(day: dt.date, nation: str, expected: bool) -> None:
    assert is_working_day(day, nation) is expected


def test_check_working_day_default_nation_is_england_and_wales() -> None:
    assert is_working_day(D(2025, 4, 21)) is False  # Easter Monday
    assert is_working_day(D(2025, 1, 2)) is True  # 2nd January is a holiday in Scotland only


# --- add_working_days: hard-coded deadlines ---

ADD_CASES = [
    # Christmas and New Year 2021/22: 25 and 26 Dec at a weekend, substitute days Mon 27 and Tue 28 Dec;
    # 1 Jan 2022 a Saturday, substitute Mon 3 Jan (and, in Scotland, Tue 4 Jan for 2nd January).
    pytest.param(D(2021, 12, 24), 1, ENG, D(2021, 12, 29), id="christmas-2021-eng-1"),
    pytest.param(D(2021, 12, 24), 5, ENG, D(2022, 1, 5), id="christmas-2021-eng-5"),
    pytest.param(D(2021, 12, 24), 5, NIR, D(2022, 1, 5), id="christmas-2021-nir-5"),
    pytest.param(D(2021, 12, 24), 5, SCT, D(2022, 1, 6), id="christmas-2021-sct-5"),
    pytest.param(D(2021, 12, 31), 1, ENG, D(2022, 1, 4), id="new-year-2022-eng"),
    pytest.param(D(2021, 12, 31), 1, SCT, D(2022, 1, 5), id="new-year-2022-sct"),
    # Christmas 2022: Sun 25 Dec, Boxing Day Mon 26, Christmas substitute Tue 27; New Year substitute
    # Mon 2 Jan 2023 (Scotland also Tue 3 Jan for 2nd January).
    pytest.param(D(2022, 12, 23), 1, ENG, D(2022, 12, 28), id="christmas-2022-eng"),
    pytest.param(D(2022, 12, 30), 1, ENG, D(2023, 1, 3), id="new-year-2023-eng"),
    pytest.param(D(2022, 12, 30), 1, SCT, D(2023, 1, 4), id="new-year-2023-sct"),
    # Christmas 2026: Fri 25 Dec, Boxing Day Sat 26 with substitute Mon 28.
    pytest.param(D(2026, 12, 24), 1, ENG, D(2026, 12, 29), id="christmas-2026-eng"),
    pytest.param(D(2026, 12, 24), 1, SCT, D(2026, 12, 29), id="christmas-2026-sct"),
    # 20 working days from Mon 14 Dec 2026: 15-18 (4), 21-24 (8), 29-31 (11), [1 Jan], 4-8 (16),
    # 11-14 Jan (20). Scotland also loses Mon 4 Jan (2nd January substitute), so Fri 15 Jan.
    pytest.param(D(2026, 12, 14), 20, ENG, D(2027, 1, 14), id="christmas-2026-eng-20"),
    pytest.param(D(2026, 12, 14), 20, NIR, D(2027, 1, 14), id="christmas-2026-nir-20"),
    pytest.param(D(2026, 12, 14), 20, SCT, D(2027, 1, 15), id="christmas-2026-sct-20"),
    pytest.param(D(2026, 12, 14), 25, ENG, D(2027, 1, 21), id="christmas-2026-eng-25"),
    # Christmas 2027: 25 and 26 Dec at a weekend, substitutes Mon 27 and Tue 28; 1 Jan 2028 a Saturday,
    # substitute Mon 3 Jan (Scotland also Tue 4 Jan).
    pytest.param(D(2027, 12, 24), 1, ENG, D(2027, 12, 29), id="christmas-2027-eng-1"),
    pytest.param(D(2027, 12, 24), 3, ENG, D(2027, 12, 31), id="christmas-2027-eng-3"),
    pytest.param(D(2027, 12, 24), 4, ENG, D(2028, 1, 4), id="christmas-2027-eng-4"),
    pytest.param(D(2027, 12, 24), 4, SCT, D(2028, 1, 5), id="christmas-2027-sct-4"),
    pytest.param(D(2027, 12, 13), 20, ENG, D(2028, 1, 13), id="christmas-2027-eng-20"),
    pytest.param(D(2027, 12, 13), 20, SCT, D(2028, 1, 14), id="christmas-2027-sct-20"),
    # LLR acknowledgement (5) then threshold decision (10) over Christmas 2025: 23, 24, 29, 30, 31 Dec;
    # then 2 Jan, 5-9, 12-15 Jan. Scotland loses Fri 2 Jan 2026.
    pytest.param(D(2025, 12, 22), 5, ENG, D(2025, 12, 31), id="christmas-2025-eng-5"),
    pytest.param(D(2025, 12, 22), 5, SCT, D(2025, 12, 31), id="christmas-2025-sct-5"),
    pytest.param(D(2025, 12, 31), 10, ENG, D(2026, 1, 15), id="new-year-2026-eng-10"),
    pytest.param(D(2025, 12, 31), 10, NIR, D(2026, 1, 15), id="new-year-2026-nir-10"),
    pytest.param(D(2025, 12, 31), 10, SCT, D(2026, 1, 16), id="new-year-2026-sct-10"),
    pytest.param(D(2024, 12, 31), 1, ENG, D(2025, 1, 2), id="second-january-2025-eng"),
    pytest.param(D(2024, 12, 31), 1, SCT, D(2025, 1, 3), id="second-january-2025-sct"),
    # Easter: Good Friday and Easter Monday in England, Wales and Northern Ireland; Good Friday only in
    # Scotland.
    pytest.param(D(2025, 4, 17), 1, ENG, D(2025, 4, 22), id="easter-2025-eng"),
    pytest.param(D(2025, 4, 17), 1, NIR, D(2025, 4, 22), id="easter-2025-nir"),
    pytest.param(D(2025, 4, 17), 1, SCT, D(2025, 4, 21), id="easter-2025-sct"),
    pytest.param(D(2024, 3, 28), 1, ENG, D(2024, 4, 2), id="easter-2024-eng"),
    pytest.param(D(2024, 3, 28), 1, SCT, D(2024, 4, 1), id="easter-2024-sct"),
    pytest.param(D(2026, 4, 2), 5, ENG, D(2026, 4, 13), id="easter-2026-eng-5"),
    pytest.param(D(2026, 4, 2), 5, SCT, D(2026, 4, 10), id="easter-2026-sct-5"),
    # 20 working days from Mon 14 Apr 2025 across Easter and the early May bank holiday (Mon 5 May).
    pytest.param(D(2025, 4, 14), 20, ENG, D(2025, 5, 15), id="easter-may-2025-eng-20"),
    pytest.param(D(2025, 4, 14), 20, NIR, D(2025, 5, 15), id="easter-may-2025-nir-20"),
    pytest.param(D(2025, 4, 14), 20, SCT, D(2025, 5, 14), id="easter-may-2025-sct-20"),
    # Early May and spring bank holidays.
    pytest.param(D(2025, 5, 2), 1, ENG, D(2025, 5, 6), id="early-may-2025"),
    pytest.param(D(2025, 5, 23), 1, SCT, D(2025, 5, 27), id="spring-2025"),
    pytest.param(D(2020, 5, 7), 1, ENG, D(2020, 5, 11), id="early-may-2020-ve-day"),
    pytest.param(D(2020, 5, 1), 1, ENG, D(2020, 5, 4), id="early-may-2020-usual-monday-worked"),
    # August: Scotland's summer bank holiday is the first Monday, elsewhere the last Monday.
    pytest.param(D(2025, 8, 1), 1, ENG, D(2025, 8, 4), id="august-2025-first-monday-eng"),
    pytest.param(D(2025, 8, 1), 1, SCT, D(2025, 8, 5), id="august-2025-first-monday-sct"),
    pytest.param(D(2025, 8, 22), 1, ENG, D(2025, 8, 26), id="august-2025-last-monday-eng"),
    pytest.param(D(2025, 8, 22), 1, NIR, D(2025, 8, 26), id="august-2025-last-monday-nir"),
    pytest.param(D(2025, 8, 22), 1, SCT, D(2025, 8, 25), id="august-2025-last-monday-sct"),
    # St Andrew's Day (Scotland), with substitutes when 30 Nov is at a weekend.
    pytest.param(D(2024, 11, 29), 1, SCT, D(2024, 12, 3), id="st-andrew-2024-sct"),
    pytest.param(D(2024, 11, 29), 1, ENG, D(2024, 12, 2), id="st-andrew-2024-eng"),
    pytest.param(D(2024, 11, 28), 5, SCT, D(2024, 12, 6), id="st-andrew-2024-sct-5"),
    pytest.param(D(2025, 11, 28), 1, SCT, D(2025, 12, 2), id="st-andrew-2025-sct"),
    pytest.param(D(2026, 11, 27), 1, SCT, D(2026, 12, 1), id="st-andrew-2026-sct"),
    pytest.param(D(2026, 11, 27), 1, ENG, D(2026, 11, 30), id="st-andrew-2026-eng"),
    # Northern Ireland: St Patrick's Day and the Battle of the Boyne, with substitutes.
    pytest.param(D(2025, 3, 14), 1, NIR, D(2025, 3, 18), id="st-patrick-2025-nir"),
    pytest.param(D(2025, 3, 14), 1, ENG, D(2025, 3, 17), id="st-patrick-2025-eng"),
    pytest.param(D(2024, 3, 15), 1, NIR, D(2024, 3, 19), id="st-patrick-2024-substitute-nir"),
    pytest.param(D(2024, 7, 11), 1, NIR, D(2024, 7, 15), id="boyne-2024-nir"),
    pytest.param(D(2023, 7, 11), 1, NIR, D(2023, 7, 13), id="boyne-2023-nir"),
    pytest.param(D(2025, 7, 11), 1, NIR, D(2025, 7, 15), id="boyne-2025-substitute-nir"),
    pytest.param(D(2025, 7, 11), 1, ENG, D(2025, 7, 14), id="boyne-2025-eng"),
    pytest.param(D(2025, 7, 7), 10, NIR, D(2025, 7, 22), id="boyne-2025-nir-10"),
    pytest.param(D(2025, 7, 7), 10, ENG, D(2025, 7, 21), id="boyne-2025-eng-10"),
    # One-off proclaimed days.
    pytest.param(D(2022, 9, 16), 1, ENG, D(2022, 9, 20), id="state-funeral-2022-eng"),
    pytest.param(D(2022, 9, 16), 1, SCT, D(2022, 9, 20), id="state-funeral-2022-sct"),
    pytest.param(D(2022, 9, 16), 1, NIR, D(2022, 9, 20), id="state-funeral-2022-nir"),
    pytest.param(D(2022, 9, 12), 10, ENG, D(2022, 9, 27), id="state-funeral-2022-eng-10"),
    pytest.param(D(2023, 5, 5), 1, ENG, D(2023, 5, 9), id="coronation-2023-eng"),
    pytest.param(D(2023, 5, 5), 1, SCT, D(2023, 5, 9), id="coronation-2023-sct"),
    pytest.param(D(2023, 4, 28), 5, NIR, D(2023, 5, 9), id="coronation-2023-nir-5"),
    pytest.param(D(2022, 6, 1), 1, ENG, D(2022, 6, 6), id="jubilee-2022-eng"),
    pytest.param(D(2022, 6, 1), 1, SCT, D(2022, 6, 6), id="jubilee-2022-sct"),
    pytest.param(D(2022, 5, 27), 5, ENG, D(2022, 6, 7), id="jubilee-2022-eng-5"),
    pytest.param(D(2026, 6, 12), 1, SCT, D(2026, 6, 16), id="world-cup-2026-sct"),
    pytest.param(D(2026, 6, 12), 1, ENG, D(2026, 6, 15), id="world-cup-2026-eng"),
    # Leap years: 29 Feb 2028 is a Tuesday and a working day.
    pytest.param(D(2028, 2, 28), 1, ENG, D(2028, 2, 29), id="leap-2028-1"),
    pytest.param(D(2028, 2, 25), 2, ENG, D(2028, 2, 29), id="leap-2028-from-friday-2"),
    pytest.param(D(2028, 2, 25), 3, ENG, D(2028, 3, 1), id="leap-2028-from-friday-3"),
    pytest.param(D(2024, 2, 28), 1, ENG, D(2024, 2, 29), id="leap-2024"),
    pytest.param(D(2023, 2, 28), 1, ENG, D(2023, 3, 1), id="not-leap-2023"),
    pytest.param(D(2027, 2, 26), 1, ENG, D(2027, 3, 1), id="not-leap-2027-from-friday"),
    # Start on a weekend or a bank holiday: the start is not counted.
    pytest.param(D(2025, 6, 7), 1, ENG, D(2025, 6, 9), id="start-saturday"),
    pytest.param(D(2025, 6, 8), 5, ENG, D(2025, 6, 13), id="start-sunday"),
    pytest.param(D(2025, 5, 26), 1, ENG, D(2025, 5, 27), id="start-spring-bank-holiday"),
    pytest.param(D(2025, 12, 25), 1, ENG, D(2025, 12, 29), id="start-christmas-day"),
    pytest.param(D(2025, 4, 18), 1, ENG, D(2025, 4, 22), id="start-good-friday-eng"),
    pytest.param(D(2025, 4, 18), 1, SCT, D(2025, 4, 21), id="start-good-friday-sct"),
    pytest.param(D(2026, 4, 6), 1, ENG, D(2026, 4, 7), id="start-easter-monday"),
    # Zero days is the start itself, whatever kind of day it is.
    pytest.param(D(2025, 6, 9), 0, ENG, D(2025, 6, 9), id="zero-working-day"),
    pytest.param(D(2025, 6, 7), 0, ENG, D(2025, 6, 7), id="zero-saturday"),
    pytest.param(D(2025, 12, 25), 0, SCT, D(2025, 12, 25), id="zero-christmas-day"),
    # An ordinary week.
    pytest.param(D(2025, 6, 9), 4, ENG, D(2025, 6, 13), id="ordinary-week-4"),
    pytest.param(D(2025, 6, 9), 5, ENG, D(2025, 6, 16), id="ordinary-week-5"),
]


@pytest.mark.parametrize(("start", "days", "nation", "expected"), ADD_CASES)
def test_add_working_days_hard_coded(start: dt.date, days: int, nation: str, expected: dt.date) -> None:
    assert add_working_days(start, days, nation) == expected


@pytest.mark.parametrize(("start", "days", "nation", "expected"), ADD_CASES)
def test_count_working_days_between_hard_coded_deadlines(
    start: dt.date, days: int, nation: str, expected: dt.date
) -> None:
    assert working_days_between(start, expected, nation) == days


def test_add_working_days_default_nation_is_england_and_wales() -> None:
    assert add_working_days(D(2025, 4, 17), 1) == D(2025, 4, 22)


@pytest.mark.parametrize(
    ("start", "end", "nation", "expected"),
    [
        pytest.param(D(2021, 12, 24), D(2022, 1, 5), ENG, 5, id="christmas-2021-eng"),
        pytest.param(D(2021, 12, 24), D(2022, 1, 5), SCT, 4, id="christmas-2021-sct"),
        pytest.param(D(2026, 12, 14), D(2027, 1, 14), ENG, 20, id="christmas-2026-eng"),
        pytest.param(D(2026, 12, 14), D(2027, 1, 14), SCT, 19, id="christmas-2026-sct"),
        pytest.param(D(2025, 4, 17), D(2025, 4, 22), ENG, 1, id="easter-2025-eng"),
        pytest.param(D(2025, 4, 17), D(2025, 4, 22), SCT, 2, id="easter-2025-sct"),
        pytest.param(D(2025, 6, 6), D(2025, 6, 9), ENG, 1, id="friday-to-monday"),
        pytest.param(D(2025, 6, 7), D(2025, 6, 8), ENG, 0, id="saturday-to-sunday"),
        pytest.param(D(2025, 6, 9), D(2025, 6, 9), ENG, 0, id="same-day"),
        pytest.param(D(2025, 6, 13), D(2025, 6, 9), ENG, 0, id="end-before-start"),
        pytest.param(D(2025, 6, 9), D(2025, 6, 8), ENG, 0, id="end-day-before-start"),
        # Whole calendar years (1 Jan to 31 Dec): weekdays minus the weekday bank holidays.
        # 2022 starts on a Saturday: 260 weekdays.
        pytest.param(D(2021, 12, 31), D(2022, 12, 31), ENG, 250, id="year-2022-eng"),
        pytest.param(D(2021, 12, 31), D(2022, 12, 31), SCT, 249, id="year-2022-sct"),
        pytest.param(D(2021, 12, 31), D(2022, 12, 31), NIR, 248, id="year-2022-nir"),
        # 2025 and 2026 start on a Wednesday and a Thursday: 261 weekdays each.
        pytest.param(D(2024, 12, 31), D(2025, 12, 31), ENG, 253, id="year-2025-eng"),
        pytest.param(D(2025, 12, 31), D(2026, 12, 31), ENG, 253, id="year-2026-eng"),
        pytest.param(D(2025, 12, 31), D(2026, 12, 31), SCT, 251, id="year-2026-sct"),
        pytest.param(D(2025, 12, 31), D(2026, 12, 31), NIR, 251, id="year-2026-nir"),
    ],
)
def test_count_working_days_between_hard_coded(
    start: dt.date, end: dt.date, nation: str, expected: int
) -> None:
    assert working_days_between(start, end, nation) == expected


# --- add_working_days and working_days_between agree (property-style) ---

WINDOWS = [
    pytest.param(D(2021, 12, 1), D(2022, 1, 20), id="christmas-2021"),
    pytest.param(D(2022, 5, 20), D(2022, 6, 10), id="jubilee-2022"),
    pytest.param(D(2025, 3, 10), D(2025, 5, 10), id="spring-2025"),
    pytest.param(D(2026, 11, 20), D(2027, 1, 10), id="christmas-2026"),
]


@pytest.mark.parametrize("nation", ALL_NATIONS)
@pytest.mark.parametrize(("first", "last"), WINDOWS)
def test_add_working_days_consistent_with_working_days_between(
    first: dt.date, last: dt.date, nation: str
) -> None:
    start = first
    while start <= last:
        previous = start
        for days in range(31):
            end = add_working_days(start, days, nation)
            assert working_days_between(start, end, nation) == days, (start, days)
            if days:
                # The deadline is a working day, is after the previous deadline, and is the first day
                # on which `days` working days have passed.
                assert is_working_day(end, nation), (start, days, end)
                assert end > previous
                assert working_days_between(start, end - dt.timedelta(days=1), nation) == days - 1
            previous = end
        start += dt.timedelta(days=1)


# --- Errors ---

NATION_MESSAGE = re.escape(
    "unknown nation 'wales'; expected one of: england-and-wales, scotland, northern-ireland"
)


def test_add_working_days_unknown_nation_raises() -> None:
    with pytest.raises(ValueError, match=NATION_MESSAGE):
        add_working_days(D(2025, 6, 9), 5, "wales")


def test_add_working_days_unknown_nation_with_zero_days_raises() -> None:
    with pytest.raises(ValueError, match=NATION_MESSAGE):
        add_working_days(D(2025, 6, 9), 0, "wales")


def test_check_working_day_unknown_nation_raises() -> None:
    with pytest.raises(ValueError, match=NATION_MESSAGE):
        is_working_day(D(2025, 6, 9), "wales")


def test_count_working_days_between_unknown_nation_raises() -> None:
    with pytest.raises(ValueError, match=NATION_MESSAGE):
        working_days_between(D(2025, 6, 9), D(2025, 6, 9), "wales")


def test_list_bank_holidays_unknown_nation_raises() -> None:
    with pytest.raises(ValueError, match=NATION_MESSAGE):
        bank_holidays(2025, "wales")


@pytest.mark.parametrize("nation", ["England-and-Wales", "england", "", "GB-ENG"])
def test_add_working_days_nation_spelling_raises(nation: str) -> None:
    with pytest.raises(ValueError, match="expected one of: england-and-wales, scotland, northern-ireland"):
        add_working_days(D(2025, 6, 9), 1, nation)


@pytest.mark.parametrize("days", [-1, -20])
def test_add_working_days_negative_days_raises(days: int) -> None:
    with pytest.raises(ValueError, match=re.escape(f"days must be zero or more, not {days}")):
        add_working_days(D(2025, 6, 9), days)


# --- Calendar months ---


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        pytest.param(D(2025, 1, 31), 1, D(2025, 2, 28), id="31-jan-plus-1"),
        pytest.param(D(2028, 1, 31), 1, D(2028, 2, 29), id="31-jan-plus-1-leap"),
        pytest.param(D(2025, 1, 30), 1, D(2025, 2, 28), id="30-jan-plus-1"),
        pytest.param(D(2025, 1, 28), 1, D(2025, 2, 28), id="28-jan-plus-1"),
        pytest.param(D(2025, 8, 31), -6, D(2025, 2, 28), id="31-aug-minus-6"),
        pytest.param(D(2028, 8, 31), -6, D(2028, 2, 29), id="31-aug-minus-6-leap"),
        pytest.param(D(2025, 10, 31), -1, D(2025, 9, 30), id="31-oct-minus-1"),
        pytest.param(D(2025, 3, 31), 1, D(2025, 4, 30), id="31-mar-plus-1"),
        pytest.param(D(2026, 3, 31), -1, D(2026, 2, 28), id="31-mar-minus-1"),
        pytest.param(D(2024, 3, 31), -1, D(2024, 2, 29), id="31-mar-minus-1-leap"),
        pytest.param(D(2025, 12, 31), 2, D(2026, 2, 28), id="31-dec-plus-2-across-year"),
        pytest.param(D(2025, 11, 30), 3, D(2026, 2, 28), id="30-nov-plus-3"),
        pytest.param(D(2025, 1, 31), -2, D(2024, 11, 30), id="31-jan-minus-2-across-year"),
        pytest.param(D(2025, 1, 31), 13, D(2026, 2, 28), id="31-jan-plus-13"),
        pytest.param(D(2025, 12, 15), 1, D(2026, 1, 15), id="december-plus-1"),
        pytest.param(D(2026, 1, 15), -1, D(2025, 12, 15), id="january-minus-1"),
        pytest.param(D(2025, 1, 1), -1, D(2024, 12, 1), id="1-jan-minus-1"),
        pytest.param(D(2025, 8, 15), 6, D(2026, 2, 15), id="mid-month-plus-6"),
        pytest.param(D(2025, 7, 31), -24, D(2023, 7, 31), id="minus-24"),
        pytest.param(D(2025, 5, 17), 0, D(2025, 5, 17), id="zero"),
        pytest.param(D(2025, 5, 31), 0, D(2025, 5, 31), id="zero-month-end"),
        pytest.param(D(2028, 2, 29), 12, D(2029, 2, 28), id="29-feb-plus-12"),
        pytest.param(D(2028, 2, 29), -12, D(2027, 2, 28), id="29-feb-minus-12"),
        pytest.param(D(2028, 2, 29), 48, D(2032, 2, 29), id="29-feb-plus-48-leap"),
        pytest.param(D(2028, 2, 29), 1, D(2028, 3, 29), id="29-feb-plus-1"),
        pytest.param(D(2028, 2, 29), -6, D(2027, 8, 29), id="29-feb-minus-6"),
    ],
)
def test_add_months_hard_coded(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


# --- Deadline instants and London dates around the clock changes ---


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # Winter (GMT): 09:00 London is 09:00Z; summer (BST): 08:00Z.
        pytest.param(D(2026, 1, 15), _utc(2026, 1, 15, 9), id="winter"),
        pytest.param(D(2026, 7, 15), _utc(2026, 7, 15, 8), id="summer"),
        # Clocks go forward at 01:00Z on Sunday 29 March 2026.
        pytest.param(D(2026, 3, 28), _utc(2026, 3, 28, 9), id="2026-march-saturday-before"),
        pytest.param(D(2026, 3, 29), _utc(2026, 3, 29, 8), id="2026-march-change-sunday"),
        pytest.param(D(2026, 3, 30), _utc(2026, 3, 30, 8), id="2026-march-monday-after"),
        # Clocks go back at 01:00Z on Sunday 25 October 2026.
        pytest.param(D(2026, 10, 24), _utc(2026, 10, 24, 8), id="2026-october-saturday-before"),
        pytest.param(D(2026, 10, 25), _utc(2026, 10, 25, 9), id="2026-october-change-sunday"),
        pytest.param(D(2026, 10, 26), _utc(2026, 10, 26, 9), id="2026-october-monday-after"),
        # 2025: Sunday 30 March and Sunday 26 October.
        pytest.param(D(2025, 3, 29), _utc(2025, 3, 29, 9), id="2025-march-saturday-before"),
        pytest.param(D(2025, 3, 30), _utc(2025, 3, 30, 8), id="2025-march-change-sunday"),
        pytest.param(D(2025, 3, 31), _utc(2025, 3, 31, 8), id="2025-march-monday-after"),
        pytest.param(D(2025, 10, 25), _utc(2025, 10, 25, 8), id="2025-october-saturday-before"),
        pytest.param(D(2025, 10, 26), _utc(2025, 10, 26, 9), id="2025-october-change-sunday"),
        pytest.param(D(2025, 10, 27), _utc(2025, 10, 27, 9), id="2025-october-monday-after"),
        # 29 February in a leap year (GMT).
        pytest.param(D(2028, 2, 29), _utc(2028, 2, 29, 9), id="leap-day"),
    ],
)
def test_compute_deadline_instant_clock_changes(day: dt.date, expected: dt.datetime) -> None:
    instant = deadline_instant(day)
    assert instant == expected
    assert instant.utcoffset() == dt.timedelta(0)
    assert london_date(instant) == day


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        pytest.param(D(2026, 7, 15), dt.time(17, 0), _utc(2026, 7, 15, 16), id="summer-17h"),
        pytest.param(D(2026, 1, 15), dt.time(17, 30), _utc(2026, 1, 15, 17, 30), id="winter-17h30"),
        pytest.param(D(2026, 3, 29), dt.time(0, 30), _utc(2026, 3, 29, 0, 30), id="before-spring-change"),
        pytest.param(D(2026, 10, 25), dt.time(0, 30), _utc(2026, 10, 24, 23, 30), id="before-autumn-change"),
    ],
)
def test_compute_deadline_instant_other_hour(day: dt.date, at: dt.time, expected: dt.datetime) -> None:
    assert deadline_instant(day, at) == expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(_utc(2026, 3, 31, 23, 30), D(2026, 4, 1), id="bst-late-evening-utc-is-next-day"),
        pytest.param(_utc(2026, 3, 31, 22, 59), D(2026, 3, 31), id="bst-before-london-midnight"),
        pytest.param(_utc(2026, 12, 31, 23, 30), D(2026, 12, 31), id="gmt-late-evening-same-day"),
        pytest.param(_utc(2026, 12, 31, 0, 0), D(2026, 12, 31), id="gmt-midnight"),
        pytest.param(_utc(2026, 3, 28, 23, 30), D(2026, 3, 28), id="night-before-spring-change"),
        pytest.param(_utc(2026, 3, 29, 23, 30), D(2026, 3, 30), id="night-of-spring-change"),
        pytest.param(_utc(2026, 10, 24, 23, 30), D(2026, 10, 25), id="night-before-autumn-change"),
        pytest.param(_utc(2026, 10, 25, 23, 30), D(2026, 10, 25), id="night-of-autumn-change"),
        pytest.param(
            dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            D(2026, 6, 1),
            id="other-offset",
        ),
        pytest.param(
            dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))),
            D(2025, 12, 31),
            id="other-offset-previous-year",
        ),
    ],
)
def test_compute_london_date_aware_instant(instant: dt.datetime, expected: dt.date) -> None:
    assert london_date(instant) == expected


def test_compute_london_date_naive_raises() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        london_date(dt.datetime(2026, 3, 31, 23, 30))  # naive on purpose
