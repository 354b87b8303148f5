"""A PostgreSQL server of the benchmark's own, in a temporary folder (as tests/test_postgres.py starts one),
when PostgreSQL's binaries are installed."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg


def postgres_bin() -> Path | None:
    candidates = [Path(found).parent] if (found := shutil.which("initdb")) else []
    candidates += [Path(path) for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return folder
    return None


@contextlib.contextmanager
def postgres_server(folder: Path, *, durable: bool = False) -> Iterator[str]:
    """A throwaway server in a temporary folder (as the `postgres` user when run as root); its URL. Not
    `durable`, it skips flushing to disk (fsync off), which loads the dashboard's 100,000 cases quickly;
    `durable`, it flushes each commit as production does (and as SQLite does), for timing writes."""
    base = Path(tempfile.mkdtemp(prefix="ct-bench-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = base / "data"
    subprocess.run(  # noqa: S603 - PostgreSQL's own binaries, no shell
        [
            str(folder / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        cwd=base,
        **run_as,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1" + ("" if durable else " -c fsync=off")
    subprocess.run(  # noqa: S603 - PostgreSQL's own binaries, no shell
        [str(folder / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
        cwd=base,
        **run_as,
    )
    try:
        database = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        subprocess.run(  # noqa: S603
            [str(folder / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            cwd=base,
            **run_as,
        )
        shutil.rmtree(base, ignore_errors=True)
