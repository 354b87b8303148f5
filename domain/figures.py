"""The yearly figures every area must publish, and the ones that show where the process is slow: what each
counts, computed from plain facts about cases (db/figures.py loads them). Pure: no clock, no I/O.

The law asks each area to publish, at least once a year, the applications received, the times the
threshold was not met, the reviews carried out and the reviews that resulted in recommendations. Each is
counted by the date of the letter that told the applicant, except applications (by the date received) and
appeals received (by the date of the request); the README's "Yearly figures" says so in full.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.calendar import add_working_days, is_working_day, long_date, working_days_between
from domain.policy import LocalityPolicy, ReportingYearKind

# Public figures from 1 to SUPPRESS_BELOW - 1 are shown as SUPPRESSED: so few cases could point to the
# people in them. A share or a median of fewer cases than this is not shown either, as it would give the
# small number away.
SUPPRESS_BELOW = 5
SUPPRESSED = "fewer than 5"


# ---- the reporting year --------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ReportingYear:
    """Twelve months of figures: April to March (financial) or January to December (calendar),
    named by the year they start in."""

    kind: ReportingYearKind
    start_year: int

    @property
    def first_day(self) -> dt.date:
        month = 4 if self.kind == ReportingYearKind.FINANCIAL else 1
        return dt.date(self.start_year, month, 1)

    @property
    def last_day(self) -> dt.date:
        if self.kind == ReportingYearKind.FINANCIAL:
            return dt.date(self.start_year + 1, 3, 31)
        return dt.date(self.start_year, 12, 31)

    @property
    def slug(self) -> str:
        """2025-26 (financial), 2025 (calendar): the year in addresses and file names."""
        if self.kind == ReportingYearKind.FINANCIAL:
            return f"{self.start_year}-{(self.start_year + 1) % 100:02d}"
        return str(self.start_year)

    @property
    def label(self) -> str:
        if self.kind == ReportingYearKind.FINANCIAL:
            return f"April {self.start_year} to March {self.start_year + 1}"
        return f"January to December {self.start_year}"

    def contains(self, day: dt.date | None) -> bool:
        return day is not None and self.first_day <= day <= self.last_day

    def previous(self) -> ReportingYear:
        return ReportingYear(self.kind, self.start_year - 1)

    def next(self) -> ReportingYear:
        return ReportingYear(self.kind, self.start_year + 1)

    @classmethod
    def containing(cls, day: dt.date, kind: ReportingYearKind) -> ReportingYear:
        if kind == ReportingYearKind.FINANCIAL and day.month < 4:
            return cls(kind, day.year - 1)
        return cls(kind, day.year)

    @classmethod
    def parse(cls, slug: str, kind: ReportingYearKind) -> ReportingYear | None:
        """The year named `slug` in this kind of year, or None if the slug names none (or another kind)."""
        pattern = r"(\d{4})-(\d{2})" if kind == ReportingYearKind.FINANCIAL else r"(\d{4})"
        match = re.fullmatch(pattern, slug)
        if match is None:
            return None
        year = cls(kind, int(match.group(1)))
        return year if year.slug == slug else None


def last_complete_year(today: dt.date, kind: ReportingYearKind) -> ReportingYear:
    """The latest year that ended before `today`."""
    return ReportingYear.containing(today, kind).previous()


def first_working_day_after(year: ReportingYear, nation: str) -> dt.date:
    """The first working day after the year ends: when its figures go to the locality's manager."""
    day = year.last_day + dt.timedelta(days=1)
    return day if is_working_day(day, nation) else add_working_days(day, 1, nation)


# Case reviews began on 20 October 2014 (Anti-social Behaviour, Crime and Policing Act 2014): no year
# before the one containing it has figures.
CASE_REVIEWS_BEGAN = dt.date(2014, 10, 20)


def has_figures(year: ReportingYear, today: dt.date) -> bool:
    """Whether figures can be asked for `year` on `today`: begun, and not before case reviews were."""
    return year.last_day >= CASE_REVIEWS_BEGAN and year.first_day <= today


def years_from(first: dt.date, today: dt.date, kind: ReportingYearKind) -> list[ReportingYear]:
    """Every year from the one containing `first` to the one containing `today`, latest first."""
    year, latest = ReportingYear.containing(min(first, today), kind), ReportingYear.containing(today, kind)
    years = []
    while year <= latest:
        years.append(year)
        year = year.next()
    return years[::-1]


# ---- areas: each locality, and the combined areas (LLR) -------------------------------------------


@dataclass(frozen=True)
class Area:
    """What figures are published for: one locality, or a combined area of several (LLR)."""

    key: str
    name: str
    localities: tuple[str, ...]
    year_kind: ReportingYearKind
    combined: bool = False


