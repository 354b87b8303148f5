"""The case API: apply for a Community Trigger, read a case, download an agency's file, list cases.

The staff decisions that move a case on are in `api.routes.case_actions`.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status

from api.audit import add_audit
from api.case_start import ApplicationProblems, start_case
from api.case_store import (
    accepted_attachment,
    cases_in_localities,
    failed_mail_of,
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
from workflows.models import CaseStage

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
    try:
        reference, created = await start_case(
            application,
            settings=settings,
            sessions=sessions,
            policies=policies,
            today=today,
            client=client,
            idempotency_key=idempotency_key,
        )
    except ApplicationProblems as problems:
        raise invalid(*((problem.loc, problem.msg) for problem in problems.problems)) from None
    status_url = str(request.url_for("read_case", reference=reference))
    response.headers["Location"] = status_url
    if not created:
        response.status_code = status.HTTP_200_OK
    return CaseCreated(reference=reference, status_url=status_url)


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
