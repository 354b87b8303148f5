"""Information or a document the applicant adds about the anti-social behaviour from their case page, while
the case is open: reading and checking the form (one file at most, of the types and size an agency may
send), and recording it in one transaction: the submission (its words), its file, a chronology entry and
an audit entry without the words, and the SPOC's notice in the outbox (no personal data in it).

The case's course and deadlines do not change, so its workflow is not told: nothing of it goes into a
workflow's history. The outbox keeps the notice until it is sent, by the request (api.routes.case_information)
or, when that could not, by the outbox sweep (activities.outbox_sweep).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from activities.api_mail import INFORMATION_NOTICE_PURPOSE, information_notice_key
from activities.mail import Mailer, OutgoingEmail
from activities.rendering import Renderer
from api.agency.uploads import MAX_FILE_BYTES, CheckedFile, Upload, check_attachments, read_form_with_files
from api.applicant.sessions import ACTOR, ApplicantView
from api.audit import add_audit
from api.case_store import APPLICANT_INFORMATION
from api.link_pages import FormError, form_text
from db.models import Attachment, Case, ChronologyEntry, Submission
from domain.policy import LocalityPolicy

KIND = APPLICANT_INFORMATION
TEXT_LIMIT = 10000
# A stolen link should not be able to fill the case (and the SPOC's inbox) with files: beyond this many
# additions in a day the applicant is asked to email the team instead.
ADDITIONS_A_DAY = 10
# The form at its largest: one file, the text and the form's own parts. Beyond it, stop reading.
MAX_BODY_BYTES = MAX_FILE_BYTES + 1024 * 1024
# The form's own key (a hidden field, new each time the form is shown): the same form sent twice is one
# addition, and a form shown again is another.
FORM_KEY = re.compile(r"[A-Za-z0-9_-]{22,64}")
# Control characters (tab and line feed apart) mean nothing in a text, and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_renderer = Renderer()


# ---- the form ----------------------------------------------------------------------------------


async def read_information_form(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields (the first of each name) and its document (one too big to accept is not
    read). Raises BodyTooLarge, or Starlette's HTTPException for a malformed form."""
    return await read_form_with_files(
        request, limit=MAX_BODY_BYTES, file_field="document", max_files=3, max_fields=20
    )


@dataclass(frozen=True)
class NewInformation:
    """What the applicant sent: the text ("" when they sent only a document) and the document, if any."""

    text: str
    document: CheckedFile | None

    def body(self) -> dict[str, Any]:
        """The submission's body. The file itself is kept beside it (attachments); its name and digest here
        tell a second sending of the same form from a changed one."""
        document = self.document
        return {
            "text": self.text,
            "document": None
            if document is None
            else {"filename": document.filename, "sha256": document.sha256, "size": len(document.content)},
        }


def check_information(
    values: Mapping[str, str], uploads: list[Upload]
) -> tuple[NewInformation, list[FormError]]:
    """The information as sent, and a message for each problem (any problem: nothing is recorded)."""
    text = _CONTROL.sub("", form_text(values, "information")).strip()
    errors: list[FormError] = []
    if not text and not uploads:
        errors.append(FormError("information", "Enter the information you want to add, or choose a document"))
    elif len(text) > TEXT_LIMIT:
        errors.append(FormError("information", f"The information must be {TEXT_LIMIT:,} characters or fewer"))
    document: CheckedFile | None = None
    if len(uploads) > 1:
        errors.append(FormError("document", "Select one document"))
    elif uploads:
        files, problems = check_attachments(uploads)
        errors += [FormError("document", problem) for problem in problems]
        document = files[0] if files else None
    return NewInformation(text=text, document=document), errors


def submission_key(session_hash: str, form_key: str) -> str:
    """The submission's key: the form's key, bound to the session it was shown in."""
    digest = hashlib.sha256(f"{session_hash}|{form_key}".encode()).hexdigest()
    return f"{KIND}:{digest}"


# ---- recording it ------------------------------------------------------------------------------


class Outcome(StrEnum):
    ADDED = "added"
    # The same form again (a double click, a refresh): already recorded, nothing more written.
    REPEATED = "repeated"
    # The same form's key with something else in it (sent, then changed and sent again from the back button).
    CHANGED = "changed"
    CLOSED = "closed"
    TOO_MANY = "too_many"


