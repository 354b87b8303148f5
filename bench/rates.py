"""Cases a second on the time-skipping server: the engine's own rate for a case-shaped workflow with empty
activities (bench.case_shaped), and the rate of full case lifecycles driven through the API (application,
threshold met, review meeting, impact statement, panel decision, appeal window closed) with the worker as
production builds it in a process of its own (bench.worker_process). Target: lifecycles at 0.5x the
engine's rate or better."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.case_shaped import CaseShapedWorkflow, Shape, nothing
from bench.common import Verdicts, heading
from core.config import PROJECT_ROOT
from db.models import Case
from devstack.mail_sink import MailSink
from domain.calendar import is_working_day
from tests import support
from tests.stack import WorkerProcess, own_stack
from workflows.case import WORKFLOW_RUNNER

TARGET_RATIO = 0.5
# How often a lifecycle reads its case while it waits for the workflow: at first soon, then less and less
# often. At a steady 0.25 s, 40 cases' polling (each read a full case with its audit row) took more CPU than
# the worker did, and the figure measured the driver more than the service.
POLL_FIRST_SECONDS = 0.25
POLL_LONGEST_SECONDS = 2.0
READS = {"count": 0}
MEETING = {
    "location": "Council Offices, Narborough",
    "attendees": [{"name": "Sam Officer", "organisation": "Leicestershire Police"}],
}
PANEL = {"findings": "Agencies did not share information.", "recommendations": []}


class BenchWorker(WorkerProcess):
    """`python -m bench.worker_process` (the production worker, no schedules) in place of worker.py."""

    def start(self) -> BenchWorker:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.worker_process"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return self


async def time_skipping_server() -> WorkflowEnvironment:
    path = support.venv_tool("temporal-test-server")
    assert path, "temporal-test-server not found: `make install` installs it"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=support.DATA_CONVERTER
    )
    await support.register_search_attributes(env.client)
    return env


async def engine_rate(env: WorkflowEnvironment, count: int) -> tuple[float, Shape]:
    """Case-shaped workflows a second, `count` at once, each driven as the lifecycles are."""
    shape = Shape.of_recorded_case()
    queue = f"bench-engine-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[CaseShapedWorkflow],
        activities=[nothing],
        workflow_runner=WORKFLOW_RUNNER,
    ):

        async def one(number: int) -> WorkflowHandle[Any, Any]:
            handle = await env.client.start_workflow(
                CaseShapedWorkflow.run, shape, id=f"bench-engine-{queue}-{number}", task_queue=queue
            )
            for _ in range(shape.updates):
                await handle.execute_update(CaseShapedWorkflow.act)
            return handle

        started = time.perf_counter()
        handles = await asyncio.gather(*(one(number) for number in range(count)))
        # The appeal windows pass: skip time a day at a time, as for the lifecycles (the test server's
        # time-skipping locks do not stand many concurrent `result()` calls).
        for _ in range(60):
            statuses = await asyncio.gather(*(handle.describe() for handle in handles))
            if all(status.status == WorkflowExecutionStatus.COMPLETED for status in statuses):
                break
            await env.sleep(dt.timedelta(days=1))
        else:
            raise RuntimeError("the case-shaped workflows did not complete")
        took = time.perf_counter() - started
    return count / took, shape


async def _until(service: support.CaseService, reference: str, check: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    pause = POLL_FIRST_SECONDS
    while True:
        response = await service.api.get(f"/api/cases/{reference}", headers=service.spoc())
        READS["count"] += 1
        case: dict[str, Any] = response.json()
        if check(case):
            return case
        if time.monotonic() > deadline:
            raise RuntimeError(f"{reference} stuck at {case.get('stage')}")
        await asyncio.sleep(pause)
        pause = min(POLL_LONGEST_SECONDS, pause * 1.5)


async def _answer(service: support.CaseService, reference: str, purpose: str) -> None:
    # The workflow has heard the requests' keys back once the chronology says they went.
    case = await _until(
        service, reference, lambda c: any(f"agencies ({purpose})" in e["event"] for e in c["chronology"])
    )
    for request in case["information_requests"]:
        if request["purpose"] == purpose and request["state"] in ("requested", "no_contact"):
            answer = {
                "request_key": request["request_key"],
                "records_found": "Reports on file match the application.",
                "supports_threshold": True,
                "received_by": "phone",
            }
            response = await service.act(reference, "agency-responses", answer)
            assert response.status_code == 200, response.text


async def one_lifecycle(service: support.CaseService, today: dt.date) -> str:
    """A case from application to the panel's decision; its appeal window closes when time is skipped."""
    response = await service.apply(support.application(today=today), key=uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    await _answer(service, reference, "threshold")
    decided = await service.act(reference, "threshold-decision", {"outcome": "met", "reasons": "Checked."})
    assert decided.status_code == 200, decided.text
    await _until(
        service,
        reference,
        lambda c: c["stage"] == "review" and any("agencies (review)" in e["event"] for e in c["chronology"]),
    )
    held_at = (await service.now() - dt.timedelta(hours=1)).isoformat()
    assert (
        await service.act(reference, "review-meeting", {**MEETING, "meeting_at": held_at})
    ).status_code == 200
    assert (await service.act(reference, "impact-statement", {"method": "in_person"})).status_code == 200
    await _answer(service, reference, "review")
    assert (await service.act(reference, "panel-decision", PANEL)).status_code == 200
    await _until(service, reference, lambda c: c["deadlines"]["appeal_by"] is not None)
    return reference


async def lifecycle_rate(env: WorkflowEnvironment, count: int, folder: Path) -> float:
    """Full lifecycles a second, `count` at once, through the API (in process) and the production worker."""
    sink = MailSink(folder / "mail", port=0)
    sink.start()
    try:
        async with own_stack(env, sink, folder, in_process_worker=False) as service:
            # `python worker.py`, as production runs it: a process of its own beside the API's.
            worker = BenchWorker(service.settings, env, folder / "worker.log").start()
            try:
                worker.wait_polling(60)
                today = await service.today() + dt.timedelta(days=1)
                while not is_working_day(today, "england-and-wales"):
                    today += dt.timedelta(days=1)
                await service.travel_to(today)
                READS["count"] = 0
                started = time.perf_counter()
                references = await asyncio.gather(*(one_lifecycle(service, today) for _ in range(count)))
                # Every appeal window closes: skip time a day at a time until every case has.
                for _ in range(60):
                    with service.sessions() as session:
                        open_cases = session.scalar(
                            select(func.count())
                            .select_from(Case)
                            .where(Case.reference.in_(references), Case.stage != "closed")
                        )
                    if not open_cases:
                        break
                    await env.sleep(dt.timedelta(days=1))
                else:
                    raise RuntimeError(f"{open_cases} cases did not close")
                return count / (time.perf_counter() - started)
            finally:
                worker.stop()
    finally:
        sink.stop()


async def run(verdicts: Verdicts, *, engine_count: int, lifecycle_count: int) -> None:
    heading("Cases a second on the time-skipping server (application to appeal window closed)")
    env = await time_skipping_server()
    try:
        engine, shape = await engine_rate(env, engine_count)
        activities = shape.activities_at_start + shape.updates * shape.activities_per_update
        print(
            f"  engine: case-shaped workflow ({activities} empty activities, {shape.updates} updates), "
            f"{engine_count} at once: {engine:6.1f} a second"
        )
        with tempfile.TemporaryDirectory(prefix="ct-bench-life-") as folder:
            lifecycles = await lifecycle_rate(env, lifecycle_count, Path(folder))
        print(
            f"  full case lifecycles through the API, {lifecycle_count} at once: {lifecycles:6.1f} a second "
            f"(the driver read a case {READS['count']} times while waiting)"
        )
    finally:
        await env.shutdown()
    ratio = lifecycles / engine
    verdicts.add(
        "rates",
        "lifecycles / engine",
        f"{lifecycles:.1f}/s {ratio:.2f}x",
        f">= {TARGET_RATIO}x",
        ratio >= TARGET_RATIO,
    )
