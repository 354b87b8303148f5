"""The Temporal worker: runs case workflows, the weekly bank-holiday check, the yearly figures' email, the
outbox sweep, and their activities.

Start it with `python worker.py`. On SIGTERM or Ctrl-C it stops taking new work and lets the activities
already running (an SMTP send, say) finish for up to `WORKER_SHUTDOWN_SECONDS` before cancelling them;
a cancelled or killed activity is retried by another worker, and the outbox keeps it from sending twice.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities import build_activities
from core.config import Settings, get_settings
from core.localities import policies_from
from core.telemetry import runtime_for
from core.temporal import connect, describe
from db.seed import refuse_development_access_in_production
from db.session import migrate
from workflows.appeal import AppealWorkflow
from workflows.calendar_check import CalendarCheckWorkflow, ensure_calendar_check_schedule
from workflows.case import WORKFLOW_RUNNER, CaseWorkflow
from workflows.outbox_sweep import OutboxSweepWorkflow, ensure_outbox_sweep_schedule
from workflows.yearly_figures import YearlyFiguresWorkflow, ensure_yearly_figures_schedule

log = logging.getLogger("worker")

WORKFLOWS = [CaseWorkflow, AppealWorkflow, CalendarCheckWorkflow, YearlyFiguresWorkflow, OutboxSweepWorkflow]
# Cases kept in memory between their tasks: about 0.6 MiB each (`make bench`: 787 MiB resident with 1,000
# cached), so 500 keep the worker near 500 MiB however many cases are open. A case waits days between its
# tasks; one evicted is replayed from its history at its next task (a tenth of a second or so).
MAX_CACHED_WORKFLOWS = 500


def deployment_for(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Deployment Versioning, when `WORKER_BUILD_ID` (the git commit) is set: each release is a
    version of the `WORKER_DEPLOYMENT_NAME` deployment, and cases move to the current version at their
    next workflow task (auto-upgrade: they run for months, and patches keep them replaying)."""
    if not settings.worker_build_id:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.worker_deployment_name, build_id=settings.worker_build_id
        ),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


def build_worker(settings: Settings, client: Client, executor: ThreadPoolExecutor) -> Worker:
    """The worker as production runs it."""
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        activities=build_activities(settings, policies_from(settings.localities_dir)),
        activity_executor=executor,
        max_cached_workflows=MAX_CACHED_WORKFLOWS,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_seconds),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_timeout_seconds),
        deployment_config=deployment_for(settings),
    )


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Connect (retrying while Temporal is down, saying so in the log) and poll until `stop` is set."""
    # Made once: it binds the metrics port (WORKER_METRICS_ADDRESS) when there is one.
    runtime = runtime_for(settings)
    delay = 0.5
    while not stop.is_set():
        try:
            client = await connect(settings, runtime=runtime)
        except Exception as error:
            log.warning(
                "Temporal at %s not reachable (%s); retrying in %.0fs",
                describe(settings),
                type(error).__name__,
                delay,
            )
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 10.0)
            continue
        if await ensure_calendar_check_schedule(client, settings.temporal_task_queue):
            log.info("created the weekly bank-holiday check schedule")
        if await ensure_yearly_figures_schedule(client, settings.temporal_task_queue):
            log.info("created the yearly figures schedule")
        if await ensure_outbox_sweep_schedule(client, settings.temporal_task_queue):
            log.info("created the outbox sweep schedule (every 5 minutes)")
        # Database activities are synchronous (SQLAlchemy) and run on this pool.
        with ThreadPoolExecutor(max_workers=16) as executor:
            worker = build_worker(settings, client, executor)
            log.info("worker polling task queue %r at %s", settings.temporal_task_queue, describe(settings))
            async with worker:
                await stop.wait()
                log.info(
                    "worker stopping: running activities have up to %.0f s to finish",
                    settings.worker_shutdown_seconds,
                )
        return


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    migrate(settings.database_url)
    # Development staff (published API keys) must not survive into production: refuse to start.
    refuse_development_access_in_production(settings)
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
