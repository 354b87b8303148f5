"""The staff page of emails that could not be delivered, `/staff/failed-mail`, for the cases of the staff
member's areas: the information requests whose email failed, each with a link to send it again to a
corrected address (the resend action page, the JSON API's `information-requests/resend`), and every other
email that failed for good (as `GET /api/mail/failed` lists them), a letter to the applicant with a link to
send it again. Audited as the JSON list is.

Sending a letter again has its action page here, `/staff/cases/{reference}/resend-letter?letter=<id>`: to a
corrected email address, or by post (api.letter_resend, the JSON API's `letters/resend`: the same function).
It is built as the other action pages are (api.staff.action_pages: CSRF, the form's own key, the error
summary, 404 for another area's case, every refusal audited), but needs no case service, and comes back
here with a banner that says how it went.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.letter_pdf import LETTER_NAMES, letter_name
from api.audit import add_audit
from api.case_decisions import DecisionRefused, InvalidDecision, KeyReused
from api.case_store import failed_mail_of
from api.deps import NowDep, PoliciesDep, SessionDep, SessionFactoryDep, SettingsDep, TodayDep
from api.letter_resend import LetterResend, failed_letters, postal_address, resend_letter
from api.link_pages import FormError, errors_by_field, redirect
from api.staff.action_pages import (
    FORM_KEY,
    KEY_REUSED,
    Shown,
    StaffCaseDep,
    audit,
    case_url,
    checked_fields,
    form_refused_page,
)
from api.staff.form_parts import OPEN_REQUEST_STATES, FormContext
from api.staff.letter_forms import SEND_BY, ResendLetterForm
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep
from core.config import Settings
from db.models import Case, InformationRequest, Letter, OutboxMessage
from domain.staff import Permission, may

router = APIRouter(prefix="/staff", include_in_schema=False)

PAGE_PATH = "/staff/failed-mail"
RESEND_LETTER = "resend-letter"
RESEND_TITLE = "Send a letter to the applicant again"
NOT_OFFERED = "No letter of this case is waiting to be sent again."
_REFERENCE = re.compile(r"^[A-Z0-9-]{1,40}$")
# The banner after a letter was sent again, by how it went (api.letter_resend.LetterResent.status).
LETTER_DONE = {
    "sent": "The letter to the applicant of case {reference} has been sent again to the corrected address.",
    "queued_for_printing": (
        "The letter to the applicant of case {reference} is in the print queue. Later letters will go by "
        "post."
    ),
    "failed": (
        "The corrected address of case {reference} was refused too, so the letter is listed again below. "
        "The address is kept as the applicant's."
    ),
}
# The letter is recorded to go to the corrected address, but the mail server did not take it: the form is
# shown again with its key, so that sending it again delivers the letter (once).
NOT_SENT_YET = (
    "The mail server did not take the letter just now, so it has not gone yet. Send this form again in a "
    "minute: the letter will be sent once."
)


@dataclass(frozen=True)
class FailedRequest:
    """An information request whose email failed: resent to a corrected address from its action page."""

    reference: str
    request_key: str
    agency: str
    address: str | None
    due_on: object


def _failed(
    session: Session, signed_in: SignedIn
) -> tuple[list[FailedRequest], list[OutboxMessage], dict[int, int]]:
    localities = signed_in.staff.localities
    rows = session.execute(
        select(InformationRequest, Case.reference)
        .join(Case, Case.id == InformationRequest.case_id)
        .where(
            Case.locality.in_(localities),
            Case.stage != "closed",
            InformationRequest.delivery == "failed",
            InformationRequest.state.in_(OPEN_REQUEST_STATES),
        )
        .order_by(Case.reference, InformationRequest.id)
    ).all()
    requests = [
        FailedRequest(reference, r.request_key, r.agency_name, r.agency_email, r.due_on)
        for r, reference in rows
    ]
    messages = failed_mail_of(session, None, localities)
    letters = _letters_to_send_again(session, messages)
    add_audit(
        session,
        actor=signed_in.staff.label,
        action="list_failed_mail",
        case_reference=None,
        detail=f"{len(messages)} messages; {len(requests)} requests",
    )
    session.commit()
    return requests, messages, letters


def _letters_to_send_again(session: Session, messages: Sequence[OutboxMessage]) -> dict[int, int]:
    """The failed messages that are letters to the applicant which can be sent again: message id -> letter
    id (the letter whose email the message was)."""
    keys = {m.idempotency_key: m.id for m in messages if m.purpose in LETTER_NAMES and m.case_reference}
    if not keys:
        return {}
    letters = session.scalars(
        select(Letter).where(
            Letter.outbox_key.in_(keys), Letter.channel == "email", Letter.status == "failed"
        )
    )
    return {keys[letter.outbox_key]: letter.id for letter in letters if letter.outbox_key}


def _forbidden(signed_in: SignedIn, settings: Settings, back: str, current: str) -> Response:
    # The page names its own title ("You cannot do this").
    return staff_page(
        "staff/actions/forbidden.html", signed_in, settings, status_code=403, current=current, case_url=back
    )


@router.get("/failed-mail")
async def failed_mail(
    signed_in: SignedInDep,
    settings: SettingsDep,
    session: SessionDep,
    done: str = "",
    case: Annotated[str, Query()] = "",
) -> Response:
    if not may(signed_in.staff.role, Permission.MANAGE_INFORMATION_REQUESTS):
        return _forbidden(signed_in, settings, "/staff", "failed-mail")
    requests, messages, letters = await run_in_threadpool(_failed, session, signed_in)
    banner = LETTER_DONE.get(done, "").format(reference=case) if _REFERENCE.match(case) else ""
    return staff_page(
        "staff/failed_mail.html",
        signed_in,
        settings,
        current="failed-mail",
        requests=requests,
        messages=messages,
        may_resend=may(signed_in.staff.role, Permission.MANAGE_INFORMATION_REQUESTS),
        letters=letters if may(signed_in.staff.role, Permission.RESEND_LETTERS) else {},
        banner=banner,
        banner_success=done in ("sent", "queued_for_printing"),
    )


# ---- sending a letter again -------------------------------------------------------------------------


def _letter_offers(session: Session, case: Case) -> dict[str, Any]:
    """The case's failed letters (with the address that failed and why) and the applicant's details the
    choice rests on."""
    letters = failed_letters(case)
    keys = [letter.outbox_key for letter in letters if letter.outbox_key]
    messages = {
        m.idempotency_key: m
        for m in session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.in_(keys)))
    }
    offered = []
    for letter in letters:
        message = messages.get(letter.outbox_key or "")
        offered.append(
            {
                "id": letter.id,
                "name": letter_name(letter.code, letter.sequence),
                "sent_on": letter.sent_on,
                "address": message.recipient if message else None,
                "error": message.last_error if message else None,
            }
        )
    applicant = case.application.get("applicant") or {}
    address = postal_address(case.application)
    postcode = str(applicant.get("postcode") or "").strip()
    return {
        "letters": offered,
        "send_by_choices": SEND_BY,
        "current_email": str(applicant.get("email") or ""),
        "postal_address": ", ".join(part for part in (address, postcode) if part) if address else "",
    }


def _letter_form(
    signed_in: SignedIn,
    settings: Settings,
    context: FormContext,
    offers: Mapping[str, Any],
    values: Mapping[str, str],
    shown: Shown = Shown(),
    status_code: int = 200,
) -> Response:
    reference = context.case.reference
    return staff_page(
        f"staff/actions/{RESEND_LETTER}.html",
        signed_in,
        settings,
        status_code=status_code,
        current="failed-mail",
        title=RESEND_TITLE,
        submit="Send the letter again",
        reference=reference,
        case_url=case_url(reference),
        action_url=f"{case_url(reference)}/{RESEND_LETTER}",
        values=values,
        errors=list(shown.errors),
        error_for=errors_by_field(shown.errors),
        refusal=shown.refusal,
        unavailable=shown.unavailable,
        not_offered="" if offers["letters"] else NOT_OFFERED,
        rows_in_form=False,
        **offers,
    )


@router.get(f"/cases/{{reference}}/{RESEND_LETTER}")
async def resend_letter_form(
    signed_in: SignedInDep,
    settings: SettingsDep,
    session: SessionDep,
    case: StaffCaseDep,
    policies: PoliciesDep,
    today: TodayDep,
    letter: str = "",
) -> Response:
    if not may(signed_in.staff.role, Permission.RESEND_LETTERS):
        return _forbidden(signed_in, settings, case_url(case.reference), "cases")
    context = FormContext(case=case, policy=policies[case.locality], today=today, letter_id=letter)
    offers = await run_in_threadpool(_letter_offers, session, case)
    values = {**ResendLetterForm.blank(context), "form_key": uuid.uuid4().hex}
    return _letter_form(signed_in, settings, context, offers, values)


@router.post(f"/cases/{{reference}}/{RESEND_LETTER}")
async def send_letter_again(
    request: Request,
    signed_in: SignedInDep,
    settings: SettingsDep,
    session: SessionDep,
    sessions: SessionFactoryDep,
    case: StaffCaseDep,
    policies: PoliciesDep,
    today: TodayDep,
    now: NowDep,
) -> Response:
    reference = case.reference
    fields = await checked_fields(request, signed_in, settings, session, RESEND_LETTER, reference)
    if isinstance(fields, Response):
        return fields
    if not may(signed_in.staff.role, Permission.RESEND_LETTERS):
        await audit(session, signed_in, "staff_action_refused", reference, f"{RESEND_LETTER}: role")
        return _forbidden(signed_in, settings, case_url(reference), "cases")
    form_key = fields.get("form_key", "")
    if not FORM_KEY.match(form_key):
        await audit(session, signed_in, "staff_form_refused", reference, f"{RESEND_LETTER}: form key")
        return form_refused_page(signed_in, settings, case_url(reference))
    policy = policies[case.locality]
    context = FormContext(case=case, policy=policy, today=today, letter_id=fields.get("letter", ""))
    values = {**ResendLetterForm.read(fields), "form_key": form_key}
    offers = await run_in_threadpool(_letter_offers, session, case)

    async def again(
        status_code: int, shown: Shown, detail: str, action: str = "staff_action_refused"
    ) -> Response:
        # Never what was typed: the address is personal data.
        await audit(session, signed_in, action, reference, f"{RESEND_LETTER}: {detail}")
        return _letter_form(signed_in, settings, context, offers, values, shown, status_code)

    checked = ResendLetterForm.check(values, context)
    if isinstance(checked, list) and not offers["letters"]:
        # Checked only now: a form sent twice finds its letter sent, and must still be answered as the first.
        return await again(409, Shown(refusal=NOT_OFFERED), "not offered")
    if isinstance(checked, list):
        fields_wrong = ", ".join(sorted({error.field for error in checked}))
        return await again(400, Shown(errors=checked), f"invalid {fields_wrong}")
    assert isinstance(checked, LetterResend)
    try:
        resent = await resend_letter(
            sessions,
            staff=signed_in.staff,
            reference=reference,
            resend=checked,
            idempotency_key=form_key,
            policy=policy,
            settings=settings,
            now=now,
        )
    except InvalidDecision as error:
        anchor = ResendLetterForm.anchors.get(error.field, error.field)
        return await again(400, Shown(errors=[FormError(anchor, error.message)]), f"invalid {error.field}")
    except KeyReused:
        # The earlier answers keep the key; these go with a new one.
        values["form_key"] = uuid.uuid4().hex
        return await again(409, Shown(refusal=KEY_REUSED), "form sent before with other answers")
    except DecisionRefused as error:
        return await again(409, Shown(refusal=error.message), "letter not failed")
    if resent.status == "pending":
        # `offers` still lists the letter, as it was before this form was sent: the form shows again.
        # Recorded (and audited as resend_letter), only not delivered yet: not a refusal.
        return await again(
            503, Shown(unavailable=NOT_SENT_YET), "recorded, not delivered yet", "resend_letter_pending"
        )
    return redirect(f"{PAGE_PATH}?done={resent.status}&case={reference}")
