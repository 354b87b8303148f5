"""A local SMTP server that accepts every message and keeps it, untouched, as an `.eml` file.

`python -m devstack.mail_sink` listens on 127.0.0.1:$SMTP_PORT (default 1025) and writes into
`MAIL_SINK_DIR` (default `var/mail`) until SIGINT or SIGTERM. The API shows the messages at `/dev/mail`.

Tests use the class:

    sink = MailSink(tmp_path / "mail", port=0)   # port 0: pick a free port, see `sink.port`
    sink.start()
    ...                                          # send mail to 127.0.0.1:sink.port
    messages = sink.wait_for_messages(1)         # parsed email.message.EmailMessage, oldest first
    sink.stop()

The log says one line per message with its size and Message-ID only: never addresses or subjects.
"""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import logging
import os
import signal
import socket
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("devstack.mail_sink")

SUFFIX = ".eml"


def parse_message(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # policy.default always builds EmailMessage
    return message


def _message_id(raw: bytes) -> str:
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    return str(headers.get("Message-ID", "")).strip() or "(no Message-ID)"


class _Handler:
    """aiosmtpd handler: every recipient is accepted (aiosmtpd's default); every message is kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._counter = 0
        self._lock = threading.Lock()

    def _write(self, raw: bytes) -> Path:
        with self._lock:
            while True:
                self._counter += 1
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
                path = self.directory / f"{stamp}-{self._counter:06d}{SUFFIX}"
                if not path.exists():
                    break
            # Written under a hidden name, then renamed: /dev/mail never sees half a message.
            partial = self.directory / f".{path.name}.partial"
            partial.write_bytes(raw)
            os.replace(partial, path)
            return path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        path = self._write(bytes(raw))
        log.info("kept a message of %d bytes, Message-ID %s, as %s", len(raw), _message_id(raw), path.name)
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MailSink:
    """The SMTP sink as an object: `start()`, `stop()` (or `with MailSink(...) as sink:`), `messages()`."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 1025) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port or _free_port(host)
        self._controller: Controller | None = None

    def start(self) -> None:
        # aiosmtpd logs senders and recipients at INFO; personal data stays out of our logs.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Handler(self.directory), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def paths(self) -> list[Path]:
        """The kept messages' files, oldest first (the names sort by time of arrival)."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}") if not p.name.startswith("."))

    def messages(self) -> list[EmailMessage]:
        """Every kept message, parsed, oldest first."""
        return [parse_message(path.read_bytes()) for path in self.paths()]

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages once there are at least `count` of them; AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages()
            if len(messages) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        assert len(messages) >= count, f"expected {count} message(s) in {self.directory}, got {len(messages)}"
        return messages

    def clear(self) -> None:
        for path in self.paths():
            path.unlink(missing_ok=True)


def main() -> None:
    from core.config import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    sink = MailSink(settings.mail_sink_dir, host="127.0.0.1", port=settings.smtp_port)
    sink.start()
    log.info("SMTP sink listening on %s:%d, keeping messages in %s", sink.host, sink.port, sink.directory)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        sink.stop()
        log.info("SMTP sink stopped")


if __name__ == "__main__":
    main()
