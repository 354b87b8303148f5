"""`make run`: the whole service on this machine, in one foreground command; Ctrl-C stops it all.

Over 500 lines on purpose: it is one small process supervisor (pid files, ports, children, readiness,
logs), read top to bottom, that nothing else imports; split, its steps would only call each other.

    python -m devstack.run

1. Creates `var/` (or `$VAR_DIR`), stops anything left running by an earlier run (from the pid files in
   `var/run/`, after checking each is one of ours), and checks the ports are free.
2. Migrates the SQLite database and seeds development staff (`db.seed`, when it exists).
3. Starts, as child processes logging to `var/log/<name>.log`: the Temporal dev server (state kept in
   `var/temporal.db`, custom search attributes registered), the SMTP sink, the worker and the API.
4. Waits until each answers, prints where everything is, then echoes the API's and the worker's log.
5. On SIGINT/SIGTERM stops the children (SIGTERM, then SIGKILL after a timeout) and exits 0. If a child
   dies on its own, says which, shows the end of its log, stops the rest and exits 1.

Environment: TEMPORAL_ADDRESS (port, default 7233), TEMPORAL_UI_PORT (8233), API_PORT (8000),
SMTP_PORT (1025), VAR_DIR (`var/` under the project), DEVSTACK_START_TIMEOUT (seconds, 90).
DATABASE_URL and MAIL_SINK_DIR default to inside the var directory. Every other setting comes from
core.config as usual; the children get ENVIRONMENT=development unless it is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from core.config import PROJECT_ROOT

if TYPE_CHECKING:
    from core.config import Settings

STOP_TIMEOUT = 15.0  # seconds a child gets to stop after SIGTERM before SIGKILL
ECHOED = ("api", "worker")  # whose log is also shown in the terminal once everything is up
MARKER = "DEVSTACK_VAR_DIR"  # in every child's environment: how a later run recognises our processes


def say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


class StartupError(Exception):
    """A reason not to start (or to give up starting), said to the developer as is."""


# -- configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    var_dir: Path
    temporal_address: str
    temporal_port: int
    ui_port: int
    api_port: int
    smtp_port: int
    start_timeout: float
    env: dict[str, str] = field(repr=False)

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def temporal_db(self) -> Path:
        return self.var_dir / "temporal.db"

    @property
    def keys_file(self) -> Path:
        return self.var_dir / "dev-api-keys.txt"

    def ports(self) -> list[tuple[int, str, str]]:
        return [
            (self.temporal_port, "TEMPORAL_ADDRESS", "Temporal (gRPC)"),
            (self.ui_port, "TEMPORAL_UI_PORT", "the Temporal Web UI"),
            (self.api_port, "API_PORT", "the API"),
            (self.smtp_port, "SMTP_PORT", "the SMTP sink"),
        ]


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StartupError(f"{name}={value!r} is not a port number (1-65535)")
    return int(value)


def stack_from(environ: Mapping[str, str]) -> Stack:
    """Ports, places and the children's environment, from `environ` (normally os.environ)."""
    var_dir = Path(environ.get("VAR_DIR") or PROJECT_ROOT / "var").expanduser().resolve()
    temporal_address = environ.get("TEMPORAL_ADDRESS", "").strip() or "127.0.0.1:7233"
    host, _, port_text = temporal_address.rpartition(":")
    if not host or not port_text.isdigit():
        raise StartupError(f"TEMPORAL_ADDRESS={temporal_address!r} is not host:port, e.g. 127.0.0.1:7233")
    temporal_port = _port({"TEMPORAL_ADDRESS": port_text}, "TEMPORAL_ADDRESS", 7233)
    try:
        start_timeout = float(environ.get("DEVSTACK_START_TIMEOUT") or 90)
    except ValueError:
        raise StartupError("DEVSTACK_START_TIMEOUT must be a number of seconds") from None
    stack = Stack(
        var_dir=var_dir,
        temporal_address=temporal_address,
        temporal_port=temporal_port,
        ui_port=_port(environ, "TEMPORAL_UI_PORT", 8233),
        api_port=_port(environ, "API_PORT", 8000),
        smtp_port=_port(environ, "SMTP_PORT", 1025),
        start_timeout=start_timeout,
        env={},
    )
    env = dict(environ)
    env.setdefault("ENVIRONMENT", "development")
    env.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'community_trigger.db'}")
    env.setdefault("MAIL_SINK_DIR", str(var_dir / "mail"))
    env.update(
        {
            "TEMPORAL_ADDRESS": temporal_address,
            "SMTP_HOST": "127.0.0.1",  # the sink: mail never leaves this machine
            "SMTP_PORT": str(stack.smtp_port),
            "PYTHONUNBUFFERED": "1",
            MARKER: str(var_dir),
        }
    )
    env.setdefault("PUBLIC_BASE_URL", f"http://localhost:{stack.api_port}")
    # The Web UI calls the API's codec endpoint from the browser.
    env.setdefault(
        "CODEC_ALLOWED_ORIGINS", f"http://localhost:{stack.ui_port},http://127.0.0.1:{stack.ui_port}"
    )
    for name in ("SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_USE_TLS"):
        env.pop(name, None)
    stack.env.update(env)
    return stack


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]
    signature: tuple[str, ...]  # all appear in the command line of the process we started


