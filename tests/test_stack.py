"""`make run` (python -m devstack.run) brings the whole stack up, stops it cleanly, and starts again.

Runs a second stack beside any developer's one: its own VAR_DIR (a temporary directory) and free ports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from core.config import PROJECT_ROOT, Settings
from workflows.calendar_check import CALENDAR_CHECK_SCHEDULE_ID

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
TEMPORAL = Path(sys.executable).parent / "temporal"

pytestmark = pytest.mark.skipif(not TEMPORAL.exists(), reason=f"no Temporal CLI at {TEMPORAL}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return ") Z " not in stat  # a zombie has finished


class Stack:
    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.temporal_port, self.ui_port, self.api_port, self.smtp_port = (free_port() for _ in range(4))
        self.task_queue = Settings().temporal_task_queue
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "MAIL_SINK_DIR", "ENVIRONMENT", "PUBLIC_BASE_URL"}
        }
        self.env.update(
            {
                "VAR_DIR": str(var_dir),
                "ENVIRONMENT": "development",
                "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
                "TEMPORAL_UI_PORT": str(self.ui_port),
                "API_PORT": str(self.api_port),
                "SMTP_PORT": str(self.smtp_port),
                "DEVSTACK_START_TIMEOUT": str(START_TIMEOUT),
            }
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.output = var_dir.parent / "devstack-output.log"

    @property
    def ports(self) -> list[int]:
        return [self.temporal_port, self.ui_port, self.api_port, self.smtp_port]

    def start(self) -> None:
        with open(self.output, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.run"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # SIGINT goes to the stack only, as a terminal's Ctrl-C would
            )

    def child_pids(self) -> dict[str, int]:
        pids = {}
        for path in (self.var_dir / "run").glob("*.pid"):
            pids[path.stem] = int(path.read_text().strip())
        return pids

    def say(self) -> str:
        text = self.output.read_text(errors="replace") if self.output.exists() else "(no output)"
        logs = []
        for log in sorted((self.var_dir / "log").glob("*.log")):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            logs.append(f"--- {log.name} (end) ---\n{tail}")
        return f"--- devstack output ---\n{text[-6000:]}\n" + "\n".join(logs)

    def wait_for(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"devstack exited ({self.process.returncode}) waiting for {what}\n{self.say()}")
            try:
                if check():
                    return
            except Exception:  # not up yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n{self.say()}")
            time.sleep(0.5)

    def stop(self) -> int:
        """SIGINT, as Ctrl-C; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"devstack did not stop within {STOP_TIMEOUT:.0f} s of SIGINT\n{self.say()}")

    def kill_everything(self) -> None:
        """After a failure: leave no process behind."""
        pids = self.child_pids()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "var")
    try:
        yield stack
    finally:
        stack.kill_everything()


def health_ok(stack: Stack) -> bool:
    response = httpx.get(f"http://127.0.0.1:{stack.api_port}/health", timeout=3)
    return response.status_code == 200 and response.json()["checks"] == {"database": "ok", "temporal": "ok"}


def web_ui_ok(stack: Stack) -> bool:
    return httpx.get(f"http://127.0.0.1:{stack.ui_port}/", timeout=3).status_code == 200


def worker_polling(stack: Stack) -> bool:
    async def pollers() -> int:
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=stack.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return len(response.pollers)

    # In a thread of its own: asyncio.run here must not disturb pytest-asyncio's event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(pollers(), timeout=10)).result() > 0


def calendar_check_scheduled(stack: Stack) -> bool:
    """The worker created the weekly bank-holiday check's schedule (shown in the Web UI's Schedules)."""

    async def described() -> bool:
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
        description = await client.get_schedule_handle(CALENDAR_CHECK_SCHEDULE_ID).describe()
        return description.schedule.spec.time_zone_name == "Europe/London"

    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(asyncio.run, asyncio.wait_for(described(), timeout=10)).result()
        except RPCError:
            return False


def send_mail(stack: Stack, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "community.trigger@test.invalid"
    message["To"] = "applicant@test.invalid"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@test.invalid>"
    message.set_content("The stack's mail sink keeps this.")
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def mail_listed(stack: Stack, subject: str) -> bool:
    response = httpx.get(f"http://127.0.0.1:{stack.api_port}/dev/mail", timeout=3)
    return response.status_code == 200 and subject in response.text


def assert_up(stack: Stack) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    stack.wait_for("API /health with database and Temporal ok", lambda: health_ok(stack), deadline)
    stack.wait_for("the Temporal Web UI", lambda: web_ui_ok(stack), deadline)
    stack.wait_for(f"a worker polling {stack.task_queue!r}", lambda: worker_polling(stack), deadline)
    stack.wait_for("the bank-holiday check's schedule", lambda: calendar_check_scheduled(stack), deadline)


def assert_stops_cleanly(stack: Stack) -> None:
    pids = stack.child_pids()
    assert {"temporal", "mail_sink", "worker", "api"} <= set(pids), pids
    assert stack.stop() == 0, stack.say()
    left = {name: pid for name, pid in pids.items() if alive(pid)}
    assert not left, f"still running after the stack stopped: {left}\n{stack.say()}"
    busy = [port for port in stack.ports if not port_free(port)]
    assert not busy, f"ports still in use after the stack stopped: {busy}\n{stack.say()}"


def test_make_run_stack_comes_up_stops_and_starts_again(stack: Stack) -> None:
    stack.start()
    assert_up(stack)

    subject = f"Stack test {uuid.uuid4()}"
    send_mail(stack, subject)
    listed = time.monotonic() + 15
    stack.wait_for("the sent message at /dev/mail", lambda: mail_listed(stack, subject), listed)
    assert list((stack.var_dir / "mail").glob("*.eml")), "the sink keeps messages under VAR_DIR"
    assert (stack.var_dir / "community_trigger.db").exists(), "the database lives under VAR_DIR"

    assert_stops_cleanly(stack)

    # Again on the same VAR_DIR and ports: the persisted Temporal state and old pid files are no obstacle.
    assert (stack.var_dir / "temporal.db").exists()
    stack.start()
    assert_up(stack)
    assert mail_listed(stack, subject), "mail kept by the first run is still listed"
    assert_stops_cleanly(stack)
