"""The agency reply pages, reached without an account from the link in an information-request email.

`/agency/r/<token>` exchanges the link's token for a session cookie and redirects, so the token does not
stay in the address bar, in history or in referrers. `/agency/reply` shows the agency only what it
needs to find its records and takes its answer, which goes to the case workflow at once. A link that
cannot be used gets one page that says nothing about the case and offers to ask for a new link.

GOV.UK Design System pages (govuk-frontend-jinja macros, vendored govuk-frontend assets); they work
without JavaScript. Every use and every refusal is audited, never with the token or personal data.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Scope
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.agency_access import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_LENGTHS,
    MAX_TOTAL_BYTES,
    SESSION_COOKIE,
    UNKNOWN_LINK,
    AgencySession,
    AnswerForm,
    FormError,
    LinkRefused,
    ReplyDetails,
    SessionRefusal,
    SessionRefused,
    Upload,
    check_attachments,
    check_session,
    csrf_matches,
    discard_attachments,
    link_request,
    new_link_csrf_token,
    open_link,
    ordered,
    record_audit,
    reply_csrf_token,
    reply_details,
    request_status,
    stage_attachments,
)
from api.deps import NowDep, PoliciesDep, SettingsDep
from core.config import PROJECT_ROOT, Settings
from db.session import session_factory
from domain.links import TOKEN_PATTERN
from domain.policy import LocalityPolicy
from workflows.case import CaseWorkflow
from workflows.models import Actor, case_workflow_id

log = logging.getLogger(__name__)

router = APIRouter(prefix="/agency", include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
GOVUK_ASSETS_DIR = STATIC_DIR / "govuk-frontend" / "assets"

_templates = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(PROJECT_ROOT / "templates"),
            # The macros import each other as "govuk_frontend_jinja/components/...".
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_templates.filters["long_date"] = lambda day: f"{day.day} {day:%B %Y}"

# The body of an answer: the files at their largest plus the text fields. Beyond it, stop reading.
MAX_BODY_BYTES = MAX_FILES * MAX_FILE_BYTES + 1024 * 1024
_TOKEN = re.compile(TOKEN_PATTERN)


def _headers(nonce: str) -> dict[str, str]:
    """Every agency response: no referrer (a link's token must not leak), no caching of case details,
    no framing, and scripts only from us (the template's one inline script carries the nonce)."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self'; "
            "font-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _templates.get_template(f"agency/{template}").render(cspNonce=nonce, **context)
    return HTMLResponse(html, status_code=status_code, headers=_headers(nonce))


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_headers(secrets.token_urlsafe(16)))


def _sessions(settings: Settings) -> sessionmaker[Session]:
    return session_factory(settings.database_url)


def _temporal(request: Request) -> Client | None:
    client: Client | None = request.app.state.temporal.client
    return client


# ---- the link ---------------------------------------------------------------------------------


def _link_refused_page(settings: Settings, token: str) -> HTMLResponse:
    # The token goes back only in the form's body (never a URL), and only if it has a token's shape.
    token = token if _TOKEN.fullmatch(token) else ""
    return _page(
        "link_refused.html",
        status_code=404,
        token=token,
        csrf_token=new_link_csrf_token(settings.secret_key, token),
    )


@router.get("/r/{token:path}")
async def open_agency_link(token: str, settings: SettingsDep, now: NowDep) -> Response:
    """Exchange the link for a session cookie and go to the reply page; or the one refusal page."""
    sessions = _sessions(settings)
    opened = await run_in_threadpool(open_link, sessions, token=token, now=now)
    if isinstance(opened, LinkRefused):
        # One page and one status whatever the reason: nothing tells a stranger that a token exists.
        return _link_refused_page(settings, token)
    response = _redirect("/agency/reply")
    response.set_cookie(
        SESSION_COOKIE,
        opened.session_token,
        httponly=True,
        samesite="lax",
        secure=settings.public_base_url.startswith("https://"),
        path="/agency",
    )
    return response


@router.post("/new-link")
async def ask_for_new_link(request: Request, settings: SettingsDep, now: NowDep) -> Response:
    """Ask the SPOC for a new link. The page is the same whether or not the link was ours."""
    sessions = _sessions(settings)
    form = await request.form(max_files=0, max_fields=10)
    token = form.get("token")
    token = token if isinstance(token, str) else ""
    csrf = form.get("csrf_token")
    if not csrf_matches(
        new_link_csrf_token(settings.secret_key, token), csrf if isinstance(csrf, str) else None
    ):
        await run_in_threadpool(
            record_audit,
            sessions,
            now=now,
            actor=UNKNOWN_LINK,
            action="agency_new_link_requested",
            case_reference=None,
            detail="refused: csrf",
        )
        return _page("form_expired.html", status_code=400, retry_url=None)
    found = await run_in_threadpool(link_request, sessions, token=token)
    if found is None:
        actor, reference, outcome = UNKNOWN_LINK, None, "unknown"
    else:
        view, closed = found
        actor, reference = view.actor, view.case_reference
        outcome = (
            "case closed"
            if closed
            else await _signal_new_link(request, view.case_reference, view.request_key)
        )
        outcome = f"{outcome}; request {view.request_key}"
    await run_in_threadpool(
        record_audit,
        sessions,
        now=now,
        actor=actor,
        action="agency_new_link_requested",
        case_reference=reference,
        detail=outcome,
    )
    return _page("new_link_requested.html")


async def _signal_new_link(request: Request, reference: str, request_key: str) -> str:
    client = _temporal(request)
    if client is None:
        return "not sent: case service unavailable"
    try:
        await client.get_workflow_handle(case_workflow_id(reference)).signal(
            CaseWorkflow.new_link_requested, request_key
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "not sent: case finished"
        log.warning("new-link signal for a case failed: %s", error.status)
        return "not sent: case service unavailable"
    return "SPOC asked"


# ---- the reply page --------------------------------------------------------------------------


def _session_refused_page(refused: SessionRefused, policies: dict[str, LocalityPolicy]) -> HTMLResponse:
    if refused.reason == SessionRefusal.CLOSED and refused.request is not None:
        return _closed_page(refused.request.case_reference, policies[refused.request.locality])
    response = _page("session_refused.html", status_code=401)
    response.delete_cookie(SESSION_COOKIE, path="/agency")
    return response


def _closed_page(reference: str, policy: LocalityPolicy) -> HTMLResponse:
    return _page("closed.html", status_code=410, reference=reference, council=policy)


def _already_answered_page(access: AgencySession, policy: LocalityPolicy) -> HTMLResponse:
    return _page("already_answered.html", reference=access.request.case_reference, council=policy)


def _form_page(
    access: AgencySession,
    policy: LocalityPolicy,
    settings: Settings,
    details: ReplyDetails,
    *,
    form: AnswerForm | None = None,
    errors: Sequence[FormError] = (),
    files_dropped: bool = False,
    unavailable: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    errors = ordered(errors)
    first_error: dict[str, str] = {}
    for error in errors:
        first_error.setdefault(error.field, error.message)
    return _page(
        "reply.html",
        status_code=status_code,
        request=access.request,
        council=policy,
        details=details,
        values=form.values if form else {},
        errors=errors,
        error_for=first_error,
        files_dropped=files_dropped,
        unavailable=unavailable,
        csrf_token=reply_csrf_token(settings.secret_key, access.token_hash),
        max_files=MAX_FILES,
        max_file_mb=MAX_FILE_BYTES // (1024 * 1024),
        max_total_mb=MAX_TOTAL_BYTES // (1024 * 1024),
        max_lengths=MAX_LENGTHS,
    )


@router.get("/reply")
async def reply_page(request: Request, settings: SettingsDep, policies: PoliciesDep, now: NowDep) -> Response:
    sessions = _sessions(settings)
    access = await run_in_threadpool(
        check_session, sessions, token=request.cookies.get(SESSION_COOKIE), now=now
    )
    if isinstance(access, SessionRefused):
        return _session_refused_page(access, policies)
    view = access.request
    policy = policies[view.locality]
    answered = view.state == "answered"
    await run_in_threadpool(
        record_audit,
        sessions,
        now=now,
        actor=view.actor,
        action="agency_reply_viewed",
        case_reference=view.case_reference,
        detail=f"request {view.request_key}; {'already answered' if answered else 'form shown'}",
    )
    if answered:
        return _already_answered_page(access, policy)
    details = await run_in_threadpool(reply_details, sessions, request=view, policy=policy)
    return _form_page(access, policy, settings, details)


class _BodyTooLarge(Exception):
    pass


def _limited(request: Request, limit: int) -> Request:
    """The same request, whose body may not exceed `limit` bytes (declared or as it arrives)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
        return message

    scope: Scope = request.scope
    return Request(scope, receive)


async def _read_answer(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields and its files (a file too big to accept is not read)."""
    fields: dict[str, str] = {}
    uploads: list[Upload] = []
    async with _limited(request, MAX_BODY_BYTES).form(max_files=MAX_FILES * 4, max_fields=40) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != "attachments":
                    continue
                size = value.size or 0
                # An empty file input still sends a part, with no name and no content.
                if not value.filename and size == 0:
                    continue
                content = await value.read() if size <= MAX_FILE_BYTES else None
                uploads.append(Upload(filename=value.filename or "", size=size, content=content))
            else:
                fields.setdefault(name, value)
    return fields, uploads


@router.post("/reply")
async def send_answer(
    request: Request, settings: SettingsDep, policies: PoliciesDep, now: NowDep
) -> Response:
    """Check the answer, store its files, and give it to the case workflow (exactly one answer counts)."""
    sessions = _sessions(settings)
    access = await run_in_threadpool(
        check_session, sessions, token=request.cookies.get(SESSION_COOKIE), now=now
    )
    if isinstance(access, SessionRefused):
        return _session_refused_page(access, policies)
    view = access.request
    policy = policies[view.locality]

    async def refused(detail: str) -> None:
        await run_in_threadpool(
            record_audit,
            sessions,
            now=now,
            actor=view.actor,
            action="agency_answer_refused",
            case_reference=view.case_reference,
            detail=f"{detail}; request {view.request_key}",
        )

    try:
        fields, uploads = await _read_answer(request)
    except _BodyTooLarge:
        await refused("too_large")
        details = await run_in_threadpool(reply_details, sessions, request=view, policy=policy)
        error = FormError(
            "attachments",
            f"The selected files must be smaller than {MAX_TOTAL_BYTES // (1024 * 1024)}MB in total",
        )
        return _form_page(
            access, policy, settings, details, errors=[error], files_dropped=True, status_code=413
        )
    except StarletteHTTPException:  # a malformed form, or too many parts
        await refused("malformed")
        return _page("form_expired.html", status_code=400, retry_url="/agency/reply")

    if not csrf_matches(reply_csrf_token(settings.secret_key, access.token_hash), fields.get("csrf_token")):
        await refused("csrf")
        return _page("form_expired.html", status_code=400, retry_url="/agency/reply")

    state, closed = await run_in_threadpool(request_status, sessions, request_id=view.request_id)
    if state == "answered":
        await refused("already_answered")
        return _already_answered_page(access, policy)
    if closed:
        await refused("closed")
        return _closed_page(view.case_reference, policy)

    form = AnswerForm.from_fields(fields)
    files, file_problems = check_attachments(uploads)
    errors = form.problems() + [FormError("attachments", problem) for problem in file_problems]
    if errors:
        await refused("invalid")
        details = await run_in_threadpool(reply_details, sessions, request=view, policy=policy)
        return _form_page(
            access,
            policy,
            settings,
            details,
            form=form,
            errors=errors,
            files_dropped=bool(uploads),
            status_code=422,
        )

    client = _temporal(request)
    if client is None:
        await refused("unavailable")
        details = await run_in_threadpool(reply_details, sessions, request=view, policy=policy)
        return _form_page(
            access,
            policy,
            settings,
            details,
            form=form,
            files_dropped=bool(uploads),
            unavailable=True,
            status_code=503,
        )

    attachment_ids = await run_in_threadpool(stage_attachments, sessions, request=view, files=files, now=now)
    outcome = await _deliver(
        client, view.case_reference, view.agency_name, form.to_response(view.request_key, attachment_ids)
    )
    if outcome != "recorded":
        if outcome != "uncertain":
            # Refused or never delivered: these files belong to no answer. After a timeout the answer may
            # still reach the case, so they stay (unaccepted, unseen by staff) in case it does.
            await run_in_threadpool(discard_attachments, sessions, ids=attachment_ids)
        outcome = "unavailable" if outcome == "uncertain" else outcome
        await refused(outcome)
        if outcome == "already_answered":
            return _already_answered_page(access, policy)
        if outcome == "closed":
            return _closed_page(view.case_reference, policy)
        details = await run_in_threadpool(reply_details, sessions, request=view, policy=policy)
        return _form_page(
            access,
            policy,
            settings,
            details,
            form=form,
            files_dropped=bool(uploads),
            unavailable=True,
            status_code=503,
        )
    await run_in_threadpool(
        record_audit,
        sessions,
        now=now,
        actor=view.actor,
        action="agency_answer_submitted",
        case_reference=view.case_reference,
        detail=f"request {view.request_key}; {len(attachment_ids)} attachment(s)",
    )
    return _redirect("/agency/reply/confirmation")


async def _deliver(client: Client, reference: str, agency_name: str, answer: Any) -> str:
    """Give the answer to the case workflow: recorded, already_answered, closed, unavailable (not
    delivered) or uncertain (timed out: it may yet be recorded)."""
    handle = client.get_workflow_handle(case_workflow_id(reference))
    try:
        await handle.execute_update(
            CaseWorkflow.agency_response, args=[Actor(name=agency_name[:200], role="agency"), answer]
        )
    except WorkflowUpdateFailedError as error:
        kind = error.cause.type if isinstance(error.cause, ApplicationError) else None
        if kind == "AlreadyAnswered":
            return "already_answered"
        if kind in ("StageConflict", "UnknownRequest"):
            return "closed"
        log.warning("an agency answer was refused by the case workflow: %s", kind)
        return "unavailable"
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # the case's workflow has finished
            return "closed"
        log.warning("an agency answer could not reach the case workflow: %s", error.status)
        return "unavailable"
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        log.warning("an agency answer timed out on its way to the case workflow")
        return "uncertain"
    return "recorded"


@router.get("/reply/confirmation")
async def confirmation_page(
    request: Request, settings: SettingsDep, policies: PoliciesDep, now: NowDep
) -> Response:
    sessions = _sessions(settings)
    access = await run_in_threadpool(
        check_session, sessions, token=request.cookies.get(SESSION_COOKIE), now=now
    )
    if isinstance(access, SessionRefused):
        return _session_refused_page(access, policies)
    view = access.request
    if view.state != "answered":
        return _redirect("/agency/reply")
    await run_in_threadpool(
        record_audit,
        sessions,
        now=now,
        actor=view.actor,
        action="agency_reply_viewed",
        case_reference=view.case_reference,
        detail=f"request {view.request_key}; confirmation",
    )
    return _page(
        "confirmation.html",
        request=access.request,
        council=policies[access.request.locality],
    )


# ---- assets and logs -------------------------------------------------------------------------


class _Assets(StaticFiles):
    """Static files that browsers may cache and must not sniff into another type."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


def mount_assets(app: FastAPI) -> None:
    """govuk-frontend's CSS and JS under /static; its fonts and images at /assets, as its CSS expects."""
    # Not every system's MIME table knows web fonts.
    mimetypes.add_type("font/woff2", ".woff2")
    mimetypes.add_type("font/woff", ".woff")
    app.mount("/assets", _Assets(directory=GOVUK_ASSETS_DIR), name="govuk-assets")
    app.mount("/static", _Assets(directory=STATIC_DIR), name="static")


class _RedactAgencyLinks(logging.Filter):
    """Access logs print the path: keep a link's token out of them."""

    _PATH = re.compile(r"/agency/r/[^\s\"?]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._PATH.sub("/agency/r/[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._PATH.sub("/agency/r/[redacted]", record.msg)
        return True


def redact_link_tokens_in_access_logs() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, _RedactAgencyLinks) for existing in logger.filters):
        logger.addFilter(_RedactAgencyLinks())
