"""`make run`: the whole service on this machine, in one foreground command; Ctrl-C stops it all.

The steps live beside it: `stack` (ports, directories, environment), `processes` (children, pid
files, ports) and `readiness` (waiting until each answers, echoing logs).

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

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from devstack.processes import Child, check_ports_free, clean_leftovers, start_child, stop_children
from devstack.readiness import ECHOED, ChildDied, Signals, echo_log, wait_until_ready
from devstack.stack import Stack, StartupError, child_specs, say, stack_from, stack_settings


def migrate_and_seed(stack: Stack) -> list[tuple[str, str, str, str]]:
    """Migrate, and in development seed the development staff: (name, email, localities, API key) each."""
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
    return [(str(row.name), str(row.email), str(row.where), str(row.api_key)) for row in rows]


def keys_table(rows: Sequence[tuple[str, ...]]) -> str:
    header = ("Name", "Email", "Localities", "API key")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, tuple("-" * w for w in widths), *rows]
    return "\n".join(
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def staff_table(rows: Sequence[tuple[str, ...]]) -> str:
    """What `make run` prints about the development staff (and keeps in var/dev-api-keys.txt)."""
    from api.staff.passwords import DEVELOPMENT_PASSWORD

    return (
        "Development staff (development only)\n"
        + keys_table(rows)
        + f"\n\n  Sign in at /staff/sign-in with an email above and the password {DEVELOPMENT_PASSWORD}"
        + "\n  (all of them); the security code then asked for is in Sent mail (/dev/mail).\n"
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
        f"  Staff pages       {api}/staff/sign-in",
        "  Dev staff         "
        + (f"the table above (password, API keys), also in {stack.keys_file}" if keys else "none seeded"),
        "",
    ]
    return "\n".join(lines)


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
            table = staff_table(rows)
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
                    threading.Thread(target=echo_log, args=(child, done, lock), daemon=True).start()
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
