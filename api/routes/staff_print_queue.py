"""The staff print queue, `/staff/print-queue`: the letters to applicants who asked for post, of the staff
member's localities, waiting to be printed and posted. Each can be downloaded as its PDF, or all of them
as one PDF; a form marks those posted on a day (today unless changed; never in the future, nor before the
letter's date), which is recorded on the letter, in its case's chronology ("Letter 3 posted on ...") and
in the audit log.

A letter's PDF as kept with its case is also at `/staff/cases/{reference}/letters/{id}/pdf`, for any
letter the member of staff may see. Only SPOCs and managers (`Permission.POST_LETTERS`) use the queue.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from activities.letter_pdf import (
    attachment_filename,
    combined_pdf,
    kept_text_pdf,
    letter_name,
    short_name,
)
from activities.rendering import Renderer, long_date
from api.audit import add_staff_audit
from api.case_store import case_for_staff
from api.deps import NowDep, PoliciesDep, SessionFactoryDep, SettingsDep, TodayDep
from api.link_pages import FormError, errors_by_field, redirect
from api.security_headers import download_headers
from api.staff.action_pages import audit, form_refused_page, not_found_page
from api.staff.form_parts import date_fields, parse_date
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep, check_csrf
from core.config import Settings
from db.models import Case, ChronologyEntry, Letter
from domain.application import Application
from domain.policy import LocalityPolicy
from domain.staff import Permission, may

router = APIRouter(prefix="/staff", include_in_schema=False)

QUEUE_PATH = "/staff/print-queue"
_ID = re.compile(r"^[0-9]{1,12}$")
_REFERENCE = re.compile(r"^[A-Z0-9-]{1,40}$")
# The letters a form may mark at once (a council's week of post is far fewer).
MOST_LETTERS = 500
_RENDERER = Renderer()
NOT_IN_THE_FUTURE = "The date the letters were posted must be today or in the past"
RACED = "Someone else has just marked some of these letters as posted: check the list and try again"


@dataclass(frozen=True)
class Waiting:
    """A posted letter in the queue: what staff need to find it, nothing about the applicant."""

    id: int
    reference: str
    name: str
    dated: dt.date
    made_on: dt.date


@dataclass(frozen=True)
class Posted:
    reference: str
    name: str
    posted_on: dt.date
    posted_by: str


def _waiting(session: Session, localities: frozenset[str], upto: int | None = None) -> list[Letter]:
    """The posted letters of these localities not yet posted, oldest first (up to letter `upto`: the list
    as a page showed it, so that a download is what that page listed)."""
    query = (
        select(Letter)
        .join(Case, Case.id == Letter.case_id)
        .where(Case.locality.in_(localities), Letter.channel == "post", Letter.posted_on.is_(None))
        .order_by(Letter.created_at, Letter.id)
    )
    if upto is not None:
        query = query.where(Letter.id <= upto)
    return list(session.scalars(query))


def _recently_posted(session: Session, localities: frozenset[str]) -> list[Posted]:
    rows = session.execute(
        select(Letter, Case.reference)
        .join(Case, Case.id == Letter.case_id)
        .where(Case.locality.in_(localities), Letter.posted_on.is_not(None))
        .order_by(Letter.posted_on.desc(), Letter.id.desc())
        .limit(10)
    ).all()
    return [
        Posted(reference, letter_name(letter.code, letter.sequence), letter.posted_on, letter.posted_by or "")
        for letter, reference in rows
        if letter.posted_on is not None
    ]


def _as_waiting(letter: Letter) -> Waiting:
    return Waiting(
        id=letter.id,
        reference=letter.case.reference,
        name=letter_name(letter.code, letter.sequence),
        dated=letter.sent_on,
        made_on=letter.created_at.date(),
    )


def _forbidden(signed_in: SignedIn, settings: Settings) -> Response:
    return staff_page(
        "staff/actions/forbidden.html",
        signed_in,
        settings,
        status_code=403,
        current="print",
        case_url="/staff",
    )


# ---- the page ---------------------------------------------------------------------------------------


def _page(
    sessions: sessionmaker[Session], signed_in: SignedIn, now: dt.datetime
) -> tuple[list[Waiting], list[Posted]]:
    localities = signed_in.staff.localities
    with sessions() as session:
        waiting = [_as_waiting(letter) for letter in _waiting(session, localities)]
        recent = _recently_posted(session, localities)
        add_staff_audit(
            session, signed_in.staff, now, "view_print_queue", None, f"{len(waiting)} letters waiting"
        )
        session.commit()
    return waiting, recent


def _show(
    signed_in: SignedIn,
    settings: Settings,
    waiting: Sequence[Waiting],
    recent: Sequence[Posted],
    values: Mapping[str, Any],
    errors: Sequence[FormError] = (),
    notice: str = "",
    status_code: int = 200,
) -> Response:
    return staff_page(
        "staff/print_queue.html",
        signed_in,
        settings,
        status_code=status_code,
        current="print",
        title="Print queue",
        waiting=waiting,
        recent=recent,
        upto=max((letter.id for letter in waiting), default=0),
        values=values,
        errors=list(errors),
        error_for=errors_by_field(errors),
        has_errors=bool(errors),
        notice=notice,
    )


@router.get("/print-queue")
async def print_queue(
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    today: TodayDep,
    now: NowDep,
    posted: str = "",
) -> Response:
    if not may(signed_in.staff.role, Permission.POST_LETTERS):
        return _forbidden(signed_in, settings)
    waiting, recent = await run_in_threadpool(_page, sessions, signed_in, now)
    day = date_fields(today)
    values = {
        "letters": {letter.id for letter in waiting},
        **{f"posted-{part}": value for part, value in day.items()},
    }
    notice = ""
    if posted.isdigit() and int(posted) > 0:
        count = int(posted)
        notice = f"{count} {'letter' if count == 1 else 'letters'} marked as posted."
    return _show(signed_in, settings, waiting, recent, values, notice=notice)


# ---- PDFs ----------------------------------------------------------------------------------------


def _pdf_of(letter: Letter, policies: Mapping[str, LocalityPolicy]) -> bytes:
    """The letter's PDF as kept; for a letter sent before PDFs, one made from its kept text."""
    if letter.pdf is not None:
        return letter.pdf
    case = letter.case
    applicant = Application.model_validate(case.application).applicant
    return kept_text_pdf(_RENDERER, policies[case.locality], applicant, letter).content


