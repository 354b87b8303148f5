"""What the applicant's case pages share: the visit (the session a cookie carries, with the case's policy
and the clock), its forms (read, CSRF-checked), and giving the case or appeal workflow an action on the
applicant's behalf (kept as a submission first; the page for each way it can end)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import case_updates
from api.applicant.sessions import (
    ACTOR,
    SESSION_COOKIE,
    ApplicantSession,
    SessionRefused,
    check_session,
)
from api.applicant.views import CaseDetails, load_case
from api.audit import record_audit
from api.case_store import forget_link_submission, store_link_submission
from api.deps import NowDep, PoliciesDep, SessionFactoryDep, SettingsDep
from api.link_pages import (
    FormError,
    ShowPage,
    csrf_matches,
    errors_by_field,
    link_page,
    redirect,
    sign,
)
from core.config import Settings
from domain.calendar import london_date
from domain.policy import LocalityPolicy
from workflows.models import Actor

log = logging.getLogger(__name__)

APPLICANT = Actor(role="applicant")


def page(template: str, status_code: int = 200, **context: Any) -> Response:
    return link_page(f"case/{template}", status_code, **context)


def too_many_requests_page(seconds: int) -> Response:
    minutes = max(1, -(-seconds // 60))
    response = page("too_many_requests.html", 429, wait=f"{minutes} minute{'s' if minutes != 1 else ''}")
    response.headers["Retry-After"] = str(seconds)
    return response


# ---- the visit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseVisit:
    access: ApplicantSession
    policy: LocalityPolicy
    sessions: sessionmaker[Session]
    now: dt.datetime

    @property
    def today(self) -> dt.date:
        return london_date(self.now)

    async def audit(self, action: str, detail: str) -> None:
        await run_in_threadpool(
            record_audit,
            self.sessions,
            at=self.now,
            actor=ACTOR,
            action=action,
            case_reference=self.access.case.case_reference,
            detail=detail,
        )

    async def details(self) -> CaseDetails:
        return await run_in_threadpool(
            load_case, self.sessions, case_id=self.access.case.case_id, policy=self.policy, today=self.today
        )


async def case_visit(
    request: Request, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep, settings: SettingsDep
) -> CaseVisit:
    access = await run_in_threadpool(
        check_session, sessions, token=request.cookies.get(SESSION_COOKIE), now=now
    )
    if isinstance(access, SessionRefused):
        raise ShowPage(page("session_refused.html", 401, new_link_csrf=new_link_csrf(settings, now)))
    return CaseVisit(access=access, policy=policies[access.case.locality], sessions=sessions, now=now)


CaseVisitDep = Annotated[CaseVisit, Depends(case_visit)]


def csrf_for(settings: Settings, visit: CaseVisit) -> str:
    return sign(settings.secret_key, f"applicant:{visit.access.token_hash}")


def new_link_csrf(settings: Settings, now: dt.datetime, days_ago: int = 0) -> str:
    """The new-link form has no session to bind to: its token is signed for the day (yesterday's is
    still taken, so a form shown before midnight works after)."""
    day = london_date(now) - dt.timedelta(days=days_ago)
    return sign(settings.secret_key, f"applicant-new-link:{day.isoformat()}")


async def read_form(request: Request) -> dict[str, list[str]] | None:
    """The posted text fields (all values of each name); None for a malformed form or one with files."""
    try:
        form = await request.form(max_files=0, max_fields=100)
    except StarletteHTTPException:
        return None
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


def first_values(fields: Mapping[str, list[str]]) -> dict[str, str]:
    return {name: values[0] for name, values in fields.items()}


async def posted_fields(
    request: Request, visit: CaseVisit, settings: Settings, action: str
) -> dict[str, list[str]] | Response:
    fields = await read_form(request)
    if fields is None or not csrf_matches(csrf_for(settings, visit), first_values(fields).get("csrf_token")):
        await visit.audit(
            "applicant_action_refused", f"{action}: {'malformed' if fields is None else 'csrf'}"
        )
        return page("form_expired.html", 400)
    return fields


# ---- giving the workflow an action -------------------------------------------------------------


async def deliver(
    client: Client,
    visit: CaseVisit,
    *,
    workflow_id: str,
    update: Any,
    kind: str,
    body: BaseModel,
    record: Callable[[int], BaseModel],
) -> str | None:
    """None when recorded; otherwise the page's message (refused, ended, unavailable)."""
    name: str = update.__name__
    update_id = case_updates.update_id_for(name, visit.access.token_hash, body.model_dump_json())
    submission_id = await run_in_threadpool(
        store_link_submission,
        visit.sessions,
        reference=visit.access.case.case_reference,
        kind=kind,
        key=update_id,
        body=body.model_dump(mode="json"),
        submitted_by=visit.access.case.submitted_by,
    )
    try:
        await case_updates.execute_workflow_update(
            client, workflow_id, update, args=[APPLICANT, record(submission_id)], update_id=update_id
        )
    except WorkflowUpdateFailedError as error:
        await run_in_threadpool(forget_link_submission, visit.sessions, submission_id)
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == "StageConflict":
            return f"{cause.message} Nothing was changed."
        log.warning("an applicant's action was refused: %s", type(cause).__name__)
        return "Your case could not take this just now. Nothing was changed."
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            await run_in_threadpool(forget_link_submission, visit.sessions, submission_id)
            return "Your case has closed, so nothing more can be recorded. Nothing was changed."
        log.warning("an applicant's action could not reach the case: %s", error.status)
        return UNAVAILABLE
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return UNAVAILABLE
    return None


UNAVAILABLE = (
    "We could not reach your case record just now. Wait a minute and try again: if it did reach it, it "
    "will not be recorded twice."
)


async def outcome_page(visit: CaseVisit, action: str, refusal: str | None, done: str) -> Response:
    if refusal is not None:
        await visit.audit(
            "applicant_action_refused", f"{action}: {'unavailable' if refusal == UNAVAILABLE else 'refused'}"
        )
        return page(
            "not_recorded.html", 503 if refusal == UNAVAILABLE else 409, home="/case", message=refusal
        )
    await visit.audit(f"applicant_{action}", "recorded")
    return redirect(f"/case?done={done}")


def closed_page(visit: CaseVisit, what: str) -> Response:
    return page(
        "not_recorded.html",
        409,
        home="/case",
        message=f"You cannot {what} at this stage of your case. Nothing was changed.",
    )


def form_page(
    template: str, visit: CaseVisit, settings: Settings, details: CaseDetails, **context: Any
) -> Response:
    errors: list[FormError] = context.pop("errors", [])
    status_code: int = context.pop("status_code", 422 if errors else 200)
    return page(
        template,
        status_code,
        home="/case",
        case=details,
        council=visit.policy,
        csrf_token=csrf_for(settings, visit),
        errors=errors,
        error_for=errors_by_field(errors),
        has_errors=bool(errors),
        **{"values": {}, **context},
    )
