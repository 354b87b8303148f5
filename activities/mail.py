"""Email through an outbox: recorded before it is sent, never sent twice by a retry, never lost.

Every message is first written to the outbox under its business key (case + step + recipient) with a
Message-ID fixed at that moment. Sending marks the row `sending`, talks SMTP, then marks it `sent`. A
retry that finds `sent` does nothing. A retry that finds `sending` cannot know whether the server took
the earlier attempt (the worker may have died in between), so it sends again with the same Message-ID,
which lets mail systems drop the copy, and counts it in `possible_duplicates`.

A permanent failure (5xx, refused address) is not retried: the row is marked `failed` and the
`on_permanent_failure` hook marks it on the case and queues a note to the SPOC. Once staff have sent its
letter again (api.letter_resend) the failed row is marked `resent`: kept, with its error, never sent.
Agency links in a message body are removed from the outbox once the message is sent or has failed, so the
database keeps only the links' hashes.

Files attached to a message (a letter's PDF) are not copied into the outbox: the `attachments_for` hook
gives them, from where they are kept, each time the message is built.

Each attempt stamps `last_attempt_at`. A caller that may only send a message still in a given state (the
outbox sweep, which must never race the request sending it) passes `claim_if`: checked on the locked row,
in the transaction that would claim it; when it fails, the message is left as it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any, NoReturn

import aiosmtplib
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.config import Settings
from db.models import OutboxMessage

log = logging.getLogger(__name__)

PERMANENT_FAILURE = "PermanentMailFailure"
TEMPORARY_FAILURE = "TemporaryMailFailure"
# The status of a failed message whose letter staff sent again (to another address, or by post): no longer
# in the failed-mail lists, and never delivered itself.
RESENT = "resent"
# What `deliver` answers when its `claim_if` refused the message, or another sender claimed it first:
# nothing was sent, nothing changed.
LEFT_ALONE = "left-alone"

# The secret part of an agency's, an appeal chair's, an appeal contact's or the applicant's link (see
# domain.links).
_AGENCY_LINK = re.compile(r"(/(?:agency|appeal|case)/r/)[A-Za-z0-9_-]{20,}")
REDACTED_LINK = "[link removed from the stored copy]"

# Given the failed message, in the transaction that marks it failed; returns outbox keys to deliver.
FailureHook = Callable[[Session, OutboxMessage], list[str]]


@dataclass(frozen=True)
class MailAttachment:
    """A file sent with an email: its name (nothing personal: it shows in mail logs), type and bytes."""

    filename: str
    content_type: str
    content: bytes


# Given the message about to be sent, in the transaction that claims it; returns the files it carries.
AttachmentHook = Callable[[Session, OutboxMessage], list[MailAttachment]]
# Given the locked message, before it is claimed: whether this caller may claim it now.
ClaimCondition = Callable[[OutboxMessage], bool]


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


# Temporary failures are retried until a message has waited this long, then it fails for good (and the
# SPOC is told). Less than the mail activities' schedule-to-close limit (MAIL_GIVE_UP_AFTER, two days,
# in workflows/case.py) less their longest retry interval (30 minutes), so that an attempt always
# falls in between and marks it.
GIVE_UP_AFTER = dt.timedelta(hours=47)
# Far longer than any conversation with the mail server (its timeout is seconds): a message still `sending`
# this long after its last attempt was abandoned by whoever claimed it (a process gone mid-send).
SENDING_ABANDONED_AFTER = dt.timedelta(minutes=15)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def activity_now() -> dt.datetime:
    """Now, as Temporal sees it: the time this activity attempt was scheduled (the same as the wall
    clock in service, and the skipped clock in time-skipping tests); the wall clock outside activities."""
    try:
        return activity.info().current_attempt_scheduled_time.astimezone(dt.UTC)
    except RuntimeError:
        return utc_now()


class Mailer:
    """Records emails in the outbox and delivers them over SMTP."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        on_permanent_failure: FailureHook | None = None,
        attachments_for: AttachmentHook | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._on_permanent_failure = on_permanent_failure
        self._attachments_for = attachments_for

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
            created_at=activity_now(),
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

    async def deliver(self, idempotency_key: str, *, claim_if: ClaimCondition | None = None) -> str:
        """Send the outbox message once; returns its status (LEFT_ALONE when `claim_if` refused it, or when
        another sender claimed it first and `claim_if` was given). Raises for Temporal to retry or give up."""
        if activity.in_activity():
            activity.heartbeat()  # alive: one attempt may send several emails
        try:
            claimed, notes = await asyncio.to_thread(self._claim, idempotency_key, claim_if)
        except _LeftAlone:
            if claim_if is None:
                # Another sender claimed it between this one's read and its claim: it is being sent now.
                raise ApplicationError(
                    "another attempt is sending this message", type=TEMPORARY_FAILURE
                ) from None
            return LEFT_ALONE
        except Unbuildable as error:
            # Not the mail server's fault and no retry will mend it (a stored address that is not one
            # mailbox, say): fail for good, so the message is in the failed-mail list and the SPOC told.
            await self._fail(idempotency_key, f"the message could not be built: {error}")
        if claimed is None:
            if notes is None:
                return "sent"
            # Failed earlier: make sure the SPOC's note about it went, then give up again.
            await self._deliver_notes(notes)
            raise ApplicationError("delivery already failed", type=PERMANENT_FAILURE, non_retryable=True)
        message, first_attempt_at = claimed
        try:
            async with _heartbeating():
                await aiosmtplib.send(
                    message,
                    hostname=self._settings.smtp_host,
                    port=self._settings.smtp_port,
                    username=self._settings.smtp_username,
                    password=self._settings.smtp_password,
                    start_tls=self._settings.smtp_use_tls or None,
                    timeout=self._settings.smtp_timeout_seconds,
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            # 4xx for a recipient (greylisting, a full mailbox) is worth another try; 5xx is final.
            if all(refusal.code >= 500 for refusal in error.recipients):
                await self._fail(idempotency_key, f"the mail server refused the address: {_code(error)}")
            await self._try_again_later(idempotency_key, first_attempt_at, _code(error), release=True)
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as error:
            # A 5xx to this message's sender or content is final; 4xx is worth another try.
            if error.code >= 500:
                what = "address" if isinstance(error, aiosmtplib.SMTPSenderRefused) else "message"
                await self._fail(idempotency_key, f"the mail server refused the {what}: {_code(error)}")
            await self._try_again_later(idempotency_key, first_attempt_at, _code(error), release=True)
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError) as error:
            # Not connected, or cut off: a cut after DATA may still have delivered it, so the row stays
            # `sending` and the next attempt counts a possible duplicate unless we never connected.
            never_connected = isinstance(error, aiosmtplib.SMTPConnectError | ConnectionRefusedError)
            await self._try_again_later(
                idempotency_key, first_attempt_at, _code(error), release=never_connected
            )
        except aiosmtplib.SMTPException as error:
            # Anything else (a refused login, a 5xx greeting) is about the server or our settings, not
            # this message: the message did not go, and it is retried until operations fix it.
            await self._try_again_later(idempotency_key, first_attempt_at, _code(error), release=True)
        await asyncio.to_thread(self._mark_sent, idempotency_key)
        log.info("email %s sent (%s)", message["Message-ID"], idempotency_key.split(":", 1)[0])
        return "sent"

    async def give_up(
        self, idempotency_key: str, reason: str, *, claim_if: ClaimCondition | None = None
    ) -> str:
        """Fail the message for good without sending it, as a message tried too long is (the failed-mail
        list, the hooks' notes), and raise as `deliver` then does; LEFT_ALONE when `claim_if` refuses it."""
        if claim_if is not None and not await asyncio.to_thread(self._passes, idempotency_key, claim_if):
            return LEFT_ALONE
        await self._fail(idempotency_key, reason)

    def _passes(self, key: str, claim_if: ClaimCondition) -> bool:
        with self._sessions() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
            return row is not None and claim_if(row)

    async def _try_again_later(
        self, idempotency_key: str, first_attempt_at: dt.datetime, reason: str, *, release: bool
    ) -> NoReturn:
        """After a temporary failure: raise for Temporal to retry, unless the message has been tried for
        too long, when it fails for good."""
        if activity_now() - first_attempt_at >= GIVE_UP_AFTER:
            hours = int(GIVE_UP_AFTER.total_seconds() // 3600)
            await self._fail(
                idempotency_key, f"gave up after {hours} hours of temporary failures (last: {reason})"
            )
        if release:
            await asyncio.to_thread(self._release, idempotency_key, reason)
        # For Temporal to retry. `from None`: SMTP errors quote the address, and the worker logs a
        # failed attempt with its chain.
        raise ApplicationError(f"temporary mail failure: {reason}", type=TEMPORARY_FAILURE) from None

    async def _fail(self, idempotency_key: str, reason: str) -> NoReturn:
        notes = await asyncio.to_thread(self._mark_failed, idempotency_key, reason)
        log.warning("email %s failed permanently: %s", idempotency_key.split(":", 1)[0], reason)
        await self._deliver_notes(notes)
        # `from None`: the SMTP error quotes the address, and the worker logs the failure with its chain.
        raise ApplicationError(reason, type=PERMANENT_FAILURE, non_retryable=True) from None

    async def _deliver_notes(self, keys: list[str]) -> None:
        """Send the notes about a failed message. A temporary failure propagates, so the activity is
        retried; the retry finds the message failed and tries its notes again. A note that fails for
        good is itself marked failed (it is in the failed-mail list), and is not reported further."""
        for key in keys:
            try:
                await self.deliver(key)
            except ApplicationError as error:
                if error.type != PERMANENT_FAILURE:
                    raise

    # ---- outbox state, each in its own short transaction ------------------------------------

    def _claim(
        self, key: str, claim_if: ClaimCondition | None = None
    ) -> tuple[tuple[EmailMessage, dt.datetime] | None, list[str] | None]:
        """((message, when it was first tried), None) to send it; (None, None) when it went already (or its
        letter went again another way); (None, notes to deliver) when it failed already. Raises _LeftAlone
        when `claim_if` refuses it, or when another sender claimed it since it was read."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(OutboxMessage).where(OutboxMessage.idempotency_key == key).with_for_update()
            )
            if row is None:
                raise ApplicationError(f"no outbox message {key!r}", non_retryable=True)
            if claim_if is not None and not claim_if(row):
                raise _LeftAlone
            if row.status in ("sent", RESENT):
                return None, None
            if row.status == "failed":
                return None, self._on_permanent_failure(session, row) if self._on_permanent_failure else []
            attachments = self._attachments_for(session, row) if self._attachments_for else []
            try:
                message = _build(row, attachments)
            except (ValueError, TypeError, HeaderParseError) as error:
                raise Unbuildable(type(error).__name__) from None
            # Claimed only if nobody claimed it since it was read: compare and set on the status and the
            # attempts (SQLite ignores FOR UPDATE, and two senders could otherwise both read `pending`).
            now = activity_now()
            first_attempt_at = row.first_attempt_at or now
            claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.status == row.status,
                    OutboxMessage.attempts == row.attempts,
                )
                .values(
                    status="sending",
                    attempts=row.attempts + 1,
                    possible_duplicates=row.possible_duplicates + (1 if row.status == "sending" else 0),
                    last_attempt_at=now,
                    first_attempt_at=first_attempt_at,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                raise _LeftAlone
            return (message, first_attempt_at), None

    def _mark_sent(self, key: str) -> None:
        with self._sessions.begin() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
            assert row is not None
            row.status = "sent"
            row.sent_at = utc_now()
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


def _code(error: Exception) -> str:
    """The SMTP reply code only: the server's text may quote the address, which stays out of logs."""
    code = getattr(error, "code", None)
    if code is None and isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        code = error.recipients[0].code
    return f"SMTP {code}" if code else type(error).__name__


# While an email is being sent, the activity tells Temporal it is alive this often: well inside the mail
# activities' heartbeat timeout (workflows/options.py), however long the mail server takes.
HEARTBEAT_EVERY = 3.0


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    if not activity.in_activity():
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


class Unbuildable(Exception):
    """An outbox message that cannot be made into an email (its reason names no address)."""


def not_being_sent(message: OutboxMessage) -> bool:
    """A `claim_if` for a request that may repeat (the same form sent twice): not a message that someone
    is sending right now, which would go twice. One abandoned mid-send (SENDING_ABANDONED_AFTER) may be
    taken again."""
    if message.status != "sending" or message.last_attempt_at is None:
        return True
    return utc_now() - message.last_attempt_at > SENDING_ABANDONED_AFTER


class _LeftAlone(Exception):
    """The caller's `claim_if` refused the message: the claim's transaction ends with nothing changed."""


def _one_mailbox(address: str, what: str) -> str:
    """The address, if it is exactly one mailbox: never a list, a display name or a header break."""
    if any(character in address for character in "\r\n,;<>") or len(getaddresses([address])) != 1:
        raise ValueError(f"the {what} is not one email address")
    if "@" not in address or any(character.isspace() for character in address.strip()):
        raise ValueError(f"the {what} is not one email address")
    return address.strip()


def _build(row: OutboxMessage, attachments: Sequence[MailAttachment] = ()) -> EmailMessage:
    """The email of an outbox row: a text and an HTML part, then any attachments beside them. ValueError
    when its addresses are not one mailbox each, so that a bad address stored before validation can never
    send to several people or inject a header."""
    _one_mailbox(row.recipient, "recipient")
    _one_mailbox(row.sender, "sender")
    if row.reply_to:
        _one_mailbox(row.reply_to, "reply-to address")
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
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message
