"""The agency reply pages, reached without an account from the link in an information-request email.

`/agency/r/<token>` exchanges the link's token for a session cookie and redirects, so the token does not
stay in the address bar, in history or in referrers. `/agency/reply` shows the agency only what it
needs to find its records and takes its answer, which goes to the case workflow at once. A link that
cannot be used gets one page that says nothing about the case and offers to ask for a new link.

GOV.UK Design System pages (govuk-frontend-jinja macros, vendored govuk-frontend assets); they work
without JavaScript. Every use and every refusal is audited, never with the token or personal data;
refusals anyone can repeat at will (unknown links, a new link asked for again) are counted, one entry a day.
Opening links and asking for new ones are rate-limited (api.rate_limits).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import case_updates
from api.agency.forms import AnswerForm, new_link_csrf_token, read_answer, reply_csrf_token
from api.agency.sessions import (
    SESSION_COOKIE,
    UNKNOWN_LINK,
    LinkRefused,
    claim_new_link_request,
    link_request,
    open_link,
    release_new_link_request,
    request_status,
)
from api.agency.uploads import (
    MAX_TOTAL_BYTES,
    BodyTooLarge,
    check_attachments,
    discard_attachments,
    stage_attachments,
)
from api.agency.views import (
    already_answered_page,
    closed_page,
    form_expired_page,
    form_page,
    link_refused_page,
    page,
    reply_details,
)
from api.audit import record_audit, record_tallied_audit
from api.case_store import forget_link_submission, store_link_submission
from api.deps import (
    AgencyVisit,
    AgencyVisitDep,
    MaybeTemporalDep,
    NowDep,
    PoliciesDep,
    SessionFactoryDep,
    SettingsDep,
)
from api.link_pages import FormError, csrf_matches, redirect, set_session_cookie
from api.rate_limits import RateLimit, rate_limited, too_many_requests_page
from domain.calendar import london_date
from domain.decisions import AgencyResponse
from workflows.case import CaseWorkflow
from workflows.models import Actor, AgencyAnswerRecord, case_workflow_id

log = logging.getLogger(__name__)

router = APIRouter(prefix="/agency", include_in_schema=False)

# The outcome of a new-link request the case service did not take: asking again the same day may work.
UNAVAILABLE = "not sent: case service unavailable"


# ---- the link ---------------------------------------------------------------------------------


# The 429 page in an agency's words, for opening links and asking for new ones.
TOO_MANY_REQUESTS = too_many_requests_page("agency/too_many_requests.html")


@router.get("/r/{token:path}", dependencies=[rate_limited(RateLimit.AGENCY_LINK, page=TOO_MANY_REQUESTS)])
async def open_agency_link(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    """Exchange the link for a session cookie and go to the reply page; or the one refusal page."""
    opened = await run_in_threadpool(open_link, sessions, token=token, now=now)
    if isinstance(opened, LinkRefused):
        # One page and one status whatever the reason: nothing tells a stranger that a token exists.
        return link_refused_page(settings.secret_key, token)
    response = redirect("/agency/reply")
    set_session_cookie(
        response,
        SESSION_COOKIE,
        opened.session_token,
        path="/agency",
        secure=settings.public_base_url.startswith("https://"),
    )
    return response


@router.post("/new-link", dependencies=[rate_limited(RateLimit.NEW_LINK, page=TOO_MANY_REQUESTS)])
async def ask_for_new_link(
    request: Request,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    now: NowDep,
    client: MaybeTemporalDep,
    policies: PoliciesDep,
) -> Response:
    """Ask the SPOC for a new link, once a day at most for each request. The page is the same whether or
    not the link was ours, and whether or not it was asked for already today; a link of a closed case
    gets the page that says so (nobody is asked for anything)."""
    form = await request.form(max_files=0, max_fields=10)
    token = form.get("token")
    token = token if isinstance(token, str) else ""
    csrf = form.get("csrf_token")

    async def tally(actor: str, reference: str | None, detail: str) -> None:
        # What anyone can repeat at will is counted in one entry a day, not written each time.
        await run_in_threadpool(
            record_tallied_audit,
            sessions,
            at=now,
            actor=actor,
            action="agency_new_link_requested",
            case_reference=reference,
            detail=detail,
        )

    if not csrf_matches(
        new_link_csrf_token(settings.secret_key, token), csrf if isinstance(csrf, str) else None
    ):
        await tally(UNKNOWN_LINK, None, "refused: csrf")
        return form_expired_page(retry_url=None)
    found = await run_in_threadpool(link_request, sessions, token=token)
    if found is None:
        await tally(UNKNOWN_LINK, None, "unknown")
        return page("new_link_requested.html")
    view, closed = found
    if closed:
        await tally(view.actor, view.case_reference, f"case closed; request {view.request_key}")
        # Said plainly, without the case's reference: nobody is asked for a new link.
        return page("new_link_case_closed.html", status_code=410, council=policies[view.locality])
    today = london_date(now)
    # Decided in the database before the case hears of it: the case takes one request a day, not each post.
    first_today = await run_in_threadpool(
        claim_new_link_request, sessions, request_id=view.request_id, today=today
    )
    if not first_today:
        await tally(view.actor, view.case_reference, f"already asked today; request {view.request_key}")
        return page("new_link_requested.html")
    outcome = await _signal_new_link(client, view.case_reference, view.request_key)
    if outcome == UNAVAILABLE:
        await run_in_threadpool(release_new_link_request, sessions, request_id=view.request_id, today=today)
    await run_in_threadpool(
        record_audit,
        sessions,
        at=now,
        actor=view.actor,
        action="agency_new_link_requested",
        case_reference=view.case_reference,
        detail=f"{outcome}; request {view.request_key}",
    )
    return page("new_link_requested.html")


async def _signal_new_link(client: Client | None, reference: str, request_key: str) -> str:
    if client is None:
        return UNAVAILABLE
    try:
        await client.get_workflow_handle(case_workflow_id(reference)).signal(
            CaseWorkflow.new_link_requested, request_key
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return "not sent: case finished"
        log.warning("new-link signal for a case failed: %s", error.status)
        return UNAVAILABLE
    return "SPOC asked"


# ---- the reply page --------------------------------------------------------------------------


@router.get("/reply")
async def reply_page(visit: AgencyVisitDep, settings: SettingsDep) -> Response:
    view = visit.request
    answered = view.state == "answered"
    await visit.audit(
        "agency_reply_viewed",
        f"request {view.request_key}; {'already answered' if answered else 'form shown'}",
    )
    if answered:
        return already_answered_page(visit.access, visit.policy)
    details = await run_in_threadpool(reply_details, visit.sessions, request=view, policy=visit.policy)
    return form_page(visit.access, visit.policy, settings.secret_key, details)


@router.post("/reply")
async def send_answer(
    request: Request, visit: AgencyVisitDep, settings: SettingsDep, client: MaybeTemporalDep
) -> Response:
    """Check the answer, store its files, and give it to the case workflow (exactly one answer counts)."""
    view, policy, sessions = visit.request, visit.policy, visit.sessions

    async def refused(detail: str) -> None:
        await visit.audit("agency_answer_refused", f"{detail}; request {view.request_key}")

    async def form_again(
        status_code: int,
        *,
        form: AnswerForm | None = None,
        errors: Sequence[FormError] = (),
        files_dropped: bool,
        unavailable: bool = False,
    ) -> Response:
        # The answer as typed comes back; files never do (a browser cannot be given them back).
        details = await run_in_threadpool(reply_details, sessions, request=view, policy=policy)
        return form_page(
            visit.access,
            policy,
            settings.secret_key,
            details,
            form=form,
            errors=errors,
            files_dropped=files_dropped,
            unavailable=unavailable,
            status_code=status_code,
        )

    try:
        fields, uploads = await read_answer(request)
    except BodyTooLarge:
        await refused("too_large")
        error = FormError(
            "attachments",
            f"The selected files must be smaller than {MAX_TOTAL_BYTES // (1024 * 1024)}MB in total",
        )
        return await form_again(413, errors=[error], files_dropped=True)
    except StarletteHTTPException:  # a malformed form, or too many parts
        await refused("malformed")
        return form_expired_page(retry_url="/agency/reply")

    if not csrf_matches(
        reply_csrf_token(settings.secret_key, visit.access.token_hash), fields.get("csrf_token")
    ):
        await refused("csrf")
        return form_expired_page(retry_url="/agency/reply")

    state, closed = await run_in_threadpool(request_status, sessions, request_id=view.request_id)
    if state == "answered":
        await refused("already_answered")
        return already_answered_page(visit.access, policy)
    if closed:
        await refused("closed")
        return closed_page(view.case_reference, policy)

    form = AnswerForm.from_fields(fields)
    files, file_problems = check_attachments(uploads)
    errors = form.problems() + [FormError("attachments", problem) for problem in file_problems]
    if errors:
        await refused("invalid")
        return await form_again(422, form=form, errors=errors, files_dropped=bool(uploads))

    if client is None:
        await refused("unavailable")
        return await form_again(503, form=form, files_dropped=bool(uploads), unavailable=True)

    attachment_ids = await run_in_threadpool(
        stage_attachments, sessions, request=view, files=files, now=visit.now
    )
    outcome = await _deliver(client, visit, form.to_response(view.request_key, attachment_ids))
    if outcome != "recorded":
        if outcome != "uncertain":
            # Refused or never delivered: these files belong to no answer. After a timeout the answer may
            # still reach the case, so they stay (unaccepted, unseen by staff) in case it does.
            await run_in_threadpool(discard_attachments, sessions, ids=attachment_ids)
        outcome = "unavailable" if outcome == "uncertain" else outcome
        await refused(outcome)
        if outcome == "already_answered":
            return already_answered_page(visit.access, policy)
        if outcome == "closed":
            return closed_page(view.case_reference, policy)
        return await form_again(503, form=form, files_dropped=bool(uploads), unavailable=True)
    await visit.audit(
        "agency_answer_submitted", f"request {view.request_key}; {len(attachment_ids)} attachment(s)"
    )
    return redirect("/agency/reply/confirmation")


async def _deliver(client: Client, visit: AgencyVisit, answer: AgencyResponse) -> str:
    """Give the answer to the case workflow: recorded, already_answered, closed, unavailable (not
    delivered) or uncertain (timed out: it may yet be recorded)."""
    view = visit.request
    # The same answer sent again from the same session is the same update: recorded once.
    update_id = case_updates.update_id_for(
        "agency_response", visit.access.token_hash, answer.model_dump_json()
    )
    # The answer's texts stay in the database; the workflow is told the submission's id.
    submission_id = await run_in_threadpool(
        store_link_submission,
        visit.sessions,
        reference=view.case_reference,
        kind="agency_response",
        key=update_id,
        body=answer.model_dump(mode="json"),
        submitted_by=f"{view.agency_name} (agency)",
    )
    try:
        await case_updates.execute_case_update(
            client,
            view.case_reference,
            CaseWorkflow.agency_response,
            args=[
                # No name: an organisation the applicant named is named from the submission instead.
                Actor(role="agency"),
                AgencyAnswerRecord.model_validate({**answer.model_dump(), "submission_id": submission_id}),
            ],
            update_id=update_id,
        )
    except WorkflowUpdateFailedError as error:
        # Refused by the case: nothing of the answer is kept.
        await run_in_threadpool(forget_link_submission, visit.sessions, submission_id)
        kind = error.cause.type if isinstance(error.cause, ApplicationError) else None
        if kind == "AlreadyAnswered":
            return "already_answered"
        if kind in ("StageConflict", "UnknownRequest"):
            return "closed"
        log.warning("an agency answer was refused by the case workflow: %s", kind)
        return "unavailable"
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # the case's workflow has finished
            await run_in_threadpool(forget_link_submission, visit.sessions, submission_id)
            return "closed"
        log.warning("an agency answer could not reach the case workflow: %s", error.status)
        return "unavailable"
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        log.warning("an agency answer timed out on its way to the case workflow")
        return "uncertain"
    return "recorded"


@router.get("/reply/confirmation")
async def confirmation_page(visit: AgencyVisitDep) -> Response:
    view = visit.request
    if view.state != "answered":
        return redirect("/agency/reply")
    await visit.audit("agency_reply_viewed", f"request {view.request_key}; confirmation")
    return page("confirmation.html", request=view, council=visit.policy)
