"""The Temporal worker: runs case workflows and their activities. Start it with `python worker.py`."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from activities import build_activities
from core.config import Settings, get_settings
from core.localities import policies_from
from core.temporal import connect
from db.session import migrate
from workflows.case import WORKFLOW_RUNNER, CaseWorkflow

log = logging.getLogger("worker")


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Connect (retrying while Temporal is down, saying so in the log) and poll until `stop` is set."""
    policies = policies_from(settings.localities_dir)
    delay = 0.5
    while not stop.is_set():
        try:
            client = await connect(settings)
        except Exception as error:
            log.warning(
                "Temporal at %s not reachable (%s); retrying in %.0fs",
                settings.temporal_address,
                type(error).__name__,
                delay,
            )
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 10.0)
            continue
        # Database activities are synchronous (SQLAlchemy) and run on this pool.
        with ThreadPoolExecutor(max_workers=16) as executor:
            worker = Worker(
                client,
                task_queue=settings.temporal_task_queue,
                workflows=[CaseWorkflow],
                workflow_runner=WORKFLOW_RUNNER,
                activities=build_activities(settings, policies),
                activity_executor=executor,
            )
            log.info(
                "worker polling task queue %r at %s", settings.temporal_task_queue, settings.temporal_address
            )
            async with worker:
                await stop.wait()
        return


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    migrate(settings.database_url)
    stop = asyncio.Event()

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop)
        log.info("worker stopped")

    asyncio.run(_main())


if __name__ == "__main__":
    main()
