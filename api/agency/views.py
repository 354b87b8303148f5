"""The agency pages as the agency sees them: only the case details it needs, GOV.UK pages rendered with
the headers every agency response carries (api.link_pages), and the pages that refuse a link or a session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, sessionmaker

from api.agency.forms import MAX_LENGTHS, AnswerForm, new_link_csrf_token, ordered, reply_csrf_token
from api.agency.sessions import (
    SESSION_COOKIE,
    AgencySession,
    RequestView,
    SessionRefusal,
    SessionRefused,
)
from api.agency.uploads import MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES
from api.link_pages import FormError, errors_by_field, link_page
from api.links import TOKEN_SHAPE
from db.models import Case
from domain.agencies import incidents_reported_to
from domain.application import Application, Incident
from domain.policy import LocalityPolicy

# ---- what the reply page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class ReplyDetails:
    """Only what the agency needs to find its records (data minimisation): never the applicant's phone
    or email, other agencies' incidents, hate-incident details, the assessment or any decision."""

    applicant_name: str
    address: str | None
    postcode: str | None
    # When someone applied for the victim, the agency searches for the victim too.
    victim_name: str | None
    incidents: list[Incident]


def reply_details(
    sessions: sessionmaker[Session], *, request: RequestView, policy: LocalityPolicy
) -> ReplyDetails:
    with sessions() as session:
        case = session.get(Case, request.case_id)
        assert case is not None
        application = Application.model_validate(case.application)
    return ReplyDetails(
        applicant_name=application.applicant.name,
        address=application.applicant.address,
        postcode=application.applicant.postcode,
        victim_name=application.on_behalf_of.victim_name if application.on_behalf_of else None,
        incidents=incidents_reported_to(application, policy, request.agency_key),
    )


# ---- pages -----------------------------------------------------------------------------------


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return link_page(f"agency/{template}", status_code, **context)


def link_refused_page(secret_key: str, token: str) -> HTMLResponse:
    # The token goes back only in the form's body (never a URL), and only if it has a token's shape.
    token = token if TOKEN_SHAPE.fullmatch(token) else ""
    return page(
        "link_refused.html",
        status_code=404,
        token=token,
        csrf_token=new_link_csrf_token(secret_key, token),
    )


def session_refused_page(refused: SessionRefused, policies: dict[str, LocalityPolicy]) -> HTMLResponse:
    if refused.reason == SessionRefusal.CLOSED and refused.request is not None:
        return closed_page(refused.request.case_reference, policies[refused.request.locality])
    response = page("session_refused.html", status_code=401)
    response.delete_cookie(SESSION_COOKIE, path="/agency")
    return response


def closed_page(reference: str, policy: LocalityPolicy) -> HTMLResponse:
    return page("closed.html", status_code=410, reference=reference, council=policy)


def already_answered_page(access: AgencySession, policy: LocalityPolicy) -> HTMLResponse:
    return page("already_answered.html", reference=access.request.case_reference, council=policy)


def request_too_large_page(limit_bytes: int) -> HTMLResponse:
    return page("request_too_large.html", status_code=413, limit=size_in_words(limit_bytes))


def size_in_words(size: int) -> str:
    """1048576 -> "1 MB"; 1500 -> "1.5 KB" (binary units, as file sizes are shown)."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def form_expired_page(retry_url: str | None) -> HTMLResponse:
    return page("form_expired.html", status_code=400, retry_url=retry_url)


def form_page(
    access: AgencySession,
    policy: LocalityPolicy,
    secret_key: str,
    details: ReplyDetails,
    *,
    form: AnswerForm | None = None,
    errors: Sequence[FormError] = (),
    files_dropped: bool = False,
    unavailable: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    errors = ordered(errors)
    return page(
        "reply.html",
        status_code=status_code,
        request=access.request,
        council=policy,
        details=details,
        values=form.values if form else {},
        errors=errors,
        error_for=errors_by_field(errors),
        files_dropped=files_dropped,
        unavailable=unavailable,
        csrf_token=reply_csrf_token(secret_key, access.token_hash),
        max_files=MAX_FILES,
        max_file_mb=MAX_FILE_BYTES // (1024 * 1024),
        max_total_mb=MAX_TOTAL_BYTES // (1024 * 1024),
        max_lengths=MAX_LENGTHS,
    )
