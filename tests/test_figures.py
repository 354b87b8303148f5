"""The yearly figures: what each counts (a seeded year of cases with known outcomes, across the year's
boundaries, with withdrawals and appeals), the published page, CSV and JSON with small numbers suppressed,
the schedule the worker creates, and the email its workflow sends on the first working day after a year.

Real parts: SQLite (rows inserted directly, for speed), the API app, a Temporal dev server (schedules), a
time-skipping server of the test's own (`fresh_clock`), the SMTP sink, and Chromium with axe-core.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import ScheduleOverlapPolicy
from temporalio.service import RPCError
from temporalio.worker import Worker

import worker as worker_module
from activities.figures import YearlyFiguresActivities, figures_due
from api.deps import today_in_london
from api.main import create_app
from core.config import Settings, get_settings
from core.localities import load_policies
from db.figures import figures_for
from db.models import Appeal, Case, InformationRequest, Letter, StaffLocality, StaffUser, Submission
from db.session import engine_for, migrate, session_factory
from domain.calendar import LONDON
from domain.figures import (
    SUPPRESSED,
    CaseFacts,
    DeadlineRecord,
    Figure,
    Median,
    ReportingYear,
    Step,
    areas_of,
    compute_figures,
    first_working_day_after,
    shown_count,
    shown_median,
    shown_share,
)
from domain.policy import FiguresPolicy, LocalityPolicy, ReportingYearKind
from tests.browser import assert_accessible, assert_no_horizontal_scrolling, new_page
from tests.stack import start_dev_server
from tests.support import CaseService
from workflows.calendar_check import CALENDAR_CHECK_SCHEDULE_ID
from workflows.case import WORKFLOW_RUNNER
from workflows.outbox_sweep import OUTBOX_SWEEP_SCHEDULE_ID
from workflows.yearly_figures import (
    YEARLY_FIGURES_SCHEDULE_ID,
    YearlyFiguresResult,
    YearlyFiguresWorkflow,
)

FINANCIAL, CALENDAR = ReportingYearKind.FINANCIAL, ReportingYearKind.CALENDAR
YEAR = ReportingYear(FINANCIAL, 2025)  # 1 April 2025 to 31 March 2026
AS_OF = dt.date(2026, 5, 1)
NATION = "england-and-wales"
LLR = {
    "leicester",
    "leicestershire",
    "rutland",
    "blaby",
    "charnwood",
    "harborough",
    "hinckley-and-bosworth",
    "melton",
    "north-west-leicestershire",
    "oadby-and-wigston",
}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ---- the reporting year, working days and suppression ------------------------------------------------


def test_reporting_years_are_named_and_bounded_as_published() -> None:
    assert (YEAR.first_day, YEAR.last_day, YEAR.slug, YEAR.label) == (
        day("2025-04-01"),
        day("2026-03-31"),
        "2025-26",
        "April 2025 to March 2026",
    )
    calendar_year = ReportingYear(CALENDAR, 2026)
    assert (calendar_year.first_day, calendar_year.last_day, calendar_year.slug) == (
        day("2026-01-01"),
        day("2026-12-31"),
        "2026",
    )
    assert ReportingYear.containing(day("2026-03-31"), FINANCIAL) == YEAR
    assert ReportingYear.containing(day("2026-04-01"), FINANCIAL) == ReportingYear(FINANCIAL, 2026)
    assert ReportingYear.parse("2025-26", FINANCIAL) == YEAR
    # A year of the other kind, or one written wrongly, names no year.
    assert ReportingYear.parse("2025", FINANCIAL) is None
    assert ReportingYear.parse("2025-27", FINANCIAL) is None
    assert ReportingYear.parse("2025-26", CALENDAR) is None


def test_figures_go_on_the_first_working_day_after_the_year() -> None:
    # New Year's Day 2027 is a Friday: the weekend follows.
    assert first_working_day_after(ReportingYear(CALENDAR, 2026), NATION) == day("2027-01-04")
    # 1 April 2026 is a Wednesday.
    assert first_working_day_after(YEAR, NATION) == day("2026-04-01")
    # 31 March 2024 was Easter Sunday, and 1 April Easter Monday.
    assert first_working_day_after(ReportingYear(FINANCIAL, 2023), NATION) == day("2024-04-02")
    # In Scotland 2 January is a bank holiday too (Tuesday 2 January 2024).
    assert first_working_day_after(ReportingYear(CALENDAR, 2023), "scotland") == day("2024-01-03")


def test_public_numbers_from_one_to_four_are_suppressed_and_zero_is_not() -> None:
    assert [shown_count(n, public=True) for n in range(7)] == [0] + [SUPPRESSED] * 4 + [5, 6]
    assert [shown_count(n, public=False) for n in range(7)] == list(range(7))
    assert shown_share(DeadlineRecord(due=4, met=4), public=True) == SUPPRESSED
    assert shown_share(DeadlineRecord(due=4, met=3), public=False) == "75%"
    assert shown_share(DeadlineRecord(due=6, met=5), public=True) == "83%"
    assert shown_share(DeadlineRecord(), public=True) == "none due"
    assert shown_median(Median(count=2, working_days=17.0), public=True) == SUPPRESSED
    assert shown_median(Median(count=2, working_days=17.0), public=False) == 17
    assert shown_median(Median(count=6, working_days=8.5), public=True) == 8.5
    assert shown_median(Median(), public=True) == "none"


def test_a_deadline_counts_once_its_letter_went_or_its_day_passed_unless_withdrawn_by_then() -> None:
    year = ReportingYear(FINANCIAL, 2026)

    def threshold_deadline(as_of: str, **facts: Any) -> DeadlineRecord:
        case = CaseFacts(
            nation=NATION, received_on=day("2026-04-01"), threshold_decision_by=day("2026-04-16"), **facts
        )
        return compute_figures([case], year, day(as_of)).deadlines[Step.THRESHOLD_DECISION]

    # Not yet due, nothing sent: not counted yet.
    assert threshold_deadline("2026-04-16") == DeadlineRecord(due=0, met=0)
    # Sent on the due date: met, even before the day is over.
    assert threshold_deadline("2026-04-16", threshold_decided_on=day("2026-04-16")) == DeadlineRecord(1, 1)
    # The day passed without the letter: missed.
    assert threshold_deadline("2026-04-17") == DeadlineRecord(due=1, met=0)
    # Withdrawn before the due date: the step was no longer needed.
    assert threshold_deadline("2026-05-01", withdrawn_on=day("2026-04-10")) == DeadlineRecord(0, 0)
    # Withdrawn after it had passed: it was missed.
    assert threshold_deadline("2026-05-01", withdrawn_on=day("2026-04-20")) == DeadlineRecord(1, 0)


def test_the_llr_councils_are_published_together_and_must_agree_on_the_year() -> None:
    policies = load_policies(Path(__file__).resolve().parent.parent / "localities")
    areas = areas_of(policies)
    assert set(areas["llr"].localities) == LLR
    assert areas["llr"].name == "Leicester, Leicestershire and Rutland"
    assert {key for key, policy in policies.items() if policy.figures.combined_area} == LLR
    # Every locality counts by the financial year unless its policy says otherwise.
    assert {policy.figures.year for policy in policies.values()} == {FINANCIAL}

    blaby = policies["blaby"]
    calendar_blaby = blaby.model_copy(update={"figures": blaby.figures.model_copy(update={"year": CALENDAR})})
    with pytest.raises(ValueError, match="different years"):
        areas_of({**policies, "blaby": calendar_blaby})


def test_the_schedule_plans_only_years_that_ended_in_the_past_month() -> None:
    policies = load_policies(Path(__file__).resolve().parent.parent / "localities")
    on_calendar = {
        key: policy.model_copy(update={"figures": FiguresPolicy(year=CALENDAR)})
        for key, policy in policies.items()
        if key in ("derby", "tunbridge-wells")
    }
    mixed = {**policies, **on_calendar}
    # 1 April: every financial year just ended; the calendar years ended three months ago.
    april = figures_due(mixed, day("2026-04-01"))
    assert {due.locality for due in april} == set(policies) - set(on_calendar)
    assert {(due.start_year, due.send_on) for due in april} == {(2025, day("2026-04-01"))}
    # 1 January: only the calendar years.
    january = figures_due(mixed, day("2027-01-01"))
    assert [(due.locality, due.start_year, due.send_on) for due in january] == [
        ("derby", 2026, day("2027-01-04")),
        ("tunbridge-wells", 2026, day("2027-01-04")),
    ]
    # Mid-year nothing is due: each year's email went when it ended.
    assert figures_due(mixed, day("2026-11-29")) == []


# ---- a seeded year ---------------------------------------------------------------------------------------


class Seeder:
    """Cases inserted straight into the database, with the dates their letters were sent."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.number = 0

    def case(
        self,
        locality: str,
        received_on: str,
        letters: dict[str, str] | None = None,
        *,
        deadlines: dict[str, str] | None = None,
        recommendations: int | None = None,
        appeal: dict[str, Any] | None = None,
        legacy_appeal: tuple[str, bool, str] | None = None,
        answers: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        self.number += 1
        now = dt.datetime.now(dt.UTC)
        with self.sessions.begin() as session:
            case = Case(
                reference=f"CT-{locality[:3].upper()}-{received_on[:4]}-{uuid.uuid4().hex[:8]}",
                locality=locality,
                stage="closed",
                received_on=day(received_on),
                application={},
                assessment={},
                panel_decision=(
                    {
                        "findings": "Findings.",
                        "recommendations": [{"agency": "Police", "action": "Patrol.", "due_on": "2026-01-01"}]
                        * recommendations,
                    }
                    if recommendations is not None
                    else None
                ),
                created_at=now,
                updated_at=now,
                **{name: day(value) for name, value in (deadlines or {}).items()},
            )
            if legacy_appeal is not None:
                requested_on, upheld, _ = legacy_appeal
                case.appeal_request = {"received_on": requested_on, "explanation": "Why."}
                case.appeal_outcome = {"upheld": upheld, "summary": "Decided."}
            session.add(case)
            session.flush()
            for code, sent_on in (letters or {}).items():
                session.add(
                    Letter(
                        case_id=case.id,
                        code=code,
                        sequence=1,
                        sent_on=day(sent_on),
                        channel="email",
                        status="sent",
                        subject=code,
                        body_text="",
                        created_at=now,
                    )
                )
            if appeal is not None:
                session.add(
                    Appeal(
                        case_id=case.id,
                        stage="appeal_decided",
                        result=appeal.get("result"),
                        route="independent_chair",
                        received_on=day(appeal["received_on"]),
                        grounds=[1],
                        decision_by=day(appeal["decision_by"]) if "decision_by" in appeal else None,
                        created_at=now,
                        updated_at=now,
                    )
                )
            if legacy_appeal is not None:
                session.add(
                    Submission(
                        case_id=case.id,
                        kind="appeal_outcome",
                        submission_key=f"outcome-{case.id}",
                        body=case.appeal_outcome,
                        submitted_by="SPOC",
                        submitted_at=dt.datetime.combine(day(legacy_appeal[2]), dt.time(10), tzinfo=LONDON),
                    )
                )
            for index, (requested_on, answered_on) in enumerate(answers):
                session.add(
                    InformationRequest(
                        case_id=case.id,
                        request_key=f"threshold:agency-{index}",
                        purpose="threshold",
                        agency_key=f"agency-{index}",
                        agency_name="An agency",
                        requested_on=day(requested_on),
                        due_on=day(requested_on) + dt.timedelta(days=7),
                        state="answered" if answered_on else "waived",
                        answered_on=day(answered_on) if answered_on else None,
                        delivery="sent",
                        resent_count=0,
                    )
                )

    def manager(self, locality: str, email: str) -> None:
        with self.sessions.begin() as session:
            session.add(
                StaffUser(
                    name=f"Manager of {locality}",
                    email=email,
                    role="manager",
                    active=True,
                    created_at=dt.datetime.now(dt.UTC),
                    localities=[StaffLocality(locality=locality)],
                )
            )


def seed_the_year(seed: Seeder) -> None:
    """Blaby's cases around April 2025 to March 2026 (the figures each gives are in the test below)."""
    # A: received the year before; its threshold decision and its review fall in this year.
    seed.case(
        "blaby",
        "2025-03-20",
        {"letter-1": "2025-03-20", "letter-2a": "2025-04-02", "letter-3": "2025-05-01"},
        deadlines={
            "acknowledge_by": "2025-03-27",
            "threshold_decision_by": "2025-04-03",
            "outcome_by": "2025-05-02",
        },
        recommendations=2,
        answers=[("2025-03-25", "2025-04-01")],
    )
    # B: received on the year's first day; threshold not met; appealed, upheld a week late.
    seed.case(
        "blaby",
        "2025-04-01",
        {
            "letter-1": "2025-04-01",
            "letter-2b": "2025-04-14",
            "letter-4": "2025-05-06",
            "letter-6": "2025-06-10",
        },
        deadlines={"acknowledge_by": "2025-04-08", "threshold_decision_by": "2025-04-15"},
        appeal={"received_on": "2025-05-01", "decision_by": "2025-06-03", "result": "upheld"},
    )
    # C: rejected as vexatious; its appeal was withdrawn.
    seed.case(
        "blaby",
        "2025-06-02",
        {"letter-1": "2025-06-02", "rejection": "2025-06-10", "appeal-withdrawn": "2025-06-25"},
        deadlines={"acknowledge_by": "2025-06-09", "threshold_decision_by": "2025-06-16"},
        appeal={"received_on": "2025-06-20", "result": "withdrawn"},
    )
    # D: withdrawn before the threshold decision was due.
    seed.case(
        "blaby",
        "2025-07-01",
        {"letter-1": "2025-07-01", "withdrawal": "2025-07-03"},
        deadlines={"acknowledge_by": "2025-07-08", "threshold_decision_by": "2025-07-15"},
    )
    # E: threshold decided late; withdrawn after the outcome was due, without one.
    seed.case(
        "blaby",
        "2025-09-01",
        {"letter-1": "2025-09-01", "letter-2a": "2025-09-19", "withdrawal": "2025-10-20"},
        deadlines={
            "acknowledge_by": "2025-09-08",
            "threshold_decision_by": "2025-09-15",
            "outcome_by": "2025-10-17",
        },
    )
    # H: a review with no recommendations; two agencies answered, one was waived.
    seed.case(
        "blaby",
        "2025-11-03",
        {"letter-1": "2025-11-03", "letter-2a": "2025-11-10", "letter-3": "2025-12-01"},
        deadlines={
            "acknowledge_by": "2025-11-10",
            "threshold_decision_by": "2025-11-17",
            "outcome_by": "2025-12-08",
        },
        recommendations=0,
        answers=[("2025-11-03", "2025-11-07"), ("2025-11-03", "2025-11-12"), ("2025-11-03", None)],
    )
    # F: received near the year's end; everything after falls in the next year.
    seed.case(
        "blaby",
        "2026-03-25",
        {"letter-1": "2026-03-25", "letter-2a": "2026-04-08"},
        deadlines={"acknowledge_by": "2026-04-01", "threshold_decision_by": "2026-04-09"},
    )
    # G: received the day after the year.
    seed.case("blaby", "2026-04-02", {"letter-1": "2026-04-02"}, deadlines={"acknowledge_by": "2026-04-09"})
    # I: an appeal the SPOC recorded (before appeals ran as workflows), decided in this year.
    seed.case(
        "blaby",
        "2024-06-03",
        {"letter-1": "2024-06-03", "letter-2b": "2024-06-20"},
        legacy_appeal=("2024-07-10", False, "2025-04-15"),
    )
    # Another LLR council's application, and one from outside LLR.
    seed.case(
        "charnwood", "2025-05-01", {"letter-1": "2025-05-01"}, deadlines={"acknowledge_by": "2025-05-08"}
    )
    seed.case("derby", "2025-05-01", {"letter-1": "2025-05-01"}, deadlines={"acknowledge_by": "2025-05-08"})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    directory = tmp_path_factory.mktemp("figures")
    settings = Settings(  # type: ignore[call-arg]
        environment="development",
        database_url=f"sqlite:///{directory / 'figures.db'}",
        public_base_url="http://testserver",
        _env_file=None,
    )
    migrate(settings.database_url)
    sessions = session_factory(settings.database_url)
    seed_the_year(Seeder(sessions))
    yield SimpleNamespace(
        settings=settings, sessions=sessions, policies=load_policies(settings.localities_dir)
    )


def test_a_seeded_year_gives_exactly_the_expected_figures(seeded: SimpleNamespace) -> None:
    areas = areas_of(seeded.policies)
    with seeded.sessions() as session:
        figures = figures_for(session, areas["blaby"], seeded.policies, YEAR, AS_OF)

    assert figures.counts == {
        # B, C, D, E, H and F: received in the year, withdrawn and rejected ones too (A, I before; G after).
        Figure.APPLICATIONS_RECEIVED: 6,
        Figure.THRESHOLD_NOT_MET: 1,  # B
        Figure.REVIEWS_CARRIED_OUT: 2,  # A (received the year before) and H
        Figure.REVIEWS_WITH_RECOMMENDATIONS: 1,  # A; H's action plan made none
        Figure.APPLICATIONS_REJECTED: 1,  # C, not counted as the threshold not met
        Figure.APPLICATIONS_WITHDRAWN: 2,  # D and E
        Figure.APPEALS_RECEIVED: 2,  # B and C (withdrawn later); I's request came the year before
        Figure.APPEALS_DECIDED: 2,  # B, and I (recorded by the SPOC)
        Figure.APPEALS_UPHELD: 1,  # B
    }
    assert figures.deadlines == {
        # B, C, D, E, H (A's fell due the year before, F's the year after).
        Step.ACKNOWLEDGEMENT: DeadlineRecord(due=5, met=5),
        # A, B, C and H on time, E late; D withdrawn before its was due.
        Step.THRESHOLD_DECISION: DeadlineRecord(due=5, met=4),
        # A and H on time; E passed without Letter 3 before it was withdrawn.
        Step.OUTCOME: DeadlineRecord(due=3, met=2),
        # B's decision came a week late.
        Step.APPEAL_OUTCOME: DeadlineRecord(due=1, met=0),
    }
    assert figures.medians == {
        Step.ACKNOWLEDGEMENT: Median(count=6, working_days=0),
        # A 9, B 9, C 6, E 14, H 5 working days from Letter 1.
        Step.THRESHOLD_DECISION: Median(count=5, working_days=9),
        # A 19 (over Easter) and H 15 working days from Letter 2a.
        Step.OUTCOME: Median(count=2, working_days=17),
        # B: 24 working days from Letter 4 (the late May bank holiday between).
        Step.APPEAL_OUTCOME: Median(count=1, working_days=24),
        # A's answer 5 (asked the year before), H's 4 and 7; the waived request not at all.
        Step.AGENCY_ANSWER: Median(count=3, working_days=5),
    }
    assert figures.complete


# ---- the published figures ---------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def public(seeded: SimpleNamespace) -> AsyncIterator[httpx.AsyncClient]:
    """The API app on the seeded database, its clock on AS_OF."""
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: seeded.settings
    app.dependency_overrides[today_in_london] = lambda: AS_OF
    app.state.policies = seeded.policies
    app.state.engine = engine_for(seeded.settings.database_url)
    app.state.temporal = SimpleNamespace(client=None, last_error=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as api:
        yield api


@pytest.mark.asyncio(loop_scope="session")
async def test_the_published_json_suppresses_small_numbers(public: httpx.AsyncClient) -> None:
    response = await public.get("/api/figures", params={"locality": "blaby", "year": "2025-26"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["area"] == {
        "key": "blaby",
        "name": "Blaby District Council",
        "councils": ["Blaby District Council"],
    }
    assert body["year"]["year"] == "2025-26" and body["year"]["complete"] is True
    assert body["required"] == {
        "applications_received": 6,
        "threshold_not_met": SUPPRESSED,
        "reviews_carried_out": SUPPRESSED,
        "reviews_with_recommendations": SUPPRESSED,
    }
    assert body["more"]["appeals_upheld"] == SUPPRESSED
    assert body["deadlines_met"] == {
        "acknowledgement": "100%",
        "threshold_decision": "80%",
        "outcome": SUPPRESSED,  # of 3 due
        "appeal_outcome": SUPPRESSED,
    }
    assert body["deadlines_due"]["acknowledgement"] == 5
    assert body["median_working_days"]["threshold_decision"] == 9
    assert body["median_working_days"]["outcome"] == SUPPRESSED
    assert "fewer than 5" in body["suppression"]

    # The download is the same document; without a year, the latest that has ended (on 1 May 2026).
    download = await public.get("/figures/blaby/2025-26.json")
    assert download.json() == body
    assert (
        'filename="community-trigger-figures-blaby-2025-26.json"' in download.headers["content-disposition"]
    )
    latest = await public.get("/api/figures", params={"locality": "blaby"})
    assert latest.json() == body


@pytest.mark.asyncio(loop_scope="session")
async def test_an_area_with_no_cases_publishes_zeros_not_suppressed(public: httpx.AsyncClient) -> None:
    body = (
        await public.get("/api/figures", params={"locality": "tunbridge-wells", "year": "2025-26"})
    ).json()
    assert set(body["required"].values()) == {0}
    assert set(body["deadlines_met"].values()) == {"none due"}
    assert set(body["median_working_days"].values()) == {"none"}


@pytest.mark.asyncio(loop_scope="session")
async def test_llr_figures_combine_its_ten_councils_only(public: httpx.AsyncClient) -> None:
    body = (await public.get("/api/figures", params={"locality": "llr", "year": "2025-26"})).json()
    assert body["area"]["name"] == "Leicester, Leicestershire and Rutland"
    assert len(body["area"]["councils"]) == 10
    # Blaby's six and Charnwood's one; Derby's is not in LLR.
    assert body["required"]["applications_received"] == 7
    assert body["deadlines_due"]["acknowledgement"] == 6


@pytest.mark.asyncio(loop_scope="session")
async def test_the_csv_download_has_every_figure_suppressed_as_published(public: httpx.AsyncClient) -> None:
    response = await public.get("/figures/blaby/2025-26.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    values = {(row["section"], row["figure"]): row["value"] for row in table}
    assert values[("required", "applications_received")] == "6"
    assert values[("required", "threshold_not_met")] == SUPPRESSED
    assert values[("deadlines_met", "threshold_decision")] == "80%"
    assert {row["area"] for row in table} == {"Blaby District Council"}
    assert {row["year"] for row in table} == {"April 2025 to March 2026"}


@pytest.mark.asyncio(loop_scope="session")
async def test_unknown_areas_and_years_are_not_found(public: httpx.AsyncClient) -> None:
    assert (await public.get("/api/figures", params={"locality": "nowhere"})).status_code == 404
    # A calendar year for a council that counts by the financial year, a year to come, one before 2014.
    for year in ("2025", "2027-28", "2012-13"):
        response = await public.get("/api/figures", params={"locality": "blaby", "year": year})
        assert response.status_code == 404, year
    assert (await public.get("/figures", params={"area": "nowhere"})).status_code == 404
    assert (await public.get("/figures", params={"area": "blaby", "year": "2030-31"})).status_code == 404
    assert (await public.get("/figures/blaby/2025.csv")).status_code == 404


@pytest.mark.asyncio(loop_scope="session")
async def test_the_page_shows_the_figures_with_a_chart_and_a_table(public: httpx.AsyncClient) -> None:
    index = await public.get("/figures")
    assert index.status_code == 200
    assert 'href="/figures?area=blaby"' in index.text and 'href="/figures?area=llr"' in index.text

    page = await public.get("/figures", params={"area": "blaby", "year": "2025-26"})
    assert page.status_code == 200
    html = page.text
    assert "<h1" in html and "Blaby District Council</h1>" in html
    assert '<svg role="img" aria-labelledby="chart-title chart-description"' in html
    # The chart's text alternative and the table beside it give the same numbers.
    assert "Applications received: 6; Times the threshold was not met: fewer than 5;" in html
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">6</td>' in html
    assert 'href="/figures/blaby/2025-26.csv"' in html and 'href="/figures/blaby/2025-26.json"' in html
    # The year to come is not offered; the current one is, so far.
    assert '<option value="2026-27"' in html and '<option value="2027-28"' not in html
    current = await public.get("/figures", params={"area": "blaby", "year": "2026-27"})
    assert "so far (to 1 May 2026)" in current.text


# ---- the schedule and its workflow --------------------------------------------------------------------


async def test_the_worker_creates_the_yearly_figures_schedule(tmp_path: Path) -> None:
    env = await start_dev_server()
    try:
        settings = Settings(  # type: ignore[call-arg]
            environment="development",
            database_url=f"sqlite:///{tmp_path / 'worker.db'}",
            temporal_address=env.client.service_client.config.target_host,
            temporal_task_queue=f"figures-{uuid.uuid4().hex[:8]}",
            _env_file=None,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(worker_module.run_worker(settings, stop))
        try:
            handle = env.client.get_schedule_handle(YEARLY_FIGURES_SCHEDULE_ID)
            for _ in range(200):
                try:
                    description = await handle.describe()
                    break
                except RPCError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the worker did not create the yearly figures schedule")
            spec = description.schedule.spec
            assert spec.time_zone_name == "Europe/London"
            (calendar,) = spec.calendars
            assert [r.start for r in calendar.month] == [1, 4]
            assert [r.start for r in calendar.day_of_month] == [1]
            assert [r.start for r in calendar.hour] == [7]
            action = description.schedule.action
            assert getattr(action, "workflow", None) == "YearlyFiguresWorkflow"
            assert getattr(action, "task_queue", None) == settings.temporal_task_queue
            # Beside the weekly bank-holiday check, which it leaves as it was.
            await env.client.get_schedule_handle(CALENDAR_CHECK_SCHEDULE_ID).describe()
            # And the outbox sweep's (created after this one): every 5 minutes, skipped while one runs.
            sweep_handle = env.client.get_schedule_handle(OUTBOX_SWEEP_SCHEDULE_ID)
            for _ in range(200):
                try:
                    sweep = (await sweep_handle.describe()).schedule
                    break
                except RPCError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the worker did not create the outbox sweep schedule")
            assert [interval.every for interval in sweep.spec.intervals] == [dt.timedelta(minutes=5)]
            assert sweep.policy.overlap == ScheduleOverlapPolicy.SKIP
            assert getattr(sweep.action, "workflow", None) == "OutboxSweepWorkflow"
            assert getattr(sweep.action, "task_queue", None) == settings.temporal_task_queue
            assert not await worker_module.ensure_outbox_sweep_schedule(
                env.client, settings.temporal_task_queue
            )
            # Started a second time, the worker keeps the schedule it finds.
            assert not await worker_module.ensure_yearly_figures_schedule(
                env.client, settings.temporal_task_queue
            )
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=90)
    finally:
        await env.shutdown()


@pytest.mark.asyncio(loop_scope="session")
async def test_the_workflow_emails_each_manager_on_the_first_working_day_after_the_year(
    fresh_clock: CaseService,
) -> None:
    service = fresh_clock
    seed = Seeder(service.sessions)
    # Blaby and Charnwood count by the calendar year here: the next one to end is this December's.
    policies: dict[str, LocalityPolicy] = {
        key: policy.model_copy(update={"figures": FiguresPolicy(year=CALENDAR)})
        if key in ("blaby", "charnwood")
        else policy
        for key, policy in load_policies(service.settings.localities_dir).items()
    }
    now = (await service.now()).astimezone(LONDON)
    new_year = now.year + 1
    year = ReportingYear(CALENDAR, new_year - 1)
    for number in range(6):
        seed.case(
            "blaby",
            f"{year.start_year}-0{number + 2}-02",
            {"letter-1": f"{year.start_year}-0{number + 2}-02"},
        )
    seed.case(
        "blaby",
        f"{year.start_year}-03-03",
        {"letter-1": f"{year.start_year}-03-03", "letter-2b": f"{year.start_year}-03-10"},
    )
    # Only this test's manager: the development seed's managers leave.
    with service.sessions.begin() as session:
        session.execute(update(StaffUser).where(StaffUser.role == "manager").values(active=False))
    seed.manager("blaby", "figures.manager@blaby.council.example")
    # Charnwood has no manager's account: its email goes to the manager in its policy.
    charnwood_manager = str(policies["charnwood"].manager.email)

    # The schedule fires at 07:00 on 1 January; the first working day after the year may come later.
    await service.travel_to(dt.date(new_year, 1, 1), dt.time(7, 0))
    send_on = first_working_day_after(year, NATION)
    queue = f"figures-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            service.env.client,
            task_queue=queue,
            workflows=[YearlyFiguresWorkflow],
            workflow_runner=WORKFLOW_RUNNER,
            activities=YearlyFiguresActivities(service.settings, policies, service.sessions).all(),
            activity_executor=executor,
        ):
            result: YearlyFiguresResult = await service.env.client.execute_workflow(
                YearlyFiguresWorkflow.run, id=f"yearly-figures-{queue}", task_queue=queue
            )

    assert [(sent.locality, sent.emails, sent.to_policy_manager) for sent in result.sent] == [
        ("blaby", 1, False),
        ("charnwood", 1, True),
    ]
    assert result.failed == []
    sent_at = (await service.now()).astimezone(LONDON)
    assert sent_at >= dt.datetime.combine(send_on, dt.time(7, 0), tzinfo=LONDON)

    messages = {
        str(m["To"]): m for m in service.mail.messages() if "Community Trigger figures" in str(m["Subject"])
    }
    blaby = messages["figures.manager@blaby.council.example"]
    assert str(blaby["Subject"]) == (
        f"Community Trigger figures for Blaby District Council, {year.label}: please publish them"
    )
    text = blaby.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    # Exact figures, small ones too, and the reminder with the link to the published page.
    assert "Applications received: 7" in text
    assert "Times the threshold was not met: 1" in text
    assert f"http://testserver/figures?area=blaby&year={year.slug}" in text
    assert "Please publish them" in text
    charnwood = messages[charnwood_manager]
    charnwood_text = charnwood.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "manager's address in Charnwood Borough Council's Community Trigger policy" in charnwood_text
    assert "Applications received: 0" in charnwood_text


# ---- in a browser ------------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_the_figures_page_passes_axe_and_reflows(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    seed = Seeder(service.sessions)
    for number in range(6):
        seed.case("melton", f"2024-0{number + 4}-01", {"letter-1": f"2024-0{number + 4}-01"})
    seed.case("melton", "2024-05-01", {"letter-1": "2024-05-01", "letter-2b": "2024-05-10"})
    async with new_page(chromium, live_server) as page:
        await page.goto("/figures")
        await assert_accessible(page)
        await page.get_by_role("link", name="Melton Borough Council").click()
        await page.select_option("#year", "2024-25")
        await page.get_by_role("button", name="Show figures").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Melton Borough Council")
        await expect(
            page.get_by_role("img", name="Bar chart of the four figures, April 2024 to March 2025")
        ).to_be_visible()
        await assert_accessible(page)
        await page.set_viewport_size({"width": 320, "height": 640})
        await assert_no_horizontal_scrolling(page)
