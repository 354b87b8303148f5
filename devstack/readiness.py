"""`make run` waits until each child answers (the API's health, the worker polling, Temporal's Web UI),
echoing the API's and the worker's log, and notices a child that dies on its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from types import FrameType

from devstack.processes import Child, log_tail
from devstack.stack import Stack, StartupError, say, stack_settings

ECHOED = ("api", "worker")  # whose log is also shown in the terminal once everything is up


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - our own http://127.0.0.1
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def worker_polling(stack: Stack) -> bool:
    """The task queue has a poller: the worker is connected and taking work."""
    settings = stack_settings(stack)

    async def pollers() -> int:
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
        from temporalio.client import Client

        client = await Client.connect(stack.temporal_address, namespace=settings.temporal_namespace)
        total = 0
        for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=settings.temporal_namespace,
                    task_queue=TaskQueue(name=settings.temporal_task_queue),
                    task_queue_type=kind,
                )
            )
            total += len(response.pollers)
        return total

    try:
        return asyncio.run(asyncio.wait_for(pollers(), timeout=5)) > 0
    except Exception:  # not yet: Temporal still starting, or no poller
        return False


def readiness_checks(stack: Stack) -> dict[str, Callable[[], bool]]:
    return {
        "temporal": lambda: port_open(stack.temporal_port) and http_ok(f"http://127.0.0.1:{stack.ui_port}/"),
        "mail_sink": lambda: port_open(stack.smtp_port),
        "worker": lambda: worker_polling(stack),
        # 200 only when the API reaches both the database and Temporal.
        "api": lambda: http_ok(f"http://127.0.0.1:{stack.api_port}/health"),
    }


class Signals:
    """SIGINT, SIGTERM and SIGHUP ask for a stop; a second one while stopping kills what is left."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.event = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.received = signum
        self.event.set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


def echo_log(child: Child, done: threading.Event, lock: threading.Lock) -> None:
    prefix = f"{child.name:<6} | "
    with open(child.log_path, "rb") as log:
        log.seek(0, os.SEEK_END)
        partial = b""
        while not done.is_set():
            chunk = log.readline()
            if not chunk:
                time.sleep(0.2)
                continue
            partial += chunk
            if partial.endswith(b"\n"):
                with lock:
                    sys.stdout.write(prefix + partial.decode(errors="replace"))
                    sys.stdout.flush()
                partial = b""


def wait_until_ready(stack: Stack, children: Sequence[Child], signals: Signals) -> float:
    started = time.monotonic()
    checks = readiness_checks(stack)
    pending = [child.name for child in children]
    say(f"waiting for {', '.join(pending)} (logs in {stack.log_dir})")
    while pending:
        for child in children:
            if child.process.poll() is not None:
                raise ChildDied(child)
        for name in list(pending):
            if name == "worker" and "temporal" in pending:
                continue  # nothing to ask until Temporal answers
            if checks[name]():
                pending.remove(name)
                say(f"{name} is ready ({time.monotonic() - started:.1f} s)")
        if not pending or signals.wait(0.3):
            break
        if time.monotonic() - started > stack.start_timeout:
            details = "\n".join(
                f"  {name} (last lines of {stack.log_dir / (name + '.log')}):\n"
                f"{log_tail(stack.log_dir / (name + '.log'), 15)}"
                for name in pending
            )
            raise StartupError(
                f"not ready after {stack.start_timeout:.0f} s: {', '.join(pending)}\n{details}\n"
                "Set DEVSTACK_START_TIMEOUT to wait longer."
            )
    return time.monotonic() - started


class ChildDied(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(child.name)
        self.child = child

    def describe(self) -> str:
        code = self.child.process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return (
            f"{self.child.name} {how}. Last lines of {self.child.log_path}:\n"
            f"{log_tail(self.child.log_path)}\n"
            "devstack: stopping the rest."
        )
