"""`make run`'s children as processes: start them with their logs and pid files, recognise the ones an
earlier run left behind, check the ports, and stop them (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.config import PROJECT_ROOT
from devstack.stack import MARKER, ChildSpec, Stack, StartupError, say

STOP_TIMEOUT = 15.0  # seconds a child gets to stop after SIGTERM before SIGKILL


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
