"""The servers a benchmark section runs on, started on spare ports and stopped after it: a real Temporal dev
server, the SMTP sink, `python worker.py` and the API under uvicorn as `make run` starts them (and the bare
reference app under the same uvicorn settings)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from bench.common import spare_port
from core.config import PROJECT_ROOT, Settings
from db.seed import seed_development_staff
from db.session import migrate
from devstack.mail_sink import MailSink
from tests import support
from tests.stack import WorkerProcess, start_dev_server


@dataclass
class Stack:
    env: WorkflowEnvironment
    settings: Settings
    worker: WorkerProcess
    folder: Path


@contextlib.asynccontextmanager
async def service_stack(folder: Path, database_url: str | None = None) -> AsyncIterator[Stack]:
    """A Temporal dev server, the SMTP sink, a migrated and seeded database and `python worker.py`.

    The database is a SQLite file in `folder` (`make run`'s default), or the one at `database_url` (an
    empty PostgreSQL database, say): the worker, and the API started with `api_environment`, use it.
    """
    env = await start_dev_server()
    sink = MailSink(folder / "mail", port=0)
    sink.start()
    worker: WorkerProcess | None = None
    try:
        settings = support.test_settings(folder, sink)
        if database_url is not None:
            settings = settings.model_copy(update={"database_url": database_url})
        migrate(settings.database_url)
        seed_development_staff(settings)
        worker = WorkerProcess(settings, env, folder / "worker.log", production_timings=True).start()
        worker.wait_polling(60)
        yield Stack(env, settings, worker, folder)
    finally:
        if worker is not None:
            worker.stop()
        sink.stop()
        await env.shutdown()


@contextlib.contextmanager
def uvicorn(app: str, environment: dict[str, str], log: Path) -> Iterator[str]:
    """`uvicorn <app> --host 127.0.0.1 --port <spare>` as `make run` starts the API; its base URL."""
    port = spare_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, no shell
            [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"{app} exited:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/openapi.json", timeout=2)
                break
            assert time.monotonic() < deadline, f"{app} did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def api_environment(stack: Stack) -> dict[str, str]:
    """The worker's environment (tests.stack.WorkerProcess), which the API reads the same way."""
    return {**stack.worker.env, "PATH": os.environ.get("PATH", "")}
