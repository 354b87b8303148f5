"""The applicant's "add information or a document" page (`/case/add-information`), reached from their case
page while the case is open: a text, a document, or both, sent to the team handling the case (see
api.applicant.information for what is recorded, and why the case's workflow is not told).

The form is multipart, so it is read here under a limit of its own (one file and the text; the app's
body limit leaves this route alone), and CSRF-checked like the case page's other forms. Each showing of
the form carries a key of its own, so that sending it twice (a double click, a refresh) adds once.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from activities.mail import Mailer, not_being_sent
from api.agency.uploads import ALLOWED_TYPES_TEXT, MAX_FILE_BYTES, BodyTooLarge
from api.applicant.information import (
    FORM_KEY,
    TEXT_LIMIT,
    Outcome,
    check_information,
    read_information_form,
    record_information,
    submission_key,
)
from api.applicant.views import CaseDetails
from api.applicant.visits import CaseVisit, CaseVisitDep, csrf_for, form_page, page
from api.deps import SettingsDep
from api.link_pages import FormError, csrf_matches, redirect
from core.config import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/case", include_in_schema=False)

FILE_MB = MAX_FILE_BYTES // (1024 * 1024)
CLOSED = (
    "Your case has closed, so nothing more can be added to it. Nothing was changed. To report new "
    "anti-social behaviour, contact the police or your council as before."
)


def _closed() -> Response:
    return page("not_recorded.html", 409, home="/case", message=CLOSED)


def new_form_key() -> str:
    return secrets.token_urlsafe(24)


def _form(
    visit: CaseVisit,
    settings: Settings,
    details: CaseDetails,
    *,
    form_key: str,
    text: str = "",
    errors: list[FormError] | None = None,
    files_dropped: bool = False,
    status_code: int | None = None,
) -> Response:
    # Without a status of its own, form_page answers 422 when there are errors, 200 otherwise.
    context: dict[str, object] = {} if status_code is None else {"status_code": status_code}
    return form_page(
        "add_information.html",
        visit,
        settings,
        details,
        values={"information": text},
        errors=errors or [],
        form_key=form_key,
        files_dropped=files_dropped,
        text_limit=TEXT_LIMIT,
        file_mb=FILE_MB,
        file_types=ALLOWED_TYPES_TEXT,
        **context,
    )


@router.get("/add-information")
async def information_form(visit: CaseVisitDep, settings: SettingsDep) -> Response:
    details = await visit.details()
    if not details.can_add_information:
        await visit.audit("applicant_action_refused", "add_information: closed")
        return _closed()
    await visit.audit("applicant_information_viewed", "form shown")
    return _form(visit, settings, details, form_key=new_form_key())


@router.post("/add-information")
async def add_information(request: Request, visit: CaseVisitDep, settings: SettingsDep) -> Response:
    async def refused(detail: str) -> None:
        await visit.audit("applicant_action_refused", f"add_information: {detail}")

    try:
        fields, uploads = await read_information_form(request)
    except BodyTooLarge:
        # Nothing of the form was read (its key neither): it comes back empty, with a new key.
        await refused("too_large")
        details = await visit.details()
        error = FormError("document", f"The selected file must be smaller than {FILE_MB}MB")
        return _form(
            visit,
            settings,
            details,
            form_key=new_form_key(),
            errors=[error],
            files_dropped=True,
            status_code=413,
        )
    except StarletteHTTPException:  # a malformed form, or too many parts
        await refused("malformed")
        return page("form_expired.html", 400)
    form_key = fields.get("form_key", "")
    from_our_page = csrf_matches(csrf_for(settings, visit), fields.get("csrf_token"))
    if not from_our_page or not FORM_KEY.fullmatch(form_key):
        await refused("csrf")
        return page("form_expired.html", 400)

    details = await visit.details()
    if not details.can_add_information:
        await refused("closed")
        return _closed()
    information, errors = check_information(fields, uploads)
    if errors:
        await refused("invalid")
        return _form(
            visit,
            settings,
            details,
            form_key=form_key,
            text=information.text,
            errors=errors,
            files_dropped=bool(uploads),
        )

    mailer = Mailer(settings, visit.sessions)
    base = settings.public_base_url.rstrip("/")
    recorded = await run_in_threadpool(
        record_information,
        visit.sessions,
        applicant=visit.access.case,
        policy=visit.policy,
        mailer=mailer,
        case_url=f"{base}/api/cases/{visit.access.case.case_reference}",
        key=submission_key(visit.access.token_hash, form_key),
        information=information,
        now=visit.now,
    )
    if recorded.outcome == Outcome.CLOSED:
        await refused("closed")
        return _closed()
    if recorded.outcome == Outcome.CHANGED:
        await refused("form already sent")
        return page(
            "not_recorded.html",
            409,
            home="/case",
            message=(
                "This form was sent already, so what you changed has not been added. To add more, go back "
                "to your case page and choose “Add information or a document” again."
            ),
        )
    if recorded.outcome == Outcome.TOO_MANY:
        await refused("too many today")
        return page(
            "not_recorded.html",
            429,
            home="/case",
            message=(
                "You have added information many times today, so this has not been added. Try again "
                f"tomorrow, or email it to {visit.policy.spoc.email} quoting your reference."
            ),
        )
    if recorded.outcome == Outcome.REPEATED:
        await visit.audit("applicant_information_repeated", "already recorded")
    if recorded.notice_key is not None:
        try:
            # A repeated form finds the notice recorded: never while another request (or the sweep) sends it.
            await mailer.deliver(recorded.notice_key, claim_if=not_being_sent)
        except Exception as error:  # recorded all the same; the outbox sweep sends it later
            log.warning(
                "the SPOC's notice of added information could not be sent yet: %s", type(error).__name__
            )
    return redirect("/case?done=information")
