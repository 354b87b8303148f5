"""A local SMTP server that accepts every message and keeps it, untouched, as an `.eml` file.

`python -m devstack.mail_sink` listens on 127.0.0.1:$SMTP_PORT (default 1025) and writes into
`MAIL_SINK_DIR` (default `var/mail`) until SIGINT or SIGTERM. The API shows the messages at `/dev/mail`.

Tests use the class:

    sink = MailSink(tmp_path / "mail", port=0)   # port 0: pick a free port, see `sink.port`
    sink.start()
    ...                                          # send mail to 127.0.0.1:sink.port
    messages = sink.wait_for_messages(1)         # parsed email.message.EmailMessage, oldest first
    sink.stop()

Tests of what a sender does when delivery goes wrong can make the sink misbehave on purpose:

    sink = MailSink(tmp_path / "mail", port=0, refuse={"nobody@example.test"})  # 550 at RCPT TO
    sink.on_mail_from = lambda sender: True      # at MAIL FROM: True drops the connection, no reply
    sink.on_kept = lambda path: ...              # a message is on disk; runs before the "250" reply

All three are attributes, read on every command, so a test may set or clear them while the sink runs.
The hooks run on the sink's own thread (its event loop waits for them).

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
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING

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
    """aiosmtpd handler: every message is kept; every recipient is accepted unless the sink refuses it."""

    def __init__(self, directory: Path, sink: MailSink | None = None) -> None:
        self.directory = directory
        # The sink's `refuse`, `on_mail_from` and `on_kept`, read at each command (tests change them).
        self.sink = sink
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

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> Any:
        hook = self.sink.on_mail_from if self.sink else None
        if hook is not None and hook(address):
            # Hang up without a reply: the client sees the connection cut before any message was taken,
            # as when a server (or the network) dies mid-conversation. aiosmtpd still "replies" after
            # this returns, into the closed transport, where asyncio discards it.
            log.info("dropped a connection at MAIL FROM, as the sink's on_mail_from hook asked")
            server.transport.close()
            return "421 4.3.0 Connection dropped by the test sink"
        return MISSING  # aiosmtpd's own handling: take the sender, reply 250

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> Any:
        refused = {a.lower() for a in self.sink.refuse} if self.sink else set()
        if address.lower() in refused:
            log.info("refused a recipient with 550, as the sink was told to")
            return "550 5.1.1 Mailbox unavailable (refused by the test sink)"
        deferred = {a.lower() for a in self.sink.defer} if self.sink else set()
        if address.lower() in deferred:
            log.info("deferred a recipient with 450, as the sink was told to")
            return "450 4.2.1 Mailbox busy, try again later (deferred by the test sink)"
        return MISSING  # aiosmtpd's own handling: add the recipient, reply 250

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        path = self._write(bytes(raw))
        log.info("kept a message of %d bytes, Message-ID %s, as %s", len(raw), _message_id(raw), path.name)
        hook = self.sink.on_kept if self.sink else None
        if hook is not None:
            # The message is on disk but the client has not heard "250": the window in which a sender
            # that dies cannot know whether the server took the message.
            hook(path)
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MailSink:
    """The SMTP sink as an object: `start()`, `stop()` (or `with MailSink(...) as sink:`), `messages()`.

    `refuse`: recipients answered "550" at RCPT TO (compared without regard to case); `defer`: answered
    "450" (a temporary refusal, as greylisting gives). `on_mail_from`:
    called with the sender at MAIL FROM, before any message is accepted; if it returns True the sink
    hangs up without replying. `on_kept`: called with the file once a message is kept, before "250".
    """

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 1025,
        *,
        refuse: Iterable[str] = (),
        defer: Iterable[str] = (),
        on_mail_from: Callable[[str], bool] | None = None,
        on_kept: Callable[[Path], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port or _free_port(host)
        self.refuse: set[str] = set(refuse)
        self.defer: set[str] = set(defer)
        self.on_mail_from = on_mail_from
        self.on_kept = on_kept
        self._controller: Controller | None = None
        # Parsed messages by file name: a kept file is never rewritten (it arrives whole by rename), and
        # parsing every message again on each look grows slow once a sink holds hundreds with PDFs.
        self._parsed: dict[str, EmailMessage] = {}

    def start(self) -> None:
        # aiosmtpd logs senders and recipients at INFO; personal data stays out of our logs.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Handler(self.directory, self), hostname=self.host, port=self.port)
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
        messages = []
        for path in self.paths():
            message = self._parsed.get(path.name)
            if message is None:
                try:
                    message = self._parsed[path.name] = parse_message(path.read_bytes())
                except FileNotFoundError:  # removed (clear()) since it was listed
                    continue
            messages.append(message)
        return messages

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
        self._parsed.clear()


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
