"""The worker's resident memory (`python worker.py` on a real Temporal dev server) with open cases waiting on
their timers: each case applied for (stored and started as the API does, `api.case_start.start_case`), its
Letter 1 and information requests sent, then left waiting for the threshold decision. Target: < 1 GiB at
10,000 open cases; the workflow cache (`worker.MAX_CACHED_WORKFLOWS`) bounds what stays in memory."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from api.case_start import start_case
from bench.common import Verdicts, heading, resident_mib
from bench.servers import service_stack
from core.localities import load_policies
from db.models import InformationRequest, Letter
from db.session import session_factory
from domain.application import Application
from domain.calendar import london_date
from tests.support import application
from worker import MAX_CACHED_WORKFLOWS

TARGET_MIB = 1024.0
STARTING_AT_ONCE = 32


async def run(verdicts: Verdicts, *, sizes: list[int]) -> None:
    heading("Worker memory with open cases waiting on timers")
    print(f"  workflow cache: {MAX_CACHED_WORKFLOWS} cases")
    with tempfile.TemporaryDirectory(prefix="ct-bench-mem-") as name:
        async with service_stack(Path(name)) as stack:
            settings = stack.settings
            sessions = session_factory(settings.database_url)
            policies = load_policies(settings.localities_dir)
            today = london_date(dt.datetime.now(dt.UTC))
            body = Application.model_validate(application(today=today))
            gate = asyncio.Semaphore(STARTING_AT_ONCE)

            async def apply() -> None:
                async with gate:
                    await start_case(
                        body,
                        settings=settings,
                        sessions=sessions,
                        policies=policies,
                        today=today,
                        client=stack.env.client,
                        idempotency_key=uuid.uuid4().hex,
                    )

            print(f"  idle worker: {resident_mib(stack.worker.pid):7.0f} MiB")
            opened = 0
            for size in sorted(sizes):
                started = time.perf_counter()
                await asyncio.gather(*(apply() for _ in range(size - opened)))
                added, opened = size - opened, size
                # Until every case has sent its Letter 1 and its requests and waits on its deadlines.
                while True:
                    with sessions() as session:
                        letters = session.scalar(select(func.count()).select_from(Letter)) or 0
                        requests = session.scalar(select(func.count()).select_from(InformationRequest)) or 0
                    if letters >= size and requests >= 3 * size:
                        break
                    assert stack.worker.alive(), stack.worker.output()[-3000:]
                    await asyncio.sleep(1)
                took = time.perf_counter() - started
                await asyncio.sleep(3)
                rss = resident_mib(stack.worker.pid)
                rate = added / took
                print(f"  {size:>7,} open cases: {rss:7.0f} MiB resident (opened at {rate:5.1f} a second)")
                if size >= 10_000 or size == max(sizes):
                    verdicts.add(
                        "memory",
                        f"worker at {size:,} open cases",
                        f"{rss:.0f} MiB",
                        f"< {TARGET_MIB:.0f} MiB at 10,000",
                        rss < TARGET_MIB if size >= 10_000 else None,
                    )
