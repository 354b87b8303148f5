"""A letter to the applicant whose email failed for good, sent again by staff: the same letter (its kept text,
its PDF) emailed to a corrected address, or put in the print queue to go by post. One function for the JSON
API (`POST /api/cases/{reference}/letters/resend`, api.routes.case_actions) and the staff page
(`/staff/cases/{reference}/resend-letter`, api.routes.staff_failed_mail).

In one transaction: the applicant's contact details on the case (the corrected email address, or post as
how they want letters: later letters read them there, activities.letters), the new outbox message or the
letter's place in the print queue, the failed message marked `resent` (kept, with its error, out of the
failed-mail lists), a chronology entry and an audit entry without the address. The case's workflow is not
told: nothing of the address goes into its history. The email is then delivered at once, as the API's own
emails are (the applicant's new link, the SPOC's notice of added information); when it cannot be, the
outbox sweep (activities.outbox_sweep) delivers it later, the same way (activities.api_mail).

Sent twice with the same key, it is recorded once (and its email, if not yet delivered, tried again).
"""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum
from typing import Annotated, Any

from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.api_mail import deliver_resent_letter, resent_letter_key, resent_letter_mailer
from activities.letter_pdf import letter_name
from activities.mail import (
    LEFT_ALONE,
    PERMANENT_FAILURE,
    REDACTED_LINK,
    RESENT,
    Mailer,
    OutgoingEmail,
    not_being_sent,
)
from api.audit import add_audit
from api.auth import Staff
from api.case_decisions import DecisionRefused, InvalidDecision, KeyReused
from api.case_updates import update_id_for
from core.config import Settings
from db.models import ApplicantToken, Case, ChronologyEntry, Letter, OutboxMessage, Submission
from domain.application import one_mailbox
from domain.links import applicant_link_path
from domain.policy import LocalityPolicy

log = logging.getLogger(__name__)

# The submission that makes a second sending of the same form (or API call) count once.
KIND = "letter_resend"
# The redacted link to the applicant's case page in a failed letter's stored copy: a new link goes there.
_REDACTED_CASE_LINK = f"/case/r/{REDACTED_LINK}"
NO_POSTAL_ADDRESS = (
    "The case has no postal address for the applicant: correct their email address instead, or contact "
    "them another way"
)


class SendBy(StrEnum):
    EMAIL = "email"
    POST = "post"


class LetterResend(BaseModel):
    """Send a letter whose email failed for good again: to a corrected email address (`send_by` email, `to`),
    which becomes the applicant's address for later letters; or by post (`send_by` post), when the case has
    the applicant's postal address, which then becomes how later letters go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=40, description="The letter's code, as in the case's letters.")
    sequence: int = Field(
        default=1, ge=1, le=1000, description="The letter's number (update letters repeat)."
    )
    send_by: SendBy
    # Exactly one mailbox, as the application itself checks the applicant's address (domain.application:
    # the same rules as the information request's resend, `.test` addresses allowed for trials), since it
    # becomes the application's address.
    to: Annotated[str, AfterValidator(one_mailbox)] | None = Field(
        default=None, max_length=320, description="The corrected email address; only with send_by email."
    )

    @model_validator(mode="after")
    def _address_goes_with_email(self) -> LetterResend:
        if self.send_by == SendBy.EMAIL and not self.to:
            raise ValueError("to (the corrected email address) is required when send_by is email")
        if self.send_by == SendBy.POST and self.to:
            raise ValueError("to is only for send_by email")
        return self


class LetterResent(BaseModel):
    code: str
    sequence: int
    send_by: SendBy
    status: str = Field(
        description=(
            "sent: delivered to the corrected address; failed: refused again (it is back in the failed-mail "
            "list); pending: not delivered yet, retry with the same Idempotency-Key; queued_for_printing: in "
            "the print queue."
        )
    )


def failed_letters(case: Case) -> list[Letter]:
    """The case's letters whose email failed for good and that can be sent again."""
    return [letter for letter in case.letters if letter.channel == "email" and letter.status == "failed"]