def _download(content: bytes, filename: str) -> Response:
    return Response(
        content=content,
        media_type="application/pdf",
        headers=download_headers(f'attachment; filename="{filename}"'),
    )


def _all_waiting(
    sessions: sessionmaker[Session],
    signed_in: SignedIn,
    policies: Mapping[str, LocalityPolicy],
    upto: int | None,
    now: dt.datetime,
) -> bytes | None:
    with sessions() as session:
        letters = _waiting(session, signed_in.staff.localities, upto)
        if not letters:
            return None
        pdf = combined_pdf(_pdf_of(letter, policies) for letter in letters)
        for reference in sorted({letter.case.reference for letter in letters}):
            ids = [f"#{letter.id}" for letter in letters if letter.case.reference == reference]
            add_staff_audit(
                session, signed_in.staff, now, "download_print_queue", reference, f"letters {', '.join(ids)}"
            )
        session.commit()
        return pdf


@router.get("/print-queue/all.pdf")
async def all_waiting_pdf(
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    now: NowDep,
    upto: str = "",
) -> Response:
    """Every letter waiting (up to the last one the page listed) as one PDF to print."""
    if not may(signed_in.staff.role, Permission.POST_LETTERS):
        return _forbidden(signed_in, settings)
    last = int(upto) if _ID.match(upto) else None
    pdf = await run_in_threadpool(_all_waiting, sessions, signed_in, policies, last, now)
    if pdf is None:
        return redirect(QUEUE_PATH)
    return _download(pdf, f"print-queue-{today.isoformat()}.pdf")


def _one_letter(
    sessions: sessionmaker[Session],
    signed_in: SignedIn,
    policies: Mapping[str, LocalityPolicy],
    reference: str,
    letter_id: str,
    now: dt.datetime,
) -> tuple[str, bytes] | None:
    if not _REFERENCE.match(reference) or not _ID.match(letter_id):
        return None
    staff = signed_in.staff
    with sessions() as session:
        case = case_for_staff(session, reference=reference, staff=staff)
        if case is None:
            return None
        letter = session.get(Letter, int(letter_id))
        if letter is None or letter.case_id != case.id:
            return None
        pdf = _pdf_of(letter, policies)
        add_staff_audit(session, staff, now, "download_letter_pdf", case.reference, f"letter #{letter.id}")
        session.commit()
        return attachment_filename(case.reference, letter.code, letter.sequence), pdf


