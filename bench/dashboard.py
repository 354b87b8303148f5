"""How fast the staff dashboard and the JSON list answer at 100,000 cases: seeds a SQLite file (and a
PostgreSQL server of its own, when PostgreSQL's binaries are installed) and prints p50/p95 of the dashboard's
query and of the list's (`GET /api/cases`, `api.case_store.cases_in_localities`) for a SPOC of one locality,
unfiltered and filtered by locality, stage and overdue, paged deep, and (the dashboard) searched. Target:
p95 < 150 ms. `python -m bench --only dashboard` runs this section alone.

The dashboard's query timed is `api.staff.dashboard.load_dashboard`, all of it: the page, the counts by
stage, overdue and due soon, the number matching, and the page's tags and names. The SPOC's locality holds
a quarter of the cases; four in five cases are closed, the rest wait on a step due from 40 days ago to 40
days on. The database is analysed after seeding (and, on PostgreSQL, vacuumed, as autovacuum would have done).
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Staff
from api.case_store import cases_in_localities
from api.staff.dashboard import Filters, Position, load_dashboard
from api.views import case_summary
from bench.common import Verdicts, heading, percentile
from bench.postgres import postgres_bin, postgres_server
from core.config import PROJECT_ROOT
from core.localities import load_policies
from db.models import Appeal, Case, InformationRequest
from db.session import engine_for, migrate
from domain.case_index import names_to_search
from workflows.models import CaseStage

SPOC_LOCALITY = "blaby"
TARGET_P95_MS = 150.0
FIRST_NAMES = ("Alex", "Sam", "Jo", "Priya", "Tomasz", "Aisha", "Chris", "Zoë", "Mohammed", "Ellen", "Ravi")
LAST_NAMES = ("Smith", "Patel", "Jones", "Nowak", "Khan", "O'Brien", "Taylor", "Brown", "Williams", "Evans")
# Stages of the open cases, and the step each waits on.
OPEN_STAGES = (
    ("received", None),
    ("threshold_check", "threshold_decision"),
    ("threshold_check", "threshold_decision"),
    ("review", "outcome"),
    ("review", "outcome"),
    ("appeal_window", "appeal_by"),
    ("appeal", "appeal_chair"),
)


def application(locality: str, received_on: dt.date, rng: random.Random) -> dict[str, Any]:
    """An application of a realistic size (the dashboard must not read it for every row)."""
    return {
        "locality": locality,
        "received_on": received_on.isoformat(),
        "applicant": {
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}-{rng.randrange(10_000)}",
            "email": "someone@example.test",
            "phone": None,
            "address": "1 High Street, Narborough",
            "postcode": "LE19 2AA",
            "is_business": False,
        },
        "on_behalf_of": None,
        "incidents": [
            {
                "occurred_on": (received_on - dt.timedelta(days=days)).isoformat(),
                "reported_on": (received_on - dt.timedelta(days=days - 1)).isoformat(),
                "reported_to": "police",
                "organisation": "Leicestershire Police",
                "reference": f"REF-{days}",
                "description": "Loud music and shouting late at night, most nights of the week. " * 3,
            }
            for days in (60, 40, 20)
        ],
        "hate_incident": False,
        "hate_incident_details": None,
        "no_effective_action": True,
        "consent_to_share": True,
        "contact_preference": "email",
    }


def seed(sessions: sessionmaker[Session], count: int, localities: list[str], today: dt.date) -> None:
    """`count` cases: a quarter the SPOC's, the rest spread over the other localities; a request for each
    agency of an open case; an appeal row for each case at appeal."""
    rng = random.Random(20261130)  # the same cases each run
    others = [key for key in localities if key != SPOC_LOCALITY]
    now = dt.datetime.now(dt.UTC)
    batch = 2_000
    with sessions.begin() as session:
        for first in range(0, count, batch):
            cases, requests, appeals = [], [], []
            for number in range(first, min(first + batch, count)):
                locality = SPOC_LOCALITY if rng.random() < 0.25 else rng.choice(others)
                received_on = today - dt.timedelta(days=rng.randrange(5, 1_500))
                body = application(locality, received_on, rng)
                row: dict[str, Any] = {
                    "id": number + 1,
                    "reference": f"CT-BEN-{received_on.year}-{number + 1:06d}",
                    "locality": locality,
                    "received_on": received_on,
                    "application": body,
                    "applicant_name_search": names_to_search(body),
                    "assessment": {"met": True, "reasons": []},
                    "created_at": now,
                    "updated_at": now,
                    "stage": "closed",
                    "closed_reason": "review_completed",
                    "next_deadline": None,
                    "next_deadline_step": None,
                    "step_due_on": None,
                }
                if rng.random() < 0.2:
                    stage, step = rng.choice(OPEN_STAGES)
                    due = today + dt.timedelta(days=rng.randrange(-40, 41)) if step else None
                    row |= {
                        "stage": stage,
                        "closed_reason": None,
                        "next_deadline_step": step,
                        "next_deadline": due,
                        "step_due_on": due,
                    }
                    if stage in ("threshold_check", "review"):
                        purpose = "threshold" if stage == "threshold_check" else "review"
                        for agency in ("police", "council-asb", "housing"):
                            requests.append(
                                {
                                    "case_id": number + 1,
                                    "request_key": f"{purpose}:{agency}",
                                    "purpose": purpose,
                                    "agency_key": agency,
                                    "agency_name": agency.title(),
                                    "agency_email": f"{agency}@example.test",
                                    "requested_on": received_on,
                                    "due_on": received_on + dt.timedelta(days=7),
                                    "state": rng.choice(("requested", "answered")),
                                    "delivery": "sent",
                                    "resent_count": 0,
                                }
                            )
                    if stage == "appeal":
                        appeals.append(
                            {
                                "case_id": number + 1,
                                "stage": "appeal_chair_requested",
                                "route": "independent_chair",
                                "received_on": today,
                                "grounds": [1],
                                "needs_consent": False,
                                "name_chair_by": due,
                                "record_version": 1,
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
                cases.append(row)
            session.execute(insert(Case), cases)
            if requests:
                session.execute(insert(InformationRequest), requests)
            if appeals:
                session.execute(insert(Appeal), appeals)


def measure(
    sessions: sessionmaker[Session], policies: Any, today: dt.date, runs: int
) -> list[tuple[str, float, float]]:
    """p50 and p95 (ms) of each kind of dashboard a SPOC of one locality opens."""
    localities = sorted(policies)
    spoc = Staff(id=1, name="Bench SPOC", role="spoc", localities=frozenset({SPOC_LOCALITY}))
    with sessions() as session:
        dated = session.scalar(
            select(func.count()).where(Case.locality == SPOC_LOCALITY, Case.step_due_on.is_not(None))
        )
        deep = session.execute(
            select(Case.id, Case.step_due_on)
            .where(Case.locality == SPOC_LOCALITY, Case.step_due_on.is_not(None))
            .order_by(Case.step_due_on, Case.id)
            .offset(min(1_000, (dated or 1) // 2))
            .limit(1)
        ).one()
        some_name = session.scalar(
            select(Case.applicant_name_search).where(Case.locality == SPOC_LOCALITY).offset(4_321).limit(1)
        )
        some_reference = session.scalar(select(Case.reference).where(Case.locality == SPOC_LOCALITY).limit(1))
    deep_position = Position.of(deep.id, deep.step_due_on)
    surname = str(some_name).split()[-1]
    scenarios: list[tuple[str, Filters, Position | None]] = [
        ("no filter, first page", Filters(), None),
        ("locality", Filters(locality=SPOC_LOCALITY), None),
        ("locality + stage", Filters(locality=SPOC_LOCALITY, stage="threshold_check"), None),
        ("locality + overdue", Filters(locality=SPOC_LOCALITY, overdue=True), None),
        ("locality + stage + overdue", Filters(locality=SPOC_LOCALITY, stage="review", overdue=True), None),
        ("stage closed (undated cases)", Filters(stage="closed"), None),
        ("a page deep in the list (keyset)", Filters(), deep_position),
        ("search: a rare name", Filters(search=surname), None),
        ("search: a reference", Filters(search=str(some_reference)), None),
    ]
    results = []
    every: list[float] = []

    def timed(staff: Staff, filters: Filters, after: Position | None) -> list[float]:
        timings = []
        for run in range(runs + 3):
            started = time.perf_counter()
            with sessions() as session:
                load_dashboard(
                    session, staff=staff, policies=policies, today=today, filters=filters, after=after
                )
            if run >= 3:  # the first runs warm the caches
                timings.append((time.perf_counter() - started) * 1000)
        return timings

    for name, filters, after in scenarios:
        timings = timed(spoc, filters, after)
        every += timings
        results.append((name, statistics.median(timings), percentile(timings, 0.95)))
    results.append(("all of the above (the SPOC)", statistics.median(every), percentile(every, 0.95)))
    # For comparison: the county team, whose dashboard reads every locality's index and merges them.
    county = Staff(id=2, name="Bench county team", role="county_team", localities=frozenset(localities))
    timings = timed(county, Filters(), None)
    results.append(
        (f"county team, {len(localities)} localities", statistics.median(timings), percentile(timings, 0.95))
    )
    return results


def measure_list(
    sessions: sessionmaker[Session], today: dt.date, runs: int
) -> list[tuple[str, float, float]]:
    """p50 and p95 (ms) of the JSON list's query and its summaries, as `GET /api/cases` reads them."""
    mine = frozenset({SPOC_LOCALITY})
    with sessions() as session:
        first = cases_in_localities(session, localities=mine, today=today, locality=SPOC_LOCALITY, limit=500)
    deep = Position.from_cursor(first.next_cursor)
    scenarios: list[tuple[str, dict[str, Any]]] = [
        ("list: no filter, first page", {}),
        ("list: locality", {"locality": SPOC_LOCALITY}),
        ("list: locality + stage", {"locality": SPOC_LOCALITY, "stage": CaseStage.THRESHOLD_CHECK}),
        ("list: locality + overdue", {"locality": SPOC_LOCALITY, "overdue": True}),
        ("list: locality + not overdue", {"locality": SPOC_LOCALITY, "overdue": False}),
        ("list: stage closed (undated)", {"stage": CaseStage.CLOSED}),
        ("list: a page deep (cursor)", {"after": deep}),
    ]
    results = []
    for name, filters in scenarios:
        timings = []
        for run in range(runs + 3):
            started = time.perf_counter()
            with sessions() as session:
                page = cases_in_localities(session, localities=mine, today=today, **filters)
                [case_summary(row, today) for row in page.rows]
            if run >= 3:
                timings.append((time.perf_counter() - started) * 1000)
        results.append((name, statistics.median(timings), percentile(timings, 0.95)))
    return results


