"""The worker as production builds it (`worker.build_worker`), in a process of its own, for the lifecycles of
bench.rates: `python worker.py` without its schedules, which the time-skipping server does not have.

    python -m bench.worker_process    # configured by the environment, as worker.py is; SIGTERM stops it
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from core.config import get_settings
from core.temporal import connect
from worker import MAX_CACHED_WORKFLOWS, build_worker


async def main() -> None:
    settings = get_settings()
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=16) as executor:  # as worker.run_worker's
        async with build_worker(settings, client, executor):
            print(
                f"worker polling task queue {settings.temporal_task_queue!r} (cache {MAX_CACHED_WORKFLOWS})"
            )
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
