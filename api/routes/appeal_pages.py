"""The appeal pages, reached without an account from the links in the appeal's emails.

`/appeal/r/<token>` exchanges the link's token for a session cookie and redirects, so the token does not
stay in the address bar, in history or in referrers: the policy's appeal contact goes on to
`/appeal/name-chair`, where they name who hears the appeal; the named chair to `/appeal/chair`, where they
read the bundle and record the appeal's steps (acknowledgement, the grounds, the panel, the outcome), each
of which goes to the appeal workflow at once. A link that cannot be used gets one page that says nothing.

GOV.UK Design System pages that work without JavaScript. Every view, action and refusal is audited, never
with the token or personal data; unknown links and sessions are counted, one entry a day. Opening links
is rate-limited as agency links are (api.rate_limits).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import case_updates
from api.appeal.forms import NameChairForm, appeal_csrf_token
from api.appeal.sessions import COOKIE_PATH, SESSION_COOKIE, AppealView, LinkRefused, open_link
from api.appeal.views import (
    CHAIR_FORMS,
    ChairAction,
    appeal_state,
    chair_page,
    conflict_page,
    ended_page,
    form_expired_page,
    link_refused_page,
    load_bundle,
    name_chair_page,
)
from api.appeal.visits import AppealVisit, ChairVisitDep, ContactVisitDep
from api.case_store import forget_link_submission, store_link_submission
from api.deps import MaybeTemporalDep, NowDep, PoliciesDep, SessionFactoryDep, SettingsDep
from api.link_pages import csrf_matches, redirect, set_session_cookie
from api.rate_limits import RateLimit, rate_limited, too_many_requests_page
from domain.decisions import AppealCriteria, AppealDecision, AppealPanel, ChairNaming
from domain.policy import LocalityPolicy
from workflows.appeal import AppealWorkflow
from workflows.appeal_models import (
    AcknowledgementRecord,
    AppealDecisionRecord,
    AppealPanelRecord,
    ChairRecord,
    CriteriaRecord,
    appeal_workflow_id,
)
from workflows.models import Actor

log = logging.getLogger(__name__)

router = APIRouter(prefix="/appeal", include_in_schema=False)

# What the page says when the step posted is not the one the appeal waits for (done already, say).
NOT_OPEN = "This step has already been recorded, or the appeal is not ready for it yet. Nothing was changed."
REFUSED = "The appeal could not take this just now. Nothing was changed."


async def _read_form(request: Request) -> dict[str, str] | None:
    """The posted text fields (the first of each name); None for a malformed form or one with files."""
    try:
        form = await request.form(max_files=0, max_fields=200)
    except StarletteHTTPException:
        return None
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, value)
    return fields


async def _posted_fields(
    request: Request, visit: AppealVisit, secret_key: str, refused: Callable[[str], Awaitable[None]]
) -> dict[str, str] | Response:
    """The fields of a form posted from this session's page; or, the refusal audited, the page that asks
    for it again (a malformed form, or one whose CSRF token is not this session's)."""
    fields = await _read_form(request)
    if fields is None:
        await refused("malformed")
        return form_expired_page(visit.appeal.role.home)
    if not csrf_matches(appeal_csrf_token(secret_key, visit.access.token_hash), fields.get("csrf_token")):
        await refused("csrf")
        return form_expired_page(visit.appeal.role.home)
    return fields


# ---- the link ---------------------------------------------------------------------------------


@router.get(
    "/r/{token:path}",
    dependencies=[
        rate_limited(RateLimit.AGENCY_LINK, page=too_many_requests_page("appeal/too_many_requests.html"))
    ],
)
async def open_appeal_link(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> Response:
    """Exchange the link for a session cookie and go to the holder's page; or the one refusal page."""
    opened = await run_in_threadpool(open_link, sessions, policies, token=token, now=now)
    if isinstance(opened, LinkRefused):
        # One page and one status whatever the reason: nothing tells a stranger that a token exists.
        return link_refused_page()
    response = redirect(opened.appeal.role.home)
    set_session_cookie(
        response,
        SESSION_COOKIE,
        opened.session_token,
        path=COOKIE_PATH,
        secure=settings.public_base_url.startswith("https://"),
    )
    return response


# ---- giving the appeal a step ------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """recorded; refused (by the appeal, `message` says why); ended (its workflow has finished);
    unavailable (not delivered); uncertain (timed out: it may yet be recorded)."""

    outcome: str
    message: str = ""


async def _deliver(
    client: Client,
    visit: AppealVisit,
    *,
    update: Any,
    update_name: str,
    kind: str,
    body: BaseModel,
    record: Callable[[int], BaseModel],
    actor: Actor,
) -> Delivery:
    view = visit.appeal
    # The same step sent again from the same session is the same update: recorded once.
    update_id = case_updates.update_id_for(update_name, visit.access.token_hash, body.model_dump_json())
    # The texts stay in the database; the workflow is told the submission's id.
    submission_id = await run_in_threadpool(
        store_link_submission,
        visit.sessions,
        reference=view.case_reference,
        kind=kind,
        key=update_id,
        body=body.model_dump(mode="json"),
        submitted_by=view.submitted_by,
    )
    try:
        await case_updates.execute_workflow_update(
            client,
            appeal_workflow_id(view.case_reference),
            update,
            args=[actor, record(submission_id)],
            update_id=update_id,
        )
    except WorkflowUpdateFailedError as error:
        # Refused by the appeal: nothing of it is kept.
        await run_in_threadpool(forget_link_submission, visit.sessions, submission_id)
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == "StageConflict":
            return Delivery("refused", f"{cause.message} Nothing was changed.")
        log.warning("an appeal step was refused by the appeal workflow: %s", type(cause).__name__)
        return Delivery("refused", REFUSED)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:  # the appeal's workflow has finished
            await run_in_threadpool(forget_link_submission, visit.sessions, submission_id)
            return Delivery("ended")
        log.warning("an appeal step could not reach the appeal workflow: %s", error.status)
        return Delivery("unavailable")
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        log.warning("an appeal step timed out on its way to the appeal workflow")
        return Delivery("uncertain")
    return Delivery("recorded")


def _not_delivered_page(delivery: Delivery, view: AppealView, policy: LocalityPolicy) -> Response | None:
    """The page for a step the appeal refused or can no longer take; None when it may be sent again (the
    form comes back saying it was not recorded)."""
    if delivery.outcome == "refused":
        return conflict_page(view, policy, delivery.message)
    if delivery.outcome == "ended":
        return ended_page(view, policy)
    return None


# ---- the contact names the chair ---------------------------------------------------------------


@router.get("/name-chair")
async def name_chair_form(visit: ContactVisitDep, settings: SettingsDep) -> Response:
    state = await run_in_threadpool(appeal_state, visit.sessions, appeal_id=visit.appeal.appeal_id)
    await visit.audit("appeal_name_chair_viewed", "chair already named" if state.chair_key else "form shown")
    return name_chair_page(visit.access, visit.policy, settings.secret_key, state)


@router.post("/name-chair")
async def name_chair(
    request: Request, visit: ContactVisitDep, settings: SettingsDep, client: MaybeTemporalDep
) -> Response:
    view, policy = visit.appeal, visit.policy

    async def refused(detail: str) -> None:
        await visit.audit("appeal_chair_naming_refused", detail)

    fields = await _posted_fields(request, visit, settings.secret_key, refused)
    if isinstance(fields, Response):
        return fields
    state = await run_in_threadpool(appeal_state, visit.sessions, appeal_id=view.appeal_id)
    if state.chair_key is not None:
        await refused("already named")
        return name_chair_page(visit.access, policy, settings.secret_key, state)
    form = NameChairForm.from_fields(fields)
    checked = form.check(policy)
    if isinstance(checked, list):
        await refused("invalid")
        return name_chair_page(
            visit.access, policy, settings.secret_key, state, form=form, errors=checked, status_code=422
        )
    if client is None:
        await refused("unavailable")
        return name_chair_page(
            visit.access, policy, settings.secret_key, state, form=form, unavailable=True, status_code=503
        )
    naming: ChairNaming = checked
    delivery = await _deliver(
        client,
        visit,
        update=AppealWorkflow.name_chair,
        update_name="name_chair",
        kind="appeal_chair",
        body=naming,
        record=lambda submission_id: ChairRecord(chair_key=naming.chair, submission_id=submission_id),
        actor=Actor(role="appeal_contact"),
    )
    if delivery.outcome != "recorded":
        await refused(delivery.outcome)
        refusal = _not_delivered_page(delivery, view, policy)
        if refusal is not None:
            return refusal
        return name_chair_page(
            visit.access, policy, settings.secret_key, state, form=form, unavailable=True, status_code=503
        )
    await visit.audit("appeal_chair_named", f"chair {naming.chair}")
    return redirect("/appeal/name-chair/confirmation")


@router.get("/name-chair/confirmation")
async def name_chair_confirmation(visit: ContactVisitDep, settings: SettingsDep) -> Response:
    state = await run_in_threadpool(appeal_state, visit.sessions, appeal_id=visit.appeal.appeal_id)
    if state.chair_key is None:
        return redirect("/appeal/name-chair")
    await visit.audit("appeal_name_chair_viewed", "confirmation")
    return name_chair_page(visit.access, visit.policy, settings.secret_key, state, confirmed=True)


# ---- the chair's page --------------------------------------------------------------------------


@router.get("/chair")
async def chair_view(visit: ChairVisitDep, settings: SettingsDep, done: str | None = None) -> Response:
    state = await run_in_threadpool(appeal_state, visit.sessions, appeal_id=visit.appeal.appeal_id)
    bundle = await run_in_threadpool(load_bundle, visit.sessions, view=visit.appeal, policy=visit.policy)
    actions = state.actions(visit.now)
    shown = f"{', '.join(a.value for a in actions)} form shown" if actions else "no form"
    await visit.audit("appeal_bundle_viewed", f"stage {state.stage}; {shown}")
    return chair_page(
        visit.access, visit.policy, settings.secret_key, state, bundle, now=visit.now, done=done
    )


@dataclass(frozen=True)
class _Step:
    update: Any
    update_name: str
    kind: str
    audit_action: str
    record: Callable[[BaseModel, int], BaseModel]
    summary: Callable[[BaseModel], str]


def _criteria(body: BaseModel) -> AppealCriteria:
    assert isinstance(body, AppealCriteria)
    return body


def _panel(body: BaseModel) -> AppealPanel:
    assert isinstance(body, AppealPanel)
    return body


def _decision(body: BaseModel) -> AppealDecision:
    assert isinstance(body, AppealDecision)
    return body


STEPS: dict[ChairAction, _Step] = {
    ChairAction.ACKNOWLEDGE: _Step(
        update=AppealWorkflow.acknowledge,
        update_name="acknowledge",
        kind="appeal_acknowledgement",
        audit_action="appeal_acknowledged",
        record=lambda body, submission_id: AcknowledgementRecord(submission_id=submission_id),
        summary=lambda body: "acknowledged",
    ),
    ChairAction.CRITERIA: _Step(
        update=AppealWorkflow.decide_criteria,
        update_name="decide_criteria",
        kind="appeal_criteria",
        audit_action="appeal_criteria_decided",
        record=lambda body, submission_id: CriteriaRecord(
            met=_criteria(body).met, has_lessons=bool(_criteria(body).lessons), submission_id=submission_id
        ),
        summary=lambda body: "grounds met" if _criteria(body).met else "grounds not met",
    ),
    ChairAction.PANEL: _Step(
        update=AppealWorkflow.record_panel,
        update_name="record_panel",
        kind="appeal_panel",
        audit_action="appeal_panel_recorded",
        record=lambda body, submission_id: AppealPanelRecord(
            meeting_at=_panel(body).meeting_at, submission_id=submission_id
        ),
        summary=lambda body: f"{len(_panel(body).members)} member(s)",
    ),
    ChairAction.OUTCOME: _Step(
        update=AppealWorkflow.decide,
        update_name="decide",
        kind="appeal_decision",
        audit_action="appeal_outcome_recorded",
        record=lambda body, submission_id: AppealDecisionRecord(
            upheld=_decision(body).upheld,
            recommendation_count=len(_decision(body).recommendations),
            has_lessons=bool(_decision(body).lessons),
            submission_id=submission_id,
        ),
        summary=lambda body: (
            f"{'upheld' if _decision(body).upheld else 'not upheld'}; "
            f"{len(_decision(body).recommendations)} recommendation(s)"
        ),
    ),
}


async def _chair_step(
    action: ChairAction, request: Request, visit: AppealVisit, secret_key: str, client: Client | None
) -> Response:
    """Check the chair's form, keep it, and give it to the appeal workflow; then back to the chair's page."""
    view, policy = visit.appeal, visit.policy
    step = STEPS[action]

    async def refused(detail: str) -> None:
        await visit.audit("appeal_chair_step_refused", f"{action.value}: {detail}")

    fields = await _posted_fields(request, visit, secret_key, refused)
    if isinstance(fields, Response):
        return fields
    state = await run_in_threadpool(appeal_state, visit.sessions, appeal_id=view.appeal_id)
    if action not in state.actions(visit.now):
        await refused("not open")
        return conflict_page(view, policy, NOT_OPEN)
    form = CHAIR_FORMS[action].from_fields(fields)
    checked = form.check()

    async def form_again(status_code: int, errors: list[Any], unavailable: bool = False) -> Response:
        bundle = await run_in_threadpool(load_bundle, visit.sessions, view=view, policy=policy)
        return chair_page(
            visit.access,
            policy,
            secret_key,
            state,
            bundle,
            now=visit.now,
            action=action,
            values=form.values,
            errors=errors,
            unavailable=unavailable,
            status_code=status_code,
        )

    if isinstance(checked, list):
        await refused("invalid")
        return await form_again(422, checked)
    if client is None:
        await refused("unavailable")
        return await form_again(503, [], unavailable=True)
    body: BaseModel = checked
    delivery = await _deliver(
        client,
        visit,
        update=step.update,
        update_name=step.update_name,
        kind=step.kind,
        body=body,
        record=lambda submission_id: step.record(body, submission_id),
        actor=Actor(role="appeal_chair"),
    )
    if delivery.outcome != "recorded":
        await refused(delivery.outcome)
        refusal = _not_delivered_page(delivery, view, policy)
        if refusal is not None:
            return refusal
        return await form_again(503, [], unavailable=True)
    await visit.audit(step.audit_action, step.summary(body))
    return redirect(f"/appeal/chair?done={action.value}")


def _chair_step_route(action: ChairAction) -> Callable[..., Awaitable[Response]]:
    """The route of one of the chair's steps: each form posts to its own address."""

    async def route(
        request: Request, visit: ChairVisitDep, settings: SettingsDep, client: MaybeTemporalDep
    ) -> Response:
        return await _chair_step(action, request, visit, settings.secret_key, client)

    return route


# /appeal/chair/acknowledge, /appeal/chair/criteria, /appeal/chair/panel and /appeal/chair/outcome.
for _action in ChairAction:
    router.post(f"/chair/{_action.value}", name=f"chair_{_action.value}")(_chair_step_route(_action))
