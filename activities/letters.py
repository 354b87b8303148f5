"""The activity that sends the applicant a letter: by email unless they asked for post, when it is queued
for printing (the staff print queue, api/routes/staff_print_queue.py).

Every letter is also made as a PDF (activities/letter_pdf.py) and kept with the case as sent, its SHA-256
in the chronology; an emailed letter carries it as an attachment.

Idempotent on (case, code, sequence), because Temporal runs an activity at least once: a retry finds the
letter recorded and only finishes delivering its email.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import CaseFiles
from activities.letter_pdf import LETTER_NAMES, LetterPdf, attachment_filename, render_letter_pdf, short_name
from activities.mail import PERMANENT_FAILURE, MailAttachment, activity_now, redact_links, utc_now
from db.models import ApplicantToken, Case, ChronologyEntry, Letter, OutboxMessage
from domain.application import Application, ContactPreference
from domain.links import applicant_link_path
from workflows.models import LetterRequest, LetterSent

log = logging.getLogger(__name__)

# Who the chronology says made the PDF.
SERVICE = "Community Trigger service"

# An update letter says why the step is late: first, the organisations whose answers it still waits for.
_WAITS_FOR = {"update-threshold": "threshold", "update-outcome": "review"}


def _waiting_for(case: Case, code: str) -> list[str]:
    """The organisations whose answers the late step still waits for, by name (an update letter's why)."""
    purpose = _WAITS_FOR.get(code)
    return sorted(
        {
            request.agency_name
            for request in case.information_requests
            if request.purpose == purpose and request.state in ("requested", "no_contact")
        }
    )


def letter_attachments(session: Session, message: OutboxMessage) -> list[MailAttachment]:
    """The mailer's attachments hook for letters: an emailed letter carries its PDF as kept with the case
    (none for letters from before PDFs). The letter is the one whose `outbox_key` is the message's, so a
    letter sent again by staff (api.letter_resend) carries it too."""
    if message.purpose not in LETTER_NAMES or message.case_reference is None:
        return []
    letter = session.scalar(
        select(Letter)
        .join(Case, Case.id == Letter.case_id)
        .where(Case.reference == message.case_reference, Letter.outbox_key == message.idempotency_key)
    )
    if letter is None or letter.pdf is None:
        return []
    filename = attachment_filename(message.case_reference, letter.code, letter.sequence)
    return [MailAttachment(filename=filename, content_type="application/pdf", content=letter.pdf)]


class Letters(CaseFiles):
    """Letters to the applicant."""

    @activity.defn
    async def send_letter(self, request: LetterRequest) -> LetterSent:
        letter, outbox_key = await asyncio.to_thread(self._prepare_letter, request)
        if outbox_key is not None and letter.status != "sent":
            await self._mailer.deliver(outbox_key)
            await asyncio.to_thread(self._letter_sent, letter.id)
        if request.copy_to_spoc:
            # After the applicant's: a SPOC's mailbox that fails does not hold the applicant's letter back.
            copy_key = await asyncio.to_thread(self._copy_to_spoc, request, letter.id)
            try:
                await self._mailer.deliver(copy_key)
            except ApplicationError as error:
                if error.type != PERMANENT_FAILURE:
                    raise
                # The letter went; the failed copy is in the failed-mail list and the manager is told.
        return LetterSent(
            code=request.code,
            sequence=request.sequence,
            channel=letter.channel,
            status="sent" if outbox_key else letter.status,
            sent_on=letter.sent_on,
        )

    def _prepare_letter(self, request: LetterRequest) -> tuple[Letter, str | None]:
        with self._sessions.begin() as session:
            case = self._case(session, request.reference)
            letter = session.scalar(
                select(Letter).where(
                    Letter.case_id == case.id,
                    Letter.code == request.code.value,
                    Letter.sequence == request.sequence,
                )
            )
            if letter is not None:
                return letter, letter.outbox_key
            policy = self._policy(case.locality)
            application = Application.model_validate(case.application)
            email = application.applicant.email
            by_email = bool(email) and application.contact_preference != ContactPreference.POST
            template = f"letters/{request.code.value}.j2"
            context = {
                **self._context(case, policy, application),
                "letter": {
                    "code": request.code.value,
                    "sequence": request.sequence,
                    "dated": request.dated,
                    "next_update_by": request.next_update_by,
                },
                # In this transaction, with the letter: a retry finds the letter and issues no other.
                "case_page": self._case_page(session, case, by_email=by_email, has_email=bool(email)),
                "waiting_for": _waiting_for(case, request.code.value),
            }
            pdf = self._pdf_of(case, request, template, context)
            context["letter"]["pdf_attached"] = by_email and pdf is not None
            rendered = self._renderer.render(template, context)
            outbox_key = (
                f"{case.reference}:letter:{request.code.value}:{request.sequence}:{email}"
                if by_email
                else None
            )
            letter = Letter(
                case_id=case.id,
                code=request.code.value,
                sequence=request.sequence,
                sent_on=request.dated,
                channel="email" if by_email else "post",
                status="sending" if by_email else "queued_for_printing",
                subject=rendered.subject,
                # The letter as kept on the case: without its link's token (the email carries it).
                body_text=redact_links(rendered.text),
                outbox_key=outbox_key,
                created_at=utc_now(),
                pdf=pdf.content if pdf else None,
                pdf_sha256=pdf.sha256 if pdf else None,
            )
            session.add(letter)
            name = short_name(request.code.value, request.sequence)
            if pdf is not None:
                pages = f"{pdf.pages} {'page' if pdf.pages == 1 else 'pages'}"
                event = f"{name} kept with the case as a PDF of {pages} (SHA-256 {pdf.sha256})."
            else:
                event = f"{name}: its PDF could not be made, so it went without one (its text is kept)."
            session.add(
                ChronologyEntry(
                    case_id=case.id,
                    event_key=f"letter-pdf:{request.code.value}:{request.sequence}",
                    # Temporal's time, so that it sorts with the workflow's own entries.
                    at=activity_now(),
                    actor=SERVICE,
                    event=event,
                )
            )
            if by_email and email and outbox_key:
                self._queue_email(session, case, policy, outbox_key, request.code.value, email, rendered)
            session.flush()
            return letter, outbox_key

    def _pdf_of(
        self, case: Case, request: LetterRequest, template: str, context: dict[str, Any]
    ) -> LetterPdf | None:
        """The letter's PDF, made in this thread (the activity runs this method in one: a tenth of a second
        of CPU); None if it cannot be made, as a letter must never wait on its PDF: it goes without one
        (the print queue prints a posted one from its kept text), and the log and chronology say so."""
        try:
            return render_letter_pdf(self._renderer, template, context)
        except Exception as error:
            # The reference and the error's type only: its message may quote the letter.
            log.warning(
                "letter %s %s:%s went without a PDF (%s)",
                case.reference,
                request.code.value,
                request.sequence,
                type(error).__name__,
            )
            return None

    def _case_page(self, session: Session, case: Case, *, by_email: bool, has_email: bool) -> dict[str, Any]:
        """What the letter says about the applicant's own case page: an emailed letter carries a new link
        (only its hash is kept); a posted one carries none (a printed token would be kept in the letter's
        text and could be read by whoever handles the post), but says where to ask for one by email when
        the application gave an email address."""
        base = self._settings.public_base_url.rstrip("/")
        link = None
        if by_email:
            now = activity_now()
            token = ApplicantToken.add_case_page_link(session, case_id=case.id, now=now)
            link = f"{base}{applicant_link_path(token)}"
        return {"link": link, "ask_url": f"{base}/case/new-link" if has_email else None}

    def _mail_attachments(self, session: Session, message: OutboxMessage) -> list[MailAttachment]:
        return letter_attachments(session, message)

    def _copy_to_spoc(self, request: LetterRequest, letter_id: int) -> str:
        """Tell the SPOC, once, that the letter went (the letter itself is on the case: no personal data
        by email)."""
        with self._sessions.begin() as session:
            case = self._case(session, request.reference)
            policy = self._policy(case.locality)
            letter = session.get(Letter, letter_id)
            assert letter is not None
            key = f"{case.reference}:letter-copy:{request.code.value}:{request.sequence}:{policy.spoc.email}"
            if not self._mailer.exists(session, key):
                rendered = self._renderer.render(
                    "emails/letter-copy.j2",
                    {
                        "case": self._case_summary(case),
                        "council": policy,
                        "recipient": policy.spoc,
                        "letter": {"code": letter.code, "sent_on": letter.sent_on, "channel": letter.channel},
                        "case_url": self._case_url(case.reference),
                    },
                )
                self._queue_email(
                    session,
                    case,
                    policy,
                    key,
                    "letter-copy",
                    str(policy.spoc.email),
                    rendered,
                    reply_to=False,
                )
            return key

    def _letter_sent(self, letter_id: int) -> None:
        with self._sessions.begin() as session:
            letter = session.get(Letter, letter_id)
            assert letter is not None
            letter.status = "sent"