def report(verdicts: Verdicts, label: str, count: int, results: list[tuple[str, float, float]]) -> None:
    print(f"\n  {label}, {count:,} cases")
    print(f"  {'query':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, p50, p95 in results:
        print(f"  {name:<40} {p50:8.1f} {p95:8.1f}")
    # The targets are the SPOC's; the county team's row is there for comparison.
    for what, prefix in (("dashboard", ""), ("list (JSON)", "list:")):
        rows = [r for r in results if r[0].startswith(prefix) and not r[0].startswith("county team")]
        if prefix == "":
            rows = [r for r in rows if not r[0].startswith("list:")]
        worst = max(p95 for _, _, p95 in rows)
        verdicts.add(
            f"{label} {count:,}",
            f"{what} worst p95",
            f"{worst:.1f} ms",
            f"< {TARGET_P95_MS:.0f} ms",
            worst < TARGET_P95_MS,
        )


def run_on(verdicts: Verdicts, url: str, label: str, count: int, runs: int) -> None:
    migrate(url)
    engine = engine_for(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    policies = load_policies(PROJECT_ROOT / "localities")
    today = dt.date.today()
    started = time.perf_counter()
    seed(sessions, count, sorted(policies), today)
    # What a running database has: its planner statistics, and on PostgreSQL the visibility map autovacuum
    # keeps (without it no index-only scan, so every count would read the cases' rows).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    print(f"  {label}: seeded {count:,} cases in {time.perf_counter() - started:.0f} s")
    report(
        verdicts, label, count, measure(sessions, policies, today, runs) + measure_list(sessions, today, runs)
    )
    engine.dispose()


def run(verdicts: Verdicts, *, cases: int, runs: int, postgres: bool) -> None:
    heading("The staff dashboard and the JSON list at scale (a SPOC of one locality)")
    with tempfile.TemporaryDirectory(prefix="ct-bench-") as folder:
        run_on(verdicts, f"sqlite:///{folder}/bench.db", "SQLite", cases, runs)
    if not postgres:
        return
    folder_bin = postgres_bin()
    if folder_bin is None:
        print("\n  PostgreSQL: skipped (no initdb and pg_ctl found)")
        return
    with postgres_server(folder_bin) as url:
        run_on(verdicts, url, "PostgreSQL", cases, runs)