def areas_of(policies: Mapping[str, LocalityPolicy]) -> dict[str, Area]:
    """Each locality as an area, then each combined area its policies name; raises ValueError when a
    combined area's councils count by different years or call it by different names, or its key is a
    locality's."""
    areas = {
        key: Area(key, policy.council, (key,), policy.figures.year)
        for key, policy in sorted(policies.items(), key=lambda item: item[1].council)
    }
    members: dict[str, list[LocalityPolicy]] = {}
    for policy in policies.values():
        if policy.figures.combined_area is not None:
            members.setdefault(policy.figures.combined_area.key, []).append(policy)
    for key, group in sorted(members.items()):
        names = {policy.figures.combined_area.name for policy in group if policy.figures.combined_area}
        kinds = {policy.figures.year for policy in group}
        if key in policies:
            raise ValueError(f"figures.combined_area: {key!r} is a locality's key")
        if len(names) > 1:
            raise ValueError(f"figures.combined_area: {key!r} has different names: {sorted(names)}")
        if len(kinds) > 1:
            raise ValueError(f"figures: the councils of {key!r} count by different years: {sorted(kinds)}")
        areas[key] = Area(key, names.pop(), tuple(sorted(p.key for p in group)), kinds.pop(), combined=True)
    return areas


# ---- the facts a year's figures are counted from --------------------------------------------------


@dataclass(frozen=True)
class AppealFacts:
    received_on: dt.date
    # The chair's acknowledgement (Letter 4), from which the decision's deadline counts.
    acknowledged_on: dt.date | None = None
    decision_by: dt.date | None = None
    # Letter 5 (the grounds not met) or Letter 6 (the outcome); for appeals recorded by the SPOC before
    # appeals ran as workflows, the day the outcome was recorded.
    decided_on: dt.date | None = None
    upheld: bool = False
    withdrawn_on: dt.date | None = None


