"""p50/p95/p99 of the API under 8 concurrent clients over real HTTP (uvicorn, a real Temporal dev server and
`python worker.py`), each beside a bare FastAPI endpoint under the same uvicorn settings: checking
eligibility, applying, reading a case, the list, and every staff action of a case from application to the
panel's decision. Measured on SQLite (`make run`'s default) and then, when PostgreSQL's binaries are
installed (and neither `--quick` nor `--no-postgres` is given), with the API and the worker on a PostgreSQL
server of the benchmark's own, as production runs (docker-compose.yml): on SQLite the API's writes wait on
the one write lock the worker holds while it records the cases just applied for. Target, on each: applying
and reading a case at p95 within 3x the bare endpoint's p95."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.common import Latency, Verdicts, heading
from bench.postgres import postgres_bin, postgres_server
from bench.servers import api_environment, service_stack, uvicorn
from domain.calendar import london_date
from tests.support import application

CLIENTS = 8
TARGET_RATIO = 3.0
SPOC = {"Authorization": "Bearer dev-spoc-blaby"}
MEETING = {
    "location": "Council Offices, Narborough",
    "attendees": [{"name": "Sam Officer", "organisation": "Leicestershire Police"}],
}
PANEL = {"findings": "Agencies did not share information.", "recommendations": []}


class Timings:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)

    async def timed(self, name: str, call: Awaitable[httpx.Response], expect: int = 200) -> httpx.Response:
        started = time.perf_counter()
        response = await call
        self.samples[name].append((time.perf_counter() - started) * 1000)
        assert response.status_code == expect, f"{name}: {response.status_code} {response.text[:300]}"
        return response


async def in_parallel(jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run the jobs on CLIENTS concurrent clients, each taking the next job when done."""
    queue = list(enumerate(jobs))
    results: list[Any] = [None] * len(jobs)

    async def client() -> None:
        while queue:
            index, job = queue.pop(0)
            results[index] = await job()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return results


