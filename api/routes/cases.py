"""The case API: apply for a Community Trigger, read a case, download an agency's file, list cases.

The staff decisions that move a case on are in `api.routes.case_actions`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.audit import add_audit
from api.case_store import (
    accepted_attachment,
    case_input_for,
    cases_in_localities,
    failed_mail_of,
    forget_case,
    store_case,
)
from api.deps import (
    CaseDep,
    PoliciesDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    StaffDep,
    TemporalDep,
    TodayDep,
    check_idempotency_key,
)
from api.errors import invalid
from api.rate_limits import TOO_MANY_REQUESTS_RESPONSE, RateLimit, rate_limited
from api.views import CaseCreated, CaseSummary, CaseView, case_summary, case_view
from domain.application import Application
from domain.staff import Permission
from domain.threshold import assess, check_application
from workflows.case import CaseWorkflow, search_attributes_at_start
from workflows.models import CaseStage, case_workflow_id

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.post(
    "",
    dependencies=[rate_limited(RateLimit.APPLY)],
    status_code=status.HTTP_201_CREATED,
    response_model=CaseCreated,
    summary="Apply for a Community Trigger",
    description=(
        "Validates the application exactly as `/api/eligibility` does, stores it, gives it a reference "
        "and starts its case. Send an `Idempotency-Key` header (8-64 letters, digits, `-_.:`) so that a "
        "retry returns the same case instead of opening a second one."
    ),
    responses={
        409: {"description": "Idempotency-Key reused for a different application"},
        422: {"description": "A field to correct"},
        503: {"description": "Try again shortly"},
        **TOO_MANY_REQUESTS_RESPONSE,
    },
)
async def apply(
    application: Application,
    response: Response,
    request: Request,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    client: TemporalDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> CaseCreated:
    check_idempotency_key(idempotency_key)
    problems = check_application(application, today=today, policies=policies)
    if problems:
        raise invalid(*((problem.loc, problem.msg) for problem in problems))
    policy = policies[application.locality]
    received_on = application.received_on or today
    assessment = assess(application, policy.threshold, received_on)
    reference, created = await run_in_threadpool(
        lambda: store_case(
            sessions,
            application=application,
            policy=policy,
            received_on=received_on,
            assessment=assessment,
            idempotency_key=idempotency_key,
        )
    )
    try:
        await client.start_workflow(
            CaseWorkflow.run,
            case_input_for(policy, reference, received_on),
            id=case_workflow_id(reference),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=search_attributes_at_start(reference, policy.key),
            static_summary=f"Case {reference} ({policy.council})",
            memo={APPLICATION_MEMO: application_digest(idempotency_key)} if idempotency_key else None,
        )
    except WorkflowAlreadyStartedError as error:
        if created and not await started_for_same_application(client, reference, idempotency_key):
            # A new case whose reference already has a workflow: the database and Temporal disagree
            # (say, a database restored without Temporal). Keep nothing rather than join another case,
            # and keep the number used up: giving it back would hand the next application the same clash.
            await run_in_threadpool(
                lambda: forget_case(sessions, reference=reference, give_number_back=False)
            )
            log.error("case reference %s already has a workflow; application not saved", reference)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The case service could not open a case; your application was not saved. Please try "
                "again shortly.",
            ) from error
        # Otherwise: a retry of an application whose case is already running.
    except RPCError as error:
        if created:
            # Nothing half-written: a case that could not start is not kept. Its number goes to the next
            # application only if the workflow surely does not exist (a timeout may have started it).
            started = await workflow_may_exist(client, reference)
            await run_in_threadpool(
                lambda: forget_case(sessions, reference=reference, give_number_back=not started)
            )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is unavailable; your application was not saved. Please try again shortly.",
        ) from error
    status_url = str(request.url_for("read_case", reference=reference))
    response.headers["Location"] = status_url
    if not created:
        response.status_code = status.HTTP_200_OK
    return CaseCreated(reference=reference, status_url=status_url)


# The memo of a case workflow started for an application with an Idempotency-Key: its digest, so that two
# concurrent tries of the same application recognise each other's workflow.
APPLICATION_MEMO = "application"


def application_digest(idempotency_key: str) -> str:
    return hashlib.sha256(f"application|{idempotency_key}".encode()).hexdigest()


async def workflow_may_exist(client: Client, reference: str) -> bool:
    """False only when Temporal answers that there is no workflow for this reference."""
    try:
        await client.get_workflow_handle(case_workflow_id(reference)).describe(
            rpc_timeout=dt.timedelta(seconds=5)
        )
    except RPCError as error:
        return error.status != RPCStatusCode.NOT_FOUND
    except Exception:  # not answering: it may have been started
        return True
    return True


async def started_for_same_application(client: Client, reference: str, idempotency_key: str | None) -> bool:
    """Whether the workflow already running for this reference was started by a concurrent try of the same
    application (the same Idempotency-Key), not for some other case."""
    if not idempotency_key:
        return False
    try:
        description = await client.get_workflow_handle(case_workflow_id(reference)).describe()
        memo = await description.memo_value(APPLICATION_MEMO, default=None)
    except (RPCError, ValueError, TypeError):
        return False
    return memo == application_digest(idempotency_key)


@router.get("/{reference}", response_model=CaseView, name="read_case", summary="Read a case")
def read_case(case: CaseDep, staff: StaffDep, session: SessionDep, policies: PoliciesDep) -> CaseView:
    add_audit(session, actor=staff.label, action="view_case", case_reference=case.reference)
    session.commit()
    return case_view(case, failed_mail_of(session, [case.reference]), policies[case.locality])


@router.get(
    "/{reference}/attachments/{attachment_id}",
    summary="Download a file an agency attached to its answer",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(attachment_id: int, case: CaseDep, staff: StaffDep, session: SessionDep) -> Response:
    attachment = accepted_attachment(session, case=case, attachment_id=attachment_id)
    if attachment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such attachment on this case.")
    add_audit(
        session,
        actor=staff.label,
        action="download_attachment",
        case_reference=case.reference,
        detail=f"attachment #{attachment.id}",
    )
    session.commit()
    return Response(
        content=attachment.content,
        media_type=attachment.content_type,
        headers={
            # Always a download, never shown inline: the file came from outside.
            "Content-Disposition": f'attachment; filename="attachment-{attachment.id}"; '
            f"filename*=UTF-8''{quote(attachment.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get("", response_model=list[CaseSummary], summary="List cases of your localities")
def list_cases(
    staff: StaffDep,
    session: SessionDep,
    today: TodayDep,
    locality: str | None = None,
    stage: CaseStage | None = None,
    overdue: Annotated[
        bool | None, Query(description="Only cases past (true) or within (false) their deadline")
    ] = None,
) -> list[CaseSummary]:
    staff.require(Permission.VIEW_CASE)
    cases = cases_in_localities(
        session, localities=staff.localities, today=today, locality=locality, stage=stage, overdue=overdue
    )
    add_audit(
        session, actor=staff.label, action="list_cases", case_reference=None, detail=f"{len(cases)} cases"
    )
    session.commit()
    return [case_summary(case, today) for case in cases]