class ThresholdResult(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    REJECTED = "rejected"


@dataclass(frozen=True)
class CaseFacts:
    """What one case contributes: its dates (letters' sent dates), outcomes and deadlines; no one's
    details."""

    nation: str
    received_on: dt.date
    acknowledge_by: dt.date | None = None
    threshold_decision_by: dt.date | None = None
    outcome_by: dt.date | None = None
    # Letter 1.
    acknowledged_on: dt.date | None = None
    threshold_result: ThresholdResult | None = None
    # Letter 2a, Letter 2b or the rejection.
    threshold_decided_on: dt.date | None = None
    # Letter 3, and how many recommendations its action plan makes.
    outcome_on: dt.date | None = None
    recommendations: int = 0
    # The withdrawal letter.
    withdrawn_on: dt.date | None = None
    appeal: AppealFacts | None = None
    # (asked on, answered on) of each information request an agency answered.
    agency_answers: tuple[tuple[dt.date, dt.date], ...] = ()


# ---- what is counted ------------------------------------------------------------------------------


class Figure(StrEnum):
    # The four every area must publish.
    APPLICATIONS_RECEIVED = "applications_received"
    THRESHOLD_NOT_MET = "threshold_not_met"
    REVIEWS_CARRIED_OUT = "reviews_carried_out"
    REVIEWS_WITH_RECOMMENDATIONS = "reviews_with_recommendations"
    # Beyond them.
    APPLICATIONS_REJECTED = "applications_rejected"
    APPLICATIONS_WITHDRAWN = "applications_withdrawn"
    APPEALS_RECEIVED = "appeals_received"
    APPEALS_DECIDED = "appeals_decided"
    APPEALS_UPHELD = "appeals_upheld"


STATUTORY = (
    Figure.APPLICATIONS_RECEIVED,
    Figure.THRESHOLD_NOT_MET,
    Figure.REVIEWS_CARRIED_OUT,
    Figure.REVIEWS_WITH_RECOMMENDATIONS,
)

FIGURE_LABELS = {
    Figure.APPLICATIONS_RECEIVED: "Applications received",
    Figure.THRESHOLD_NOT_MET: "Times the threshold was not met",
    Figure.REVIEWS_CARRIED_OUT: "Case reviews carried out",
    Figure.REVIEWS_WITH_RECOMMENDATIONS: "Case reviews that resulted in recommendations",
    Figure.APPLICATIONS_REJECTED: "Applications rejected (vexatious, malicious and the like)",
    Figure.APPLICATIONS_WITHDRAWN: "Applications withdrawn",
    Figure.APPEALS_RECEIVED: "Appeals received",
    Figure.APPEALS_DECIDED: "Appeals decided",
    Figure.APPEALS_UPHELD: "Appeals upheld",
}


class Step(StrEnum):
    """A step with a deadline, named by the letter that completes it; and the agencies' answers."""

    ACKNOWLEDGEMENT = "acknowledgement"
    THRESHOLD_DECISION = "threshold_decision"
    OUTCOME = "outcome"
    APPEAL_OUTCOME = "appeal_outcome"
    AGENCY_ANSWER = "agency_answer"


DEADLINE_STEPS = (Step.ACKNOWLEDGEMENT, Step.THRESHOLD_DECISION, Step.OUTCOME, Step.APPEAL_OUTCOME)

STEP_LABELS = {
    Step.ACKNOWLEDGEMENT: "Acknowledgement (Letter 1)",
    Step.THRESHOLD_DECISION: "Threshold decision (Letter 2a, 2b or a rejection)",
    Step.OUTCOME: "Review outcome (Letter 3)",
    Step.APPEAL_OUTCOME: "Appeal outcome (Letter 5 or 6)",
    Step.AGENCY_ANSWER: "Agencies' answers to requests for information",
}

# What each median counts from: the day the step's deadline counts from.
MEDIAN_FROM = {
    Step.ACKNOWLEDGEMENT: "from the application",
    Step.THRESHOLD_DECISION: "from Letter 1",
    Step.OUTCOME: "from Letter 2a",
    Step.APPEAL_OUTCOME: "from Letter 4",
    Step.AGENCY_ANSWER: "from the request",
}


@dataclass(frozen=True)
class DeadlineRecord:
    """Of the deadlines due in the year, how many were met."""

    due: int = 0
    met: int = 0

    @property
    def share(self) -> float | None:
        return self.met / self.due if self.due else None


@dataclass(frozen=True)
class Median:
    """The median working days of `count` steps (None when there were none)."""

    count: int = 0
    working_days: float | None = None


@dataclass(frozen=True)
class YearlyFigures:
    year: ReportingYear
    # The day they were counted on: a year not over by then is counted so far.
    as_of: dt.date
    counts: dict[Figure, int]
    deadlines: dict[Step, DeadlineRecord]
    medians: dict[Step, Median]

    @property
    def complete(self) -> bool:
        return self.as_of > self.year.last_day


@dataclass
class _Deadlines:
    due: dict[Step, int] = field(default_factory=lambda: dict.fromkeys(DEADLINE_STEPS, 0))
    met: dict[Step, int] = field(default_factory=lambda: dict.fromkeys(DEADLINE_STEPS, 0))

    def count(
        self,
        step: Step,
        year: ReportingYear,
        as_of: dt.date,
        due: dt.date | None,
        done: dt.date | None,
        stopped: dt.date | None,
    ) -> None:
        """A deadline counts in the year of its due date once its letter went (met when on or before the
        due date), or once the due date has passed without it, unless the case (or appeal) was withdrawn
        by the due date: then the step was no longer needed."""
        if due is None or not year.contains(due):
            return
        if done is None and (due >= as_of or (stopped is not None and stopped <= due)):
            return
        self.due[step] += 1
        if done is not None and done <= due:
            self.met[step] += 1


def compute_figures(facts: Iterable[CaseFacts], year: ReportingYear, as_of: dt.date) -> YearlyFigures:
    """The year's figures from its cases' facts (any case may be given: only what fell in the year
    counts), as they stood on `as_of`."""
    counts = dict.fromkeys(Figure, 0)
    deadlines = _Deadlines()
    waits: dict[Step, list[int]] = {step: [] for step in Step}

    def wait(step: Step, start: dt.date | None, end: dt.date | None, nation: str) -> None:
        if start is not None and end is not None and year.contains(end):
            waits[step].append(working_days_between(start, end, nation))

    for case in facts:
        nation = case.nation
        if year.contains(case.received_on):
            counts[Figure.APPLICATIONS_RECEIVED] += 1
        if year.contains(case.threshold_decided_on):
            if case.threshold_result == ThresholdResult.NOT_MET:
                counts[Figure.THRESHOLD_NOT_MET] += 1
            elif case.threshold_result == ThresholdResult.REJECTED:
                counts[Figure.APPLICATIONS_REJECTED] += 1
        if year.contains(case.outcome_on):
            counts[Figure.REVIEWS_CARRIED_OUT] += 1
            if case.recommendations > 0:
                counts[Figure.REVIEWS_WITH_RECOMMENDATIONS] += 1
        if year.contains(case.withdrawn_on):
            counts[Figure.APPLICATIONS_WITHDRAWN] += 1

        deadlines.count(
            Step.ACKNOWLEDGEMENT, year, as_of, case.acknowledge_by, case.acknowledged_on, case.withdrawn_on
        )
        deadlines.count(
            Step.THRESHOLD_DECISION,
            year,
            as_of,
            case.threshold_decision_by,
            case.threshold_decided_on,
            case.withdrawn_on,
        )
        deadlines.count(Step.OUTCOME, year, as_of, case.outcome_by, case.outcome_on, case.withdrawn_on)
        wait(Step.ACKNOWLEDGEMENT, case.received_on, case.acknowledged_on, nation)
        wait(Step.THRESHOLD_DECISION, case.acknowledged_on, case.threshold_decided_on, nation)
        if case.threshold_result == ThresholdResult.MET:
            wait(Step.OUTCOME, case.threshold_decided_on, case.outcome_on, nation)
        for asked_on, answered_on in case.agency_answers:
            wait(Step.AGENCY_ANSWER, asked_on, answered_on, nation)

        appeal = case.appeal
        if appeal is None:
            continue
        if year.contains(appeal.received_on):
            counts[Figure.APPEALS_RECEIVED] += 1
        if year.contains(appeal.decided_on):
            counts[Figure.APPEALS_DECIDED] += 1
            if appeal.upheld:
                counts[Figure.APPEALS_UPHELD] += 1
        deadlines.count(
            Step.APPEAL_OUTCOME, year, as_of, appeal.decision_by, appeal.decided_on, appeal.withdrawn_on
        )
        wait(Step.APPEAL_OUTCOME, appeal.acknowledged_on, appeal.decided_on, nation)

    return YearlyFigures(
        year=year,
        as_of=as_of,
        counts=counts,
        deadlines={step: DeadlineRecord(deadlines.due[step], deadlines.met[step]) for step in DEADLINE_STEPS},
        medians={
            step: Median(len(days), float(statistics.median(days)) if days else None)
            for step, days in waits.items()
        },
    )


# ---- as published -----------------------------------------------------------------------------------


Shown = int | float | str


def shown_count(count: int, *, public: bool) -> int | str:
    """A count as published: 1 to 4 are SUPPRESSED in public; 0 and 5 or more as they are."""
    return SUPPRESSED if public and 0 < count < SUPPRESS_BELOW else count


def shown_share(record: DeadlineRecord, *, public: bool) -> str:
    """The share of the deadlines met ("92%"), "none due", or in public SUPPRESSED for fewer than 5 due."""
    if record.share is None:
        return "none due"
    if public and record.due < SUPPRESS_BELOW:
        return SUPPRESSED
    return f"{round(record.share * 100)}%"


def shown_median(median: Median, *, public: bool) -> float | str:
    """Working days, to one decimal place at most; "none" when nothing was counted; in public,
    SUPPRESSED for fewer than 5."""
    if median.working_days is None:
        return "none"
    if public and median.count < SUPPRESS_BELOW:
        return SUPPRESSED
    days = round(median.working_days, 1)
    return int(days) if days.is_integer() else days


@dataclass(frozen=True)
class Row:
    """One published figure: its section, key, label and value (a number, or words)."""

    section: str
    key: str
    label: str
    value: Shown
    # The number behind a chart's bar (None: not drawn, the value being suppressed or words).
    number: int | None = None


SECTIONS = {
    "required": "The figures every area must publish",
    "more": "Other applications and appeals",
    "deadlines_met": "Deadlines met on time",
    "deadlines_due": "Deadlines due",
    "median_working_days": "Median working days",
}


def rows(figures: YearlyFigures, *, public: bool) -> list[Row]:
    """Every figure in the order pages, files and emails give them; `public` suppresses small numbers."""
    result = []
    for figure in Figure:
        count = figures.counts[figure]
        value = shown_count(count, public=public)
        result.append(
            Row(
                "required" if figure in STATUTORY else "more",
                figure.value,
                FIGURE_LABELS[figure],
                value,
                count if isinstance(value, int) else None,
            )
        )
    for step in DEADLINE_STEPS:
        record = figures.deadlines[step]
        result.append(Row("deadlines_met", step.value, STEP_LABELS[step], shown_share(record, public=public)))
        result.append(
            Row("deadlines_due", step.value, STEP_LABELS[step], shown_count(record.due, public=public))
        )
    for step in Step:
        label = f"{STEP_LABELS[step]}, {MEDIAN_FROM[step]}"
        result.append(
            Row("median_working_days", step.value, label, shown_median(figures.medians[step], public=public))
        )
    return result


def describe_year(figures: YearlyFigures) -> str:
    """'April 2025 to March 2026', or 'April 2026 to March 2027, so far (to 29 November 2026)'."""
    if figures.complete:
        return figures.year.label
    return f"{figures.year.label}, so far (to {long_date(figures.as_of)})"


def by_section(published: list[Row]) -> dict[str, list[Row]]:
    """The rows of each section, in SECTIONS' order."""
    return {section: [row for row in published if row.section == section] for section in SECTIONS}


def deadline_table(published: list[Row]) -> list[tuple[str, Shown, Shown]]:
    """(step, deadlines due, share met on time) for each deadline."""
    due = {row.key: row.value for row in published if row.section == "deadlines_due"}
    return [(row.label, due[row.key], row.value) for row in published if row.section == "deadlines_met"]
