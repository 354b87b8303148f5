"""The outbox sweep's activity: deliver the API's own emails that their request could not send.

Which emails are the API's is activities.api_mail's one list; a workflow's email is never touched (its
activity retries it, and a `sending` row of a running activity would go twice). Of the API's, a message is
stalled when

- `pending` and last tried (or, never tried, recorded) over PENDING_FOR ago: the request that records a
  message sends it at once, so one younger may be about to be sent by it;
- `sending` and last tried over SENDING_FOR ago: far longer than any SMTP conversation, so the request
  that claimed it has died (the mailer counts the send as a possible duplicate, with the same Message-ID).

Least recently tried first, at most SWEEP_LIMIT a run (the next run takes the rest). Each is delivered as
its request delivers it, and claimed only if it is still stalled when its turn comes (checked on the row
read, and claimed only if nobody claimed it since: activities.mail), so a request that took it meanwhile is
never raced. A temporary failure leaves it for the next run until the mailer gives up (GIVE_UP_AFTER from
its first attempt) and fails it for good, as for any email; one that has waited longer than that (stalled
before the sweep existed) is failed for good unsent, not sent days late.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.api_mail import (
    RESENT_LETTER,
    ApiMailKind,
    api_mail_in_outbox,
    deliver_resent_letter,
    kind_of,
    resent_letter_mailer,
)
from activities.mail import (
    GIVE_UP_AFTER,
    LEFT_ALONE,
    PERMANENT_FAILURE,
    SENDING_ABANDONED_AFTER,
    TEMPORARY_FAILURE,
    Mailer,
    activity_now,
    utc_now,
)
from core.config import Settings
from db.models import OutboxMessage
from workflows.models import OutboxSweepResult

log = logging.getLogger(__name__)

PENDING_FOR = dt.timedelta(minutes=2)
SENDING_FOR = SENDING_ABANDONED_AFTER
SWEEP_LIMIT = 100


class Outcome(StrEnum):
    """What became of one stalled message: each is a count of the sweep's result (OutboxSweepResult)."""

    SENT = "sent"
    NOT_YET = "not_yet"
    FAILED = "failed"
    LEFT_ALONE = "left_alone"
    ERRORS = "errors"


def _tried_before(moment: dt.datetime) -> ColumnElement[bool]:
    """Last tried before `moment`, or never tried and recorded before it."""
    return or_(
        OutboxMessage.last_attempt_at < moment,
        and_(OutboxMessage.last_attempt_at.is_(None), OutboxMessage.created_at < moment),
    )


def stalled_in_outbox(now: dt.datetime) -> ColumnElement[bool]:
    """The API's emails stalled at `now`, as SQL (`is_stalled` is the same test on a row)."""
    return and_(
        api_mail_in_outbox(),
        or_(
            and_(OutboxMessage.status == "pending", _tried_before(now - PENDING_FOR)),
            and_(OutboxMessage.status == "sending", _tried_before(now - SENDING_FOR)),
        ),
    )


def is_stalled(message: OutboxMessage, now: dt.datetime) -> bool:
    if kind_of(message) is None:
        return False
    waited = now - (message.last_attempt_at or message.created_at)
    if message.status == "pending":
        return waited > PENDING_FOR
    return message.status == "sending" and waited > SENDING_FOR


def stalled_api_mail(session: Session, now: dt.datetime, limit: int = SWEEP_LIMIT) -> list[str]:
    """The outbox keys of the API's emails stalled at `now`, least recently tried first."""
    return list(
        session.scalars(
            select(OutboxMessage.idempotency_key)
            .where(stalled_in_outbox(now))
            # Least recently tried first: messages that keep failing do not hold up newer ones.
            .order_by(
                func.coalesce(OutboxMessage.last_attempt_at, OutboxMessage.created_at), OutboxMessage.id
            )
            .limit(limit)
        )
    )


class OutboxSweepActivities:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        # Each kind's mailer as its request builds it: a letter sent again carries its PDF, and its failure
        # is marked on the letter (activities.api_mail); the others have no hooks.
        self._mailer = Mailer(settings, sessions)
        self._letter_mailer = resent_letter_mailer(settings, sessions)

    @activity.defn
    async def deliver_stalled_api_mail(self) -> OutboxSweepResult:
        now = activity_now()
        keys = await asyncio.to_thread(self._stalled, now)

        def still_stalled(message: OutboxMessage) -> bool:
            return is_stalled(message, now)

        outcomes: Counter[Outcome] = Counter()
        for done, key in enumerate(keys):
            if activity.in_activity():
                activity.heartbeat(done)  # how far it got: a count, nothing of the message
            outcomes[await self._deliver(key, still_stalled)] += 1
        result = OutboxSweepResult(
            stalled=len(keys), **{outcome.value: outcomes[outcome] for outcome in Outcome}
        )
        if keys:
            log.info("outbox sweep: %s", result)
        return result

    def _stalled(self, now: dt.datetime) -> list[str]:
        with self._sessions() as session:
            return stalled_api_mail(session, now)

    def _kind(self, key: str) -> tuple[ApiMailKind | None, bool]:
        """The message's kind (None: gone, or not the API's), and whether it has waited too long to send:
        by the wall clock, as the API that recorded and first tried it stamped it (Temporal's clock is the
        same in service, but runs ahead of it in time-skipping tests)."""
        with self._sessions() as session:
            message = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
            if message is None:
                return None, False
            waiting_since = message.first_attempt_at or message.created_at
            return kind_of(message), utc_now() - waiting_since >= GIVE_UP_AFTER

    async def _deliver(self, key: str, still_stalled: Callable[[OutboxMessage], bool]) -> Outcome:
        """Deliver one message; which of the result's counts it adds to. Never raises (but for the activity
        being cancelled), so that one message's trouble does not hold up the others."""
        reference = key.split(":", 1)[0]  # for the log: the case, never the address in the key
        try:
            kind, expired = await asyncio.to_thread(self._kind, key)
            if kind is None:  # gone, or not the API's: the query and the list disagree, so leave it be
                return Outcome.LEFT_ALONE
            mailer = self._letter_mailer if kind is RESENT_LETTER else self._mailer
            if expired:
                # Waited longer than any email is tried for (one stalled before the sweep existed, say):
                # failed for good unsent, as the mailer fails one tried that long, not sent days late.
                hours = int(GIVE_UP_AFTER.total_seconds() // 3600)
                reason = f"not sent within {hours} hours, so not sent late"
                await mailer.give_up(key, reason, claim_if=still_stalled)
                return Outcome.LEFT_ALONE  # give_up raises once it has failed it; here, someone took it
            if kind is RESENT_LETTER:
                status = await deliver_resent_letter(
                    self._sessions, self._letter_mailer, key, claim_if=still_stalled
                )
            else:
                status = await self._mailer.deliver(key, claim_if=still_stalled)
        except ApplicationError as error:
            if error.type == TEMPORARY_FAILURE:
                return Outcome.NOT_YET
            if error.type == PERMANENT_FAILURE:
                return Outcome.FAILED
            log.warning("outbox sweep: an email of %s not delivered (%s)", reference, error.type)
            return Outcome.ERRORS
        except Exception as error:
            # Only the type: a database error may quote the row, address and all.
            log.warning("outbox sweep: an email of %s not delivered (%s)", reference, type(error).__name__)
            return Outcome.ERRORS
        return Outcome.LEFT_ALONE if status == LEFT_ALONE else Outcome.SENT