@router.get("/cases/{reference}/letters/{letter_id}/pdf")
async def letter_pdf(
    reference: str,
    letter_id: str,
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    now: NowDep,
) -> Response:
    """A letter to the applicant as the PDF kept when it was sent."""
    if not may(signed_in.staff.role, Permission.VIEW_CASE):
        return _forbidden(signed_in, settings)
    found = await run_in_threadpool(_one_letter, sessions, signed_in, policies, reference, letter_id, now)
    if found is None:
        return not_found_page(signed_in, settings, reference[:40])
    filename, pdf = found
    return _download(pdf, filename)


# ---- marking letters posted ---------------------------------------------------------------------


def _chosen(form_ids: Sequence[str]) -> set[int]:
    return {int(value) for value in form_ids[:MOST_LETTERS] if _ID.match(value)}


def _mark_posted(
    sessions: sessionmaker[Session],
    signed_in: SignedIn,
    chosen: set[int],
    posted_on: dt.date,
    now: dt.datetime,
) -> tuple[int, list[FormError]]:
    """Mark the chosen letters posted on `posted_on`; returns how many, or why none was (nothing is marked
    unless every chosen letter can be)."""
    staff = signed_in.staff
    with sessions() as session:
        letters = [letter for letter in _waiting(session, staff.localities) if letter.id in chosen]
        if not letters:
            return 0, [FormError("letters", "The letters you chose have already been marked as posted")]
        if len(letters) < len(chosen):
            # Some were marked by someone else since the list was shown: mark none, show the list again.
            return 0, [FormError("letters", RACED)]
        too_early = [letter for letter in letters if posted_on < letter.sent_on]
        if too_early:
            first = too_early[0]
            return 0, [
                FormError(
                    "posted-day",
                    f"{short_name(first.code, first.sequence)} of case {first.case.reference} is dated "
                    f"{long_date(first.sent_on)}: the date it was posted cannot be before that",
                )
            ]
        for letter in letters:
            letter.posted_on = posted_on
            letter.posted_by = staff.label[:300]
            letter.status = "posted"
            name = short_name(letter.code, letter.sequence)
            session.add(
                ChronologyEntry(
                    case_id=letter.case_id,
                    event_key=f"letter-posted:{letter.id}",
                    at=now,
                    actor=staff.label[:200],
                    event=f"{name} posted on {long_date(posted_on)}.",
                )
            )
            add_staff_audit(
                session,
                staff,
                now,
                "mark_letter_posted",
                letter.case.reference,
                f"letter #{letter.id} posted on {posted_on.isoformat()}",
            )
        try:
            session.commit()
        except IntegrityError:
            # Someone marked one of them at the same moment (its chronology entry exists): nothing changed.
            session.rollback()
            return 0, [
                FormError("letters", "Someone else has just marked some of these letters. Check the list")
            ]
        return len(letters), []


@router.post("/print-queue")
async def mark_posted(
    request: Request,
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    today: TodayDep,
    now: NowDep,
) -> Response:
    if not may(signed_in.staff.role, Permission.POST_LETTERS):
        return _forbidden(signed_in, settings)
    try:
        form = await request.form(max_files=0, max_fields=MOST_LETTERS + 10)
    except StarletteHTTPException:
        form = None
    fields = {name: value for name, value in form.items() if isinstance(value, str)} if form else {}
    if form is None or not check_csrf(settings.secret_key, signed_in, fields.get("csrf")):
        with sessions() as session:
            why = "malformed" if form is None else "csrf"
            await audit(session, signed_in, "staff_form_refused", None, f"print queue: {why}")
        return form_refused_page(signed_in, settings, QUEUE_PATH)
    chosen = _chosen([value for value in form.getlist("letter") if isinstance(value, str)])
    errors: list[FormError] = []
    if not chosen:
        errors.append(FormError("letters", "Select the letters you have posted"))
    posted_on = parse_date(fields, "posted", "the date the letters were posted")
    if isinstance(posted_on, FormError):
        errors.append(posted_on)
    elif posted_on > today:
        errors.append(FormError("posted-day", NOT_IN_THE_FUTURE))
    if not errors and isinstance(posted_on, dt.date):
        count, errors = await run_in_threadpool(_mark_posted, sessions, signed_in, chosen, posted_on, now)
        if not errors:
            return redirect(f"{QUEUE_PATH}?posted={count}")
    waiting, recent = await run_in_threadpool(_page, sessions, signed_in, now)
    values = {
        "letters": chosen,
        **{name: fields.get(name, "") for name in ("posted-day", "posted-month", "posted-year")},
    }
    return _show(signed_in, settings, waiting, recent, values, errors, status_code=400)