def postal_address(application: dict[str, Any]) -> str:
    """The applicant's postal address on the case ("" when there is none)."""
    applicant = application.get("applicant") or {}
    return str(applicant.get("address") or "").strip()


# ---- recording it --------------------------------------------------------------------------------


def _record(
    session: Session,
    *,
    staff: Staff,
    reference: str,
    resend: LetterResend,
    submission_key: str,
    policy: LocalityPolicy,
    mailer: Mailer,
    now: dt.datetime,
) -> str | None:
    """The outbox key of the letter's new email (None when it goes by post), recorded now or before."""
    case = session.scalar(select(Case).where(Case.reference == reference))
    assert case is not None  # the caller found it in the staff member's localities
    body = resend.model_dump(mode="json")
    earlier = session.scalar(
        select(Submission).where(Submission.case_id == case.id, Submission.submission_key == submission_key)
    )
    if earlier is not None:
        if earlier.kind != KIND or earlier.body != body:
            raise KeyReused("This key was already used for a different action or body: use a new key.")
        if resend.send_by != SendBy.EMAIL:
            return None
        earlier_key = resent_letter_key(reference, earlier.id)
        status = session.scalar(
            select(OutboxMessage.status).where(OutboxMessage.idempotency_key == earlier_key)
        )
        if status == "sending":
            # The first sending of this form is talking to the mail server now: sending it a second time
            # at once would email the applicant twice. This one answers "not delivered yet".
            raise _BeingSent(earlier_key)
        return earlier_key
    letter = _letter(case, resend)
    if letter is None:
        raise InvalidDecision("code", f"This case has no letter {resend.code} (number {resend.sequence})")
    # Locked and read again: two people (or two keys) sending the same letter again at once take turns, and
    # the second finds it no longer failed (PostgreSQL; SQLite has one writer at a time anyway).
    session.refresh(letter, with_for_update=True)
    name = letter_name(letter.code, letter.sequence)
    failed = (
        session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == letter.outbox_key).with_for_update()
        )
        if letter.outbox_key
        else None
    )
    if letter.channel != "email" or letter.status != "failed" or failed is None or failed.status != "failed":
        raise DecisionRefused(f"{name} did not fail to be emailed, so it cannot be sent again from here.")
    if resend.send_by == SendBy.POST and not postal_address(case.application):
        raise InvalidDecision("send_by", NO_POSTAL_ADDRESS)
    submission = Submission(
        case_id=case.id,
        kind=KIND,
        submission_key=submission_key,
        body=body,
        submitted_by=f"{staff.name} ({staff.role})"[:300],
        submitted_at=now,
    )
    session.add(submission)
    session.flush()
    application = dict(case.application)
    key: str | None = None
    if resend.send_by == SendBy.EMAIL:
        assert resend.to is not None  # the model's rule
        key = resent_letter_key(reference, submission.id)
        mailer.record(_again(session, case, policy, failed, letter, key, str(resend.to), now), session)
        application["applicant"] = {**(application.get("applicant") or {}), "email": str(resend.to)}
        letter.outbox_key, letter.status = key, "sending"
        event = f"The applicant's {name} was sent again to a corrected email address."
    else:
        application["contact_preference"] = "post"
        # As a letter that went by post from the start: the print queue lists it until it is posted.
        letter.channel, letter.status, letter.outbox_key = "post", "queued_for_printing", None
        event = f"The applicant's {name} is to be sent again by post: it is in the print queue."
    # A new dict, so that the JSON column is written (and the name search kept, db.models).
    case.application = application
    case.updated_at = now
    failed.status = RESENT
    session.add(
        ChronologyEntry(
            case_id=case.id,
            event_key=f"letter-resent:{submission.id}",
            at=now,
            actor=staff.label[:200],
            event=event,
        )
    )
    add_audit(
        session,
        at=now,
        actor=staff.label,
        action="resend_letter",
        case_reference=reference,
        detail=f"letter #{letter.id} ({letter.code}) by {resend.send_by.value}; outbox #{failed.id} resent",
    )
    return key


