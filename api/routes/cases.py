"""The case API: apply for a Community Trigger, read a case, download a file attached to it (an agency's or
the applicant's), list cases.

The staff decisions that move a case on are in `api.routes.case_actions`.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status

from api.audit import add_audit
from api.auth import scope_of
from api.case_start import ApplicationProblems, start_case
from api.case_store import (
    LIST_PAGE_MAX,
    LIST_PAGE_SIZE,
    accepted_attachment,
    applicant_information_of,
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
from api.staff.dashboard import Position
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
    return case_view(
        case,
        failed_mail_of(session, [case.reference]),
        policies[case.locality],
        applicant_information_of(session, case),
    )


@router.get(
    "/{reference}/attachments/{attachment_id}",
    summary="Download a file attached to the case (by an agency to its answer, or by the applicant)",
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


@router.get(
    "",
    response_model=list[CaseSummary],
    summary="List cases of your localities, a page at a time",
    description=(
        "The cases in the order their steps fall due (as on the staff dashboard), then those waiting on no "
        f"deadline, newest first; `limit` a page (default {LIST_PAGE_SIZE}, at most {LIST_PAGE_MAX}). When "
        "more follow, the `X-Next-Cursor` header holds the `cursor` of the next page and the `Link` header "
        'its address (`rel="next"`).'
    ),
    responses={422: {"description": "A cursor this list did not give"}},
)
def list_cases(
    request: Request,
    response: Response,
    staff: StaffDep,
    session: SessionDep,
    today: TodayDep,
    locality: str | None = None,
    stage: CaseStage | None = None,
    overdue: Annotated[
        bool | None, Query(description="Only cases past (true) or within (false) their deadline")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=LIST_PAGE_MAX)] = LIST_PAGE_SIZE,
    cursor: Annotated[str | None, Query(description="From the previous page's X-Next-Cursor")] = None,
) -> list[CaseSummary]:
    staff.require(Permission.VIEW_CASE)
    after = Position.from_cursor(cursor) if cursor else None
    if cursor and after is None:
        raise invalid(
            (("query", "cursor"), "Use the cursor of the previous page (its X-Next-Cursor header).")
        )
    scope = scope_of(staff)
    page = cases_in_localities(
        session,
        localities=frozenset(scope.localities),
        appeals_only=scope.appeals_only,
        today=today,
        locality=locality,
        stage=stage,
        overdue=overdue,
        after=after,
        limit=limit,
    )
    add_audit(
        session, actor=staff.label, action="list_cases", case_reference=None, detail=f"{len(page.rows)} cases"
    )
    session.commit()
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
        following = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return [case_summary(row, today) for row in page.rows]
