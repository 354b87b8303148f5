"""The activity that sends the applicant a letter: by email unless they asked for post, when it is queued
for printing.

Idempotent on (case, code, sequence), because Temporal runs an activity at least once: a retry finds the
letter recorded and only finishes delivering its email.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import CaseFiles
from activities.mail import PERMANENT_FAILURE, activity_now, redact_links, utc_now
from db.models import ApplicantToken, Case, Letter
from domain.application import Application, ContactPreference
from domain.links import APPLICANT_LINK_LIFETIME, ApplicantTokenPurpose, applicant_link_path
from workflows.models import LetterRequest, LetterSent


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
            rendered = self._renderer.render(
                f"letters/{request.code.value}.j2",
                {
                    **self._context(case, policy, application),
                    "letter": {
                        "code": request.code.value,
                        "sequence": request.sequence,
                        "dated": request.dated,
                        "next_update_by": request.next_update_by,
                    },
                    # In this transaction, with the letter: a retry finds the letter and issues no other.
                    "case_page": self._case_page(session, case, by_email=by_email, has_email=bool(email)),
                },
            )
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
            )
            session.add(letter)
            if by_email and email and outbox_key:
                self._queue_email(session, case, policy, outbox_key, request.code.value, email, rendered)
            session.flush()
            return letter, outbox_key

    def _case_page(self, session: Session, case: Case, *, by_email: bool, has_email: bool) -> dict[str, Any]:
        """What the letter says about the applicant's own case page: an emailed letter carries a new link
        (only its hash is kept); a posted one carries none (a printed token would be kept in the letter's
        text and could be read by whoever handles the post), but says where to ask for one by email when
        the application gave an email address."""
        base = self._settings.public_base_url.rstrip("/")
        link = None
        if by_email:
            now = activity_now()
            token, row = ApplicantToken.issue(
                ApplicantTokenPurpose.APPLICANT_LINK.value,
                case_id=case.id,
                issued_at=now,
                expires_at=now + APPLICANT_LINK_LIFETIME,
            )
            session.add(row)
            link = f"{base}{applicant_link_path(token)}"
        return {"link": link, "ask_url": f"{base}/case/new-link" if has_email else None}

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