class _BeingSent(Exception):
    """The same resend, sent again while its first sending is still delivering the email."""


def _letter(case: Case, resend: LetterResend) -> Letter | None:
    found = (
        letter for letter in case.letters if (letter.code, letter.sequence) == (resend.code, resend.sequence)
    )
    return next(found, None)


def _again(
    session: Session,
    case: Case,
    policy: LocalityPolicy,
    failed: OutboxMessage,
    letter: Letter,
    key: str,
    to: str,
    now: dt.datetime,
) -> OutgoingEmail:
    """The letter's email again, to `to`: its text as kept, the HTML of the message that failed, and, where
    the stored copies have the link to the applicant's case page removed, a new link (only its hash kept).
    Its purpose is the letter's code, so that the mailer attaches the letter's PDF."""
    text, html = letter.body_text, failed.body_html
    if _REDACTED_CASE_LINK in text or _REDACTED_CASE_LINK in html:
        token = ApplicantToken.add_case_page_link(session, case_id=case.id, now=now)
        text = text.replace(_REDACTED_CASE_LINK, applicant_link_path(token))
        html = html.replace(_REDACTED_CASE_LINK, applicant_link_path(token))
    return OutgoingEmail(
        idempotency_key=key,
        case_reference=case.reference,
        purpose=letter.code,
        sender=str(policy.email_from or policy.spoc.email),
        reply_to=str(policy.spoc.email),
        recipient=to,
        subject=letter.subject,
        body_text=text,
        body_html=html,
    )


def _recorded(sessions: sessionmaker[Session], **arguments: Any) -> str | None:
    attempts = 3
    for attempt in range(attempts):
        try:
            with sessions.begin() as session:
                return _record(session, **arguments)
        except (IntegrityError, OperationalError):
            # The same form a moment earlier (a double click) took the key, or, on SQLite, wrote after this
            # transaction began reading: the next try finds it, or goes ahead.
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


# ---- delivering it --------------------------------------------------------------------------------


async def _deliver(sessions: sessionmaker[Session], mailer: Mailer, key: str) -> str:
    """Deliver the letter's email now: its status afterwards (sent, failed, or pending in the outbox)."""
    try:
        # Never while another request (the same form sent again) or the outbox sweep is sending it.
        status = await deliver_resent_letter(sessions, mailer, key, claim_if=not_being_sent)
    except ApplicationError as error:
        if error.type == PERMANENT_FAILURE:
            return "failed"
        log.warning("a letter sent again could not be delivered yet: %s", error.type)
        return "pending"
    except Exception as error:  # recorded all the same; the message stays in the outbox
        log.warning("a letter sent again could not be delivered yet: %s", type(error).__name__)
        return "pending"
    return "pending" if status == LEFT_ALONE else "sent"


async def resend_letter(
    sessions: sessionmaker[Session],
    *,
    staff: Staff,
    reference: str,
    resend: LetterResend,
    idempotency_key: str,
    policy: LocalityPolicy,
    settings: Settings,
    now: dt.datetime,
) -> LetterResent:
    """Send the letter again as `resend` says (see the module's docstring); raises `InvalidDecision`,
    `DecisionRefused` or `KeyReused` (api.case_decisions) with nothing written."""
    mailer = resent_letter_mailer(settings, sessions)
    try:
        key = await run_in_threadpool(
            _recorded,
            sessions,
            staff=staff,
            reference=reference,
            resend=resend,
            # Per staff member, so that two people who happen to choose the same key never share a result.
            submission_key=update_id_for(KIND, str(staff.id), idempotency_key),
            policy=policy,
            mailer=mailer,
            now=now,
        )
    except _BeingSent:
        return LetterResent(
            code=resend.code, sequence=resend.sequence, send_by=resend.send_by, status="pending"
        )
    status = "queued_for_printing" if key is None else await _deliver(sessions, mailer, key)
    return LetterResent(code=resend.code, sequence=resend.sequence, send_by=resend.send_by, status=status)