@dataclass(frozen=True)
class Recorded:
    outcome: Outcome
    # The SPOC's notice to deliver (added, or repeated: it may not have gone the first time).
    notice_key: str | None = None


def chronology_event(information: NewInformation) -> str:
    """What the chronology says: that the applicant added something, never their words."""
    if information.document is None:
        return "The applicant added information."
    if not information.text:
        return "The applicant added a document."
    return "The applicant added information and a document."


def record_information(
    sessions: sessionmaker[Session],
    *,
    applicant: ApplicantView,
    policy: LocalityPolicy,
    mailer: Mailer,
    case_url: str,
    key: str,
    information: NewInformation,
    now: dt.datetime,
) -> Recorded:
    """Record the information, its file, the chronology and audit entries and the SPOC's notice, all in one
    transaction; or nothing, and why (see Outcome)."""
    attempts = 3
    for attempt in range(attempts):
        try:
            with sessions.begin() as session:
                return _record(session, applicant, policy, mailer, case_url, key, information, now)
        except (IntegrityError, OperationalError):
            # The same form a moment earlier from another request (a double click) took the key, or, on
            # SQLite, wrote after this transaction began reading: the next try finds it, or goes ahead.
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _record(
    session: Session,
    applicant: ApplicantView,
    policy: LocalityPolicy,
    mailer: Mailer,
    case_url: str,
    key: str,
    information: NewInformation,
    now: dt.datetime,
) -> Recorded:
    case = session.get(Case, applicant.case_id)
    assert case is not None  # the session's case: a foreign key
    body = information.body()
    existing = session.scalar(
        select(Submission).where(Submission.case_id == case.id, Submission.submission_key == key)
    )
    if existing is not None:
        if existing.kind != KIND or existing.body != body:
            return Recorded(Outcome.CHANGED)
        return Recorded(Outcome.REPEATED, information_notice_key(case.reference, existing.id))
    # Checked here, not only on the page: the case may have closed since the form was shown.
    if case.stage == "closed":
        return Recorded(Outcome.CLOSED)
    today = session.scalar(
        select(func.count(Submission.id)).where(
            Submission.case_id == case.id,
            Submission.kind == KIND,
            Submission.submitted_at > now - dt.timedelta(days=1),
        )
    )
    if (today or 0) >= ADDITIONS_A_DAY:
        return Recorded(Outcome.TOO_MANY)

    submission = Submission(
        case_id=case.id,
        kind=KIND,
        submission_key=key,
        body=body,
        submitted_by=applicant.submitted_by[:300],
        submitted_at=now,
    )
    session.add(submission)
    session.flush()
    document = information.document
    if document is not None:
        session.add(
            Attachment(
                case_id=case.id,
                request_id=None,
                submission_id=submission.id,
                filename=document.filename,
                content_type=document.content_type,
                size=len(document.content),
                sha256=document.sha256,
                content=document.content,
                accepted=True,
                uploaded_at=now,
            )
        )
    session.add(
        ChronologyEntry(
            case_id=case.id,
            event_key=f"applicant-information:{submission.id}",
            at=now,
            actor=applicant.submitted_by[:200],
            event=chronology_event(information),
        )
    )
    add_audit(
        session,
        at=now,
        actor=ACTOR,
        action="applicant_information_added",
        case_reference=case.reference,
        detail=f"submission #{submission.id}; {'a document' if document is not None else 'no document'}",
    )
    key_of_notice = information_notice_key(case.reference, submission.id)
    mailer.record(_notice(case, policy, case_url, key_of_notice, with_document=document is not None), session)
    return Recorded(Outcome.ADDED, key_of_notice)


def _notice(
    case: Case, policy: LocalityPolicy, case_url: str, key: str, *, with_document: bool
) -> OutgoingEmail:
    """The SPOC's notice: the case's reference and where to read it, never what the applicant wrote."""
    rendered = _renderer.render(
        "emails/applicant-information.j2",
        {
            "case": {"reference": case.reference, "stage": case.stage},
            "council": policy,
            "recipient": policy.spoc,
            "case_url": case_url,
            "with_document": with_document,
        },
    )
    return OutgoingEmail(
        idempotency_key=key,
        case_reference=case.reference,
        purpose=INFORMATION_NOTICE_PURPOSE,
        sender=str(policy.email_from or policy.spoc.email),
        reply_to=None,
        recipient=str(policy.spoc.email),
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
    )