def child_specs(stack: Stack) -> list[ChildSpec]:
    from core.temporal import SEARCH_ATTRIBUTES

    python = sys.executable
    temporal = str(Path(sys.executable).parent / "temporal")
    search_attributes = [f"--search-attribute={name}={kind}" for name, kind in SEARCH_ATTRIBUTES.items()]
    return [
        ChildSpec(
            "temporal",
            [
                temporal,
                "server",
                "start-dev",
                "--db-filename",
                str(stack.temporal_db),
                "--ip",
                "127.0.0.1",
                "--port",
                str(stack.temporal_port),
                "--ui-port",
                str(stack.ui_port),
                "--ui-disable-news-fetch",  # nothing is fetched from the internet
                # Payloads are encrypted (core/codec.py): the Web UI decodes them through the API.
                "--ui-codec-endpoint",
                f"http://localhost:{stack.api_port}/codec",
                *search_attributes,
                "--log-level",
                "warn",
            ],
            ("start-dev", str(stack.temporal_db)),
        ),
        ChildSpec("mail_sink", [python, "-m", "devstack.mail_sink"], ("devstack.mail_sink",)),
        ChildSpec("worker", [python, "worker.py"], ("worker.py",)),
        ChildSpec(
            "api",
            [python, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(stack.api_port)],
            ("uvicorn", "api.main:app"),
        ),
    ]


# -- processes ----------------------------------------------------------------------------------------


