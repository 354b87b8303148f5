"""`make run`'s stack: where everything runs (ports, the var directory, the children's environment and
settings) and which children it starts. Pure configuration: nothing here starts or stops a process."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import PROJECT_ROOT

if TYPE_CHECKING:
    from core.config import Settings


def say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


class StartupError(Exception):
    """A reason not to start (or to give up starting), said to the developer as is."""


MARKER = "DEVSTACK_VAR_DIR"  # in every child's environment: how a later run recognises our processes


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


def stack_settings(stack: Stack) -> Settings:
    """The settings the children get: their environment is stack.env (and, like theirs, `.env`)."""
    from core.config import Settings

    values: dict[str, Any] = {
        name: stack.env[name.upper()] for name in Settings.model_fields if name.upper() in stack.env
    }
    return Settings(**values)
