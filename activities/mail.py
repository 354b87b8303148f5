"""Email through an outbox: recorded before it is sent, never sent twice by a retry, never lost.

Every message is first written to the outbox under its business key (case + step + recipient) with a
Message-ID fixed at that moment. Sending marks the row `sending`, talks SMTP, then marks it `sent`. A
retry that finds `sent` does nothing. A retry that finds `sending` cannot know whether the server took
the earlier attempt (the worker may have died in between), so it sends again with the same Message-ID,
which lets mail systems drop the copy, and counts it in `possible_duplicates`.

A permanent failure (5xx, refused address) is not retried: the row is marked `failed` and the
`on_permanent_failure` hook marks it on the case and queues a note to the SPOC. Agency links in a
message body are removed from the outbox once the message is sent or has failed, so the database
keeps only the links' hashes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from core.config import Settings
from db.models import OutboxMessage

log = logging.getLogger(__name__)

PERMANENT_FAILURE = "PermanentMailFailure"

# The secret part of an agency link (see domain.links.agency_link_path).
_AGENCY_LINK = re.compile(r"(/agency/r/)[A-Za-z0-9_-]{20,}")
REDACTED_LINK = "[link removed from the stored copy]"

# Given the failed message, in the transaction that marks it failed; returns outbox keys to deliver.
FailureHook = Callable[[Session, OutboxMessage], list[str]]


def redact_links(body: str) -> str:
    return _AGENCY_LINK.sub(lambda match: match.group(1) + REDACTED_LINK, body)


@dataclass(frozen=True)
class OutgoingEmail:
    idempotency_key: str
    case_reference: str | None
    purpose: str
    sender: str
    reply_to: str | None
    recipient: str
    subject: str
    body_text: str
    body_html: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Mailer:
    """Records emails in the outbox and delivers them over SMTP."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        on_permanent_failure: FailureHook | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._on_permanent_failure = on_permanent_failure

    @staticmethod
    def exists(session: Session, idempotency_key: str) -> bool:
        return (
            session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idempotency_key))
            is not None
        )

    def record(self, email: OutgoingEmail, session: Session) -> OutboxMessage:
        """Add the message to the outbox in the caller's transaction, or return the one already there."""
        existing = session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == email.idempotency_key)
        )
        if existing is not None:
            return existing
        domain = self._settings.public_base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        message = OutboxMessage(
            idempotency_key=email.idempotency_key,
            message_id=make_msgid(domain=domain or "community-trigger.local"),
            case_reference=email.case_reference,
            purpose=email.purpose,
            sender=email.sender,
            reply_to=email.reply_to,
            recipient=email.recipient,
            subject=email.subject,
            body_text=email.body_text,
            body_html=email.body_html,
            status="pending",
            attempts=0,
            possible_duplicates=0,
            created_at=_now(),
        )
        session.add(message)
        session.flush()
        return message

    def record_alone(self, email: OutgoingEmail) -> None:
        """Record in a transaction of its own (safe when two attempts race on the same key)."""
        try:
            with self._sessions.begin() as session:
                self.record(email, session)
        except IntegrityError:
            pass  # the other attempt recorded it first

    async def deliver(self, idempotency_key: str) -> str:
        """Send the outbox message once; returns its status. Raises for Temporal to retry or give up."""
        claimed, notes = await asyncio.to_thread(self._claim, idempotency_key)
        if claimed is None:
            if notes is None:
                return "sent"
            # Failed earlier: make sure the SPOC's note about it went, then give up again.
            await self._deliver_notes(notes)
            raise ApplicationError("delivery already failed", type=PERMANENT_FAILURE, non_retryable=True)
        try:
            await aiosmtplib.send(
                claimed,
                hostname=self._settings.smtp_host,
                port=self._settings.smtp_port,
                username=self._settings.smtp_username,
                password=self._settings.smtp_password,
                start_tls=self._settings.smtp_use_tls or None,
                timeout=self._settings.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as error:
            await self._fail(idempotency_key, f"the mail server refused the address: {_code(error)}")
        except aiosmtplib.SMTPResponseException as error:
            if error.code >= 500:
                await self._fail(idempotency_key, f"the mail server rejected the message: {_code(error)}")
            # 4xx: the server did not take it; safe to try again without counting a duplicate.
            await asyncio.to_thread(self._release, idempotency_key, str(error))
            raise
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as error:
            # Not connected, or cut off: a cut after DATA may still have delivered it, so the row stays
            # `sending` and the next attempt counts a possible duplicate unless we never connected.
            if isinstance(error, aiosmtplib.SMTPConnectError | ConnectionRefusedError):
                await asyncio.to_thread(self._release, idempotency_key, str(error))
            raise
        await asyncio.to_thread(self._mark_sent, idempotency_key)
        log.info("email %s sent (%s)", claimed["Message-ID"], idempotency_key.split(":", 1)[0])
        return "sent"

    async def _fail(self, idempotency_key: str, reason: str) -> None:
        notes = await asyncio.to_thread(self._mark_failed, idempotency_key, reason)
        log.warning("email %s failed permanently: %s", idempotency_key.split(":", 1)[0], reason)
        await self._deliver_notes(notes)
        # `from None`: the SMTP error quotes the address, and the worker logs the failure with its chain.
        raise ApplicationError(reason, type=PERMANENT_FAILURE, non_retryable=True) from None

    async def _deliver_notes(self, keys: list[str]) -> None:
        for key in keys:
            try:
                await self.deliver(key)
            except ApplicationError as error:
                if error.type != PERMANENT_FAILURE:
                    raise
                # The note itself failed for good (a bad SPOC address): it is marked failed; go on.

    # ---- outbox state, each in its own short transaction ------------------------------------

    def _claim(self, key: str) -> tuple[EmailMessage | None, list[str] | None]:
        """(the message to send, None); or (None, None) when it went already; or (None, notes to
        deliver) when it failed already."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == key).with_for_update()
            )
            if row is None:
                raise ApplicationError(f"no outbox message {key!r}", non_retryable=True)
            if row.status == "sent":
                return None, None
            if row.status == "failed":
                return None, self._on_permanent_failure(session, row) if self._on_permanent_failure else []
            if row.status == "sending":
                row.possible_duplicates += 1
            row.status = "sending"
            row.attempts += 1
            return _build(row), None

    def _mark_sent(self, key: str) -> None:
        with self._sessions.begin() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
            assert row is not None
            row.status = "sent"
            row.sent_at = _now()
            row.last_error = None
            _redact(row)

    def _release(self, key: str, error: str) -> None:
        with self._sessions.begin() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
            assert row is not None
            row.status = "pending"
            row.last_error = error[:2000]

    def _mark_failed(self, key: str, error: str) -> list[str]:
        with self._sessions.begin() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
            assert row is not None
            row.status = "failed"
            row.last_error = error[:2000]
            _redact(row)
            session.flush()
            return self._on_permanent_failure(session, row) if self._on_permanent_failure else []


def _redact(row: OutboxMessage) -> None:
    row.body_text = redact_links(row.body_text)
    row.body_html = redact_links(row.body_html)


def _code(error: aiosmtplib.SMTPException) -> str:
    """The SMTP reply code only: the server's text may quote the address, which stays out of logs."""
    code = getattr(error, "code", None)
    if code is None and isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        code = error.recipients[0].code
    return f"SMTP {code}" if code else type(error).__name__


def _build(row: OutboxMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"] = row.sender
    message["To"] = row.recipient
    if row.reply_to:
        message["Reply-To"] = row.reply_to
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    return message