def _proc_text(pid: int, what: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/{what}").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = _proc_text(pid, "stat")
    return not (status and ") Z " in status[0])  # a zombie has finished


def _is_ours(pid: int, signature: Sequence[str], var_dir: Path) -> bool:
    """The process runs one of our commands, started by a devstack run on this var directory."""
    cmdline = " ".join(_proc_text(pid, "cmdline"))
    if not cmdline or not all(part in cmdline for part in signature):
        return False
    return f"{MARKER}={var_dir}" in _proc_text(pid, "environ")


def _pid_files(stack: Stack) -> Iterator[tuple[str, Path, int | None]]:
    for path in sorted(stack.run_dir.glob("*.pid")):
        try:
            pid: int | None = int(path.read_text().strip())
        except (OSError, ValueError):
            pid = None
        yield path.stem, path, pid


def _terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def clean_leftovers(stack: Stack, specs: Sequence[ChildSpec]) -> None:
    """Refuse if another run on this var directory is live; stop what an earlier run left behind."""
    signatures = {spec.name: spec.signature for spec in specs}
    for name, path, pid in _pid_files(stack):
        if pid is None or pid == os.getpid():
            path.unlink(missing_ok=True)
            continue
        if name == "devstack":
            if _alive(pid) and "devstack.run" in " ".join(_proc_text(pid, "cmdline")):
                raise StartupError(
                    f"the stack is already running from {stack.var_dir} (pid {pid}). Stop it with Ctrl-C in "
                    f"its terminal (or `kill {pid}`), or start a second one with another VAR_DIR and ports."
                )
        elif name in signatures and _alive(pid) and _is_ours(pid, signatures[name], stack.var_dir):
            say(f"stopping {name} (pid {pid}), left running by an earlier run")
            _terminate(pid)
        path.unlink(missing_ok=True)


def _listening_pids(port: int) -> list[int]:
    """Best effort (Linux /proc): the processes with a socket listening on `port`."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    pids = []
    if inodes:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    pids.append(int(proc.name))
    return pids


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports_free(stack: Stack) -> None:
    problems = []
    for port, variable, what in stack.ports():
        if not port_in_use(port):
            continue
        holders = [
            f"pid {pid} ({' '.join(_proc_text(pid, 'cmdline')).strip()[:80]})"
            for pid in _listening_pids(port)
        ]
        held_by = f" by {', '.join(holders)}" if holders else ""
        example = f"127.0.0.1:{port + 1}" if variable == "TEMPORAL_ADDRESS" else str(port + 1)
        problems.append(
            f"port {port} (for {what}) is already in use{held_by}. Stop that program, or choose another "
            f"port: {variable}={example} make run"
        )
    if problems:
        raise StartupError("\n  ".join(["cannot start:", *problems]))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: if this supervisor is killed outright, the children get SIGTERM instead of living on.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def name(self) -> str:
        return self.spec.name


def start_child(stack: Stack, spec: ChildSpec) -> Child:
    log_path = stack.log_dir / f"{spec.name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            spec.argv,
            cwd=PROJECT_ROOT,
            env=stack.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C reaches only this supervisor, which stops the children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    (stack.run_dir / f"{spec.name}.pid").write_text(f"{process.pid}\n")
    return Child(spec, process, log_path)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_bytes()[-20000:].decode(errors="replace")
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:]) or "    (the log is empty)"


def stop_children(children: Sequence[Child]) -> None:
    """API and worker first, then the sink and Temporal: SIGTERM, wait, SIGKILL what is left."""
    for group in (("api", "worker"), ("mail_sink", "temporal")):
        running = [c for c in children if c.name in group and c.process.poll() is None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                say(f"{child.name} did not stop in time; killing it")
                child.process.kill()
                child.process.wait()


# -- readiness ----------------------------------------------------------------------------------------


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


def stack_settings(stack: Stack) -> Settings:
    """The settings the children get: their environment is stack.env (and, like theirs, `.env`)."""
    from core.config import Settings

    values: dict[str, Any] = {
        name: stack.env[name.upper()] for name in Settings.model_fields if name.upper() in stack.env
    }
    return Settings(**values)


def readiness_checks(stack: Stack) -> dict[str, Callable[[], bool]]:
    return {
        "temporal": lambda: port_open(stack.temporal_port) and http_ok(f"http://127.0.0.1:{stack.ui_port}/"),
        "mail_sink": lambda: port_open(stack.smtp_port),
        "worker": lambda: worker_polling(stack),
        # 200 only when the API reaches both the database and Temporal.
        "api": lambda: http_ok(f"http://127.0.0.1:{stack.api_port}/health"),
    }


# -- the run ------------------------------------------------------------------------------------------


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


def migrate_and_seed(stack: Stack) -> list[tuple[str, str, str]]:
    from pydantic import ValidationError

    from db.session import migrate

    try:
        settings = stack_settings(stack)
    except ValidationError as error:
        problems = "; ".join(str(problem["msg"]) for problem in error.errors())
        raise StartupError(f"the settings are not valid: {problems}") from None
    migrate(settings.database_url)
    if not settings.is_development:
        return []  # development staff exist only in development
    try:
        from db.seed import seed_development_staff
    except ImportError as error:
        if error.name != "db.seed":
            raise
        return []
    rows = seed_development_staff(settings) or []
    return [(str(name), str(locality), str(key)) for name, locality, key in rows]


def keys_table(rows: Sequence[tuple[str, str, str]]) -> str:
    header = ("Name", "Locality", "API key")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def banner(stack: Stack, keys: bool) -> str:
    from sqlalchemy.engine import make_url

    database = make_url(stack.env["DATABASE_URL"])
    where = database.database if database.get_backend_name() == "sqlite" else None
    api = f"http://localhost:{stack.api_port}"
    lines = [
        "",
        "Community Trigger is running. Ctrl-C stops everything.",
        "",
        f"  API               {api}",
        f"  API docs          {api}/docs",
        f"  Health            {api}/health",
        f"  Sent mail         {api}/dev/mail",
        f"  Temporal Web UI   http://localhost:{stack.ui_port}",
        f"  Temporal          {stack.temporal_address} (state in {stack.temporal_db})",
        f"  SMTP sink         localhost:{stack.smtp_port} (messages in {stack.env['MAIL_SINK_DIR']})",
        f"  Database          {where or _safe_url(stack.env['DATABASE_URL'])}",
        f"  Logs              {stack.log_dir}/<temporal|mail_sink|worker|api>.log",
        "  Dev API keys      " + (f"the table above, also in {stack.keys_file}" if keys else "none seeded"),
        "",
    ]
    return "\n".join(lines)


def _echo(child: Child, done: threading.Event, lock: threading.Lock) -> None:
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


def run(environ: Mapping[str, str]) -> int:
    signals = Signals()
    try:
        stack = stack_from(environ)
        specs = child_specs(stack)
        for directory in (stack.var_dir, stack.run_dir, stack.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        clean_leftovers(stack, specs)
        check_ports_free(stack)
    except StartupError as error:
        say(str(error))
        return 1
    supervisor_pid = stack.run_dir / "devstack.pid"
    supervisor_pid.write_text(f"{os.getpid()}\n")
    children: list[Child] = []
    done = threading.Event()
    status = 0
    took = 0.0
    try:
        rows = migrate_and_seed(stack)
        say(f"database migrated: {_safe_url(stack.env['DATABASE_URL'])}")
        if rows:
            table = "Development SPOC API keys\n" + keys_table(rows) + "\n"
            print("\n" + table, flush=True)
            stack.keys_file.touch(mode=0o600)
            stack.keys_file.write_text(table)
        if not signals.event.is_set():
            for spec in specs:
                children.append(start_child(stack, spec))
            took = wait_until_ready(stack, children, signals)
        if not signals.event.is_set():
            print(banner(stack, keys=bool(rows)), flush=True)
            say(f"up in {took:.0f} s; the API's and the worker's log follow")
            lock = threading.Lock()
            for child in children:
                if child.name in ECHOED:
                    threading.Thread(target=_echo, args=(child, done, lock), daemon=True).start()
        while not signals.wait(0.5):
            for child in children:
                if child.process.poll() is not None:
                    raise ChildDied(child)
    except ChildDied as died:
        say(died.describe())
        status = 1
    except StartupError as error:
        say(str(error))
        status = 1
    except KeyboardInterrupt:  # a second signal before the children were up
        pass
    finally:
        done.set()
        if signals.received is not None:
            say(f"{signal.Signals(signals.received).name} received; stopping")
        try:
            stop_children(children)
        except KeyboardInterrupt:
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
        for child in children:
            (stack.run_dir / f"{child.name}.pid").unlink(missing_ok=True)
        supervisor_pid.unlink(missing_ok=True)
    say("stopped" if status == 0 else "stopped after a failure")
    return status


def main() -> None:
    sys.exit(run(os.environ))


if __name__ == "__main__":
    main()
