"""The emails the API records and sends itself, not a workflow: which outbox messages they are, and how each
kind is delivered, both by the request that records it and by the outbox sweep (activities.outbox_sweep)
when that request could not send it.

A workflow's email is retried by its activity's retry policy; nothing retries a request's but the sweep, so
the sweep must take these and only these. They are told apart by their outbox key, which each kind builds
here and nowhere else: `<case reference>:<kind's marker>:<what makes it unique>`. No workflow's key has one
of these markers in second place (theirs have `letter`, `letter-copy`, `request`, `request-closed`,
`chase`, `chase-escalation`, `mail-failed`, `appeal-...` or a staff notice's kind there, or start with
`yearly-figures`), and a kind with a purpose of its own must have that purpose too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from activities.letters import letter_attachments
from activities.mail import ClaimCondition, Mailer
from activities.notices import note_mail_failed
from core.config import Settings
from db.models import Letter, OutboxMessage


@dataclass(frozen=True)
class ApiMailKind:
    """One kind of email that the API sends itself."""

    # The key's second part: `<case reference>:<marker>:...`.
    marker: str
    # The outbox purpose every message of the kind has; None when it varies (a letter sent again keeps its
    # letter's code, so that the mailer attaches the letter's PDF).
    purpose: str | None

    def key(self, reference: str, unique: str) -> str:
        return f"{reference}:{self.marker}:{unique}"

    def is_kind_of(self, message: OutboxMessage) -> bool:
        if message.case_reference is None or (self.purpose is not None and message.purpose != self.purpose):
            return False
        return message.idempotency_key.startswith(self.key(message.case_reference, ""))

    def in_outbox(self) -> ColumnElement[bool]:
        """`is_kind_of` as SQL, to find them in the outbox."""
        shape = OutboxMessage.idempotency_key.startswith(OutboxMessage.case_reference + f":{self.marker}:")
        return shape if self.purpose is None else and_(OutboxMessage.purpose == self.purpose, shape)


NEW_LINK_PURPOSE = "applicant-new-link"
INFORMATION_NOTICE_PURPOSE = "applicant-information"

# The applicant's new link to their case page (api.routes.case_pages).
NEW_LINK = ApiMailKind(marker=NEW_LINK_PURPOSE, purpose=NEW_LINK_PURPOSE)
# The SPOC's notice that the applicant added information (api.applicant.information).
INFORMATION_NOTICE = ApiMailKind(marker=INFORMATION_NOTICE_PURPOSE, purpose=INFORMATION_NOTICE_PURPOSE)
# A letter whose email failed for good, sent again by staff to a corrected address (api.letter_resend).
RESENT_LETTER = ApiMailKind(marker="letter-resent", purpose=None)

# Every kind of email the API sends itself, in one list: a new kind must be added here (and build its keys
# with its `key`), or a request that fails to send it leaves it in the outbox for ever.
API_MAIL_KINDS = (NEW_LINK, INFORMATION_NOTICE, RESENT_LETTER)


def kind_of(message: OutboxMessage) -> ApiMailKind | None:
    """The API's kind of this message; None for a workflow's."""
    return next((kind for kind in API_MAIL_KINDS if kind.is_kind_of(message)), None)


def api_mail_in_outbox() -> ColumnElement[bool]:
    return or_(*(kind.in_outbox() for kind in API_MAIL_KINDS))


def new_link_key(reference: str, now: dt.datetime) -> str:
    return NEW_LINK.key(reference, now.isoformat())


def information_notice_key(reference: str, submission_id: int) -> str:
    return INFORMATION_NOTICE.key(reference, str(submission_id))


def resent_letter_key(reference: str, submission_id: int) -> str:
    return RESENT_LETTER.key(reference, str(submission_id))


# ---- a letter sent again -------------------------------------------------------------------------


def resent_letter_mailer(settings: Settings, sessions: sessionmaker[Session]) -> Mailer:
    """The mailer of letters sent again: the letter's PDF attached, its failure marked on the letter."""
    return Mailer(settings, sessions, on_permanent_failure=_letter_failed, attachments_for=letter_attachments)


def _letter_failed(session: Session, message: OutboxMessage) -> list[str]:
    """The mailer's hook when the corrected address fails for good too: the letter is failed again (so it
    can be sent again once more), with the chronology entry the worker's hook writes (activities.notices).
    No note to the SPOC: they are the one sending it, and see the outcome (or, when the outbox sweep sent
    it later, the failed-mail list)."""
    for letter in session.scalars(select(Letter).where(Letter.outbox_key == message.idempotency_key)):
        letter.status = "failed"
        note_mail_failed(session, letter.case_id, message)
    return []


def _mark_letter_sent(sessions: sessionmaker[Session], key: str) -> None:
    with sessions.begin() as session:
        session.execute(
            update(Letter).where(Letter.outbox_key == key, Letter.status == "sending").values(status="sent")
        )


async def deliver_resent_letter(
    sessions: sessionmaker[Session], mailer: Mailer, key: str, *, claim_if: ClaimCondition | None = None
) -> str:
    """Deliver a letter sent again, with `resent_letter_mailer`, and mark the letter sent once it went; the
    mailer's status (its failures raise, as `Mailer.deliver`'s do)."""
    status = await mailer.deliver(key, claim_if=claim_if)
    if status == "sent":
        await asyncio.to_thread(_mark_letter_sent, sessions, key)
    return status