async def _until(api: httpx.AsyncClient, reference: str, check: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + 120
    while True:
        case = (await api.get(f"/api/cases/{reference}", headers=SPOC)).json()
        if check(case):
            return
        assert time.monotonic() < deadline, f"{reference} stuck at {case.get('stage')}"
        await asyncio.sleep(0.2)


def _sent(purpose: str) -> Callable[[dict[str, Any]], bool]:
    return lambda case: any(f"agencies ({purpose})" in entry["event"] for entry in case["chronology"])


async def _answers(api: httpx.AsyncClient, timings: Timings, reference: str, purpose: str) -> None:
    case = (await api.get(f"/api/cases/{reference}", headers=SPOC)).json()
    for request in case["information_requests"]:
        if request["purpose"] == purpose and request["state"] in ("requested", "no_contact"):
            answer = {
                "request_key": request["request_key"],
                "records_found": "Reports on file match the application.",
                "supports_threshold": True,
                "received_by": "phone",
            }
            await timings.timed(
                "staff: agency response",
                api.post(f"/api/cases/{reference}/agency-responses", json=answer, headers=SPOC),
            )


async def staff_actions(api: httpx.AsyncClient, timings: Timings, reference: str) -> None:
    """Every staff action of a case from application to the panel's decision, each timed (the waits for the
    workflow between them are not)."""
    act = f"/api/cases/{reference}"
    await _until(api, reference, _sent("threshold"))
    await _answers(api, timings, reference, "threshold")
    decision = {"outcome": "met", "reasons": "Checked."}
    await timings.timed(
        "staff: threshold decision", api.post(f"{act}/threshold-decision", json=decision, headers=SPOC)
    )
    await _until(api, reference, lambda c: c["stage"] == "review" and _sent("review")(c))
    held_at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    meeting = {**MEETING, "meeting_at": held_at}
    await timings.timed(
        "staff: review meeting", api.post(f"{act}/review-meeting", json=meeting, headers=SPOC)
    )
    impact = {"method": "in_person"}
    await timings.timed(
        "staff: impact statement", api.post(f"{act}/impact-statement", json=impact, headers=SPOC)
    )
    await _answers(api, timings, reference, "review")
    await timings.timed("staff: panel decision", api.post(f"{act}/panel-decision", json=PANEL, headers=SPOC))


async def measure(api_base: str, bare_base: str, cases: int, repeats: int) -> dict[str, Latency]:
    timings = Timings()
    today = london_date(dt.datetime.now(dt.UTC))
    body = application(today=today)
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with (
        httpx.AsyncClient(base_url=api_base, limits=limits, timeout=60) as api,
        httpx.AsyncClient(base_url=bare_base, limits=limits, timeout=60) as bare,
    ):
        # Warm both up (imports, connections, the first queries).
        for _ in range(3):
            await bare.post("/bare", json=body)
            await api.post("/api/eligibility", json=body)
        rounds = CLIENTS * repeats
        await in_parallel([lambda: timings.timed("bare: POST", bare.post("/bare", json=body))] * rounds)
        await in_parallel([lambda: timings.timed("bare: GET", bare.get("/bare/CT-BLA-2026-0001"))] * rounds)
        await in_parallel(
            [lambda: timings.timed("check eligibility", api.post("/api/eligibility", json=body))] * rounds
        )

        def apply() -> Awaitable[httpx.Response]:
            headers = {"Idempotency-Key": uuid.uuid4().hex}
            return timings.timed("apply", api.post("/api/cases", json=body, headers=headers), expect=201)

        created = await in_parallel([apply] * cases)
        references = [response.json()["reference"] for response in created]
        reads = [
            (
                lambda reference=reference: timings.timed(
                    "read a case", api.get(f"/api/cases/{reference}", headers=SPOC)
                )
            )
            for reference in references * max(1, rounds // len(references))
        ]
        await in_parallel(reads)
        await in_parallel(
            [
                lambda: timings.timed(
                    "list (locality, first page)",
                    api.get("/api/cases", params={"locality": "blaby"}, headers=SPOC),
                )
            ]
            * rounds
        )

        def actions_of(reference: str) -> Callable[[], Awaitable[None]]:
            return lambda: staff_actions(api, timings, reference)

        await in_parallel([actions_of(reference) for reference in references])
    return {name: Latency.of(samples) for name, samples in timings.samples.items()}


async def measure_on(database_url: str | None, cases: int, repeats: int) -> dict[str, Latency]:
    """`measure` on a stack of its own: SQLite in a temporary folder, or the database at `database_url`."""
    with tempfile.TemporaryDirectory(prefix="ct-bench-api-") as name:
        folder = Path(name)
        async with service_stack(folder, database_url) as stack:
            environment = api_environment(stack)
            with (
                uvicorn("api.main:app", environment, folder / "api.log") as api_base,
                uvicorn("bench.bare:app", environment, folder / "bare.log") as bare_base,
            ):
                return await measure(api_base, bare_base, cases, repeats)


def report(verdicts: Verdicts, database: str, note: str, results: dict[str, Latency]) -> None:
    print(f"\n  {database} ({note})")
    print(f"  {'request':<32} {'p50':>8} {'p95':>8} {'p99':>8} {'n':>6}  p95 / bare p95")
    for name, latency in results.items():
        bare = results["bare: GET" if "read" in name or "list" in name else "bare: POST"]
        ratio = latency.p95 / bare.p95 if not name.startswith("bare") else 1.0
        print(f"  {name:<32} {latency} {latency.count:6d}  {ratio:5.1f}x")
    for name, reference in (("apply", "bare: POST"), ("read a case", "bare: GET")):
        ratio = results[name].p95 / results[reference].p95
        verdicts.add(
            "api",
            f"{name} p95 / bare p95 ({database})",
            f"{results[name].p95:.0f} ms {ratio:.1f}x",
            f"<= {TARGET_RATIO:.0f}x",
            ratio <= TARGET_RATIO,
        )


async def run(verdicts: Verdicts, *, cases: int, repeats: int, postgres: bool) -> None:
    heading(f"API latency over HTTP, {CLIENTS} concurrent clients (ms), beside a bare FastAPI endpoint")
    report(verdicts, "SQLite", "make run's default", await measure_on(None, cases, repeats))
    if not postgres:
        return
    folder_bin = postgres_bin()
    if folder_bin is None:
        print("\n  PostgreSQL: skipped (no initdb and pg_ctl found)")
        return
    with postgres_server(folder_bin, durable=True) as url:
        results = await measure_on(url, cases, repeats)
    report(verdicts, "PostgreSQL", "the API and the worker on it, as docker-compose.yml runs them", results)
