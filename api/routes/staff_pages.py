"""The staff pages' dashboard (`/staff`) and case page (`/staff/cases/{reference}`), with a letter as it was
sent and a file attached to the case: read from the database for the signed-in member of staff.

Only cases the member of staff may see are shown (api.auth.scope_of): another locality's case, or
a reference that does not exist, gets the same not-found page. Every view of a case, a letter or a file is
audited; the dashboard's lists are not (each case on them is audited when opened), but a search is, by its
number of results (never what was searched for). A search may be a name, so it is sent in the body of a
POST, never in an address; the other filters are in the address, so a filtered list can be bookmarked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.applicant.views import load_letter
from api.audit import add_staff_audit
from api.auth import Staff
from api.case_store import accepted_attachment, applicant_information_of, case_for_staff, failed_mail_of
from api.deps import NowDep, PoliciesDep, SessionDep, SessionFactoryDep, SettingsDep, TodayDep
from api.link_pages import FormError, errors_by_field, redirect
from api.security_headers import download_headers
from api.staff.action_pages import checked_fields, not_found_page
from api.staff.case_page import CasePage, case_page
from api.staff.dashboard import (
    STAGE_NAMES,
    TAG_NAMES,
    Dashboard,
    Filters,
    Position,
    load_dashboard,
    read_filters,
    scope_of,
)
from api.staff.done import done_message
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep
from api.views import case_view
from core.config import Settings
from db.models import Attachment, Case, Letter
from domain.policy import LocalityPolicy
from domain.staff import Permission, may

router = APIRouter(prefix="/staff", include_in_schema=False)

# Anything else in the address is not a case: answered at once, without a query.
_REFERENCE = re.compile(r"^[A-Z0-9-]{1,30}$")
_ID = re.compile(r"^[0-9]{1,12}$")


# ---- the dashboard -------------------------------------------------------------------------------


def _dashboard_page(
    signed_in: SignedIn,
    settings: Settings,
    policies: Mapping[str, LocalityPolicy],
    dashboard: Dashboard,
    filters: Filters,
    errors: list[FormError],
) -> Response:
    localities = sorted(signed_in.staff.localities)
    return staff_page(
        "staff/dashboard.html",
        signed_in,
        settings,
        status_code=400 if errors else 200,
        current="cases",
        dashboard=dashboard,
        filters=filters,
        # Pages of a plain list are links; pages of a search are forms that carry the search again.
        page_link=lambda cursor_name, cursor: (
            "/staff?" + urlencode({**filters.as_query, cursor_name: cursor})
        ),
        stage_link=lambda stage: "/staff?" + urlencode({**filters.as_query, "stage": stage}),
        overdue_link="/staff?" + urlencode({**filters.as_query, "overdue": "yes"}),
        councils=[(key, policies[key].council if key in policies else key) for key in localities],
        stage_names=STAGE_NAMES,
        tag_names=TAG_NAMES,
        errors=errors,
        error_for=errors_by_field(errors),
        has_errors=bool(errors),
    )


def _load(
    sessions: sessionmaker[Session],
    staff: Staff,
    policies: Mapping[str, LocalityPolicy],
    today: dt.date,
    filters: Filters,
    cursors: Mapping[str, str],
    now: dt.datetime,
) -> Dashboard:
    with sessions() as session:
        dashboard = load_dashboard(
            session,
            staff=staff,
            policies=policies,
            today=today,
            filters=filters,
            after=Position.from_cursor(cursors.get("after")),
            before=Position.from_cursor(cursors.get("before")),
        )
        if filters.search:
            # Who searched, and how much it found: never what for (it may be a name).
            add_staff_audit(session, staff, now, "search_cases", None, f"{dashboard.matching} cases found")
            session.commit()
        return dashboard


@router.get("")
async def dashboard(
    request: Request,
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    now: NowDep,
) -> Response:
    role = signed_in.staff.role
    if not may(role, Permission.VIEW_CASE) and may(role, Permission.MANAGE_USERS):
        # An admin sees no case: their home is the users page.
        return redirect("/staff/users")
    fields = dict(request.query_params)
    # A search never comes from the address (it would be kept in histories and logs); the form posts it.
    fields.pop("search", None)
    filters, errors = read_filters(fields, scope_of(signed_in.staff))
    loaded = await run_in_threadpool(_load, sessions, signed_in.staff, policies, today, filters, fields, now)
    return _dashboard_page(signed_in, settings, policies, loaded, filters, errors)


@router.post("")
async def search(
    request: Request,
    signed_in: SignedInDep,
    settings: SettingsDep,
    session: SessionDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    now: NowDep,
) -> Response:
    """The dashboard's form: with a search, the results (their pages are forms too); without one, the
    filtered list at its address."""
    fields = await checked_fields(request, signed_in, settings, session, "search", None)
    if isinstance(fields, Response):
        return fields
    filters, errors = read_filters(fields, scope_of(signed_in.staff))
    if not filters.search and not errors:
        return redirect("/staff?" + urlencode(filters.as_query) if filters.as_query else "/staff")
    loaded = await run_in_threadpool(_load, sessions, signed_in.staff, policies, today, filters, fields, now)
    return _dashboard_page(signed_in, settings, policies, loaded, filters, errors)


# ---- a case --------------------------------------------------------------------------------------


def _visible_case(session: Session, staff: Staff, reference: str) -> Case | None:
    """The case, if this member of staff may see it (their locality's; for the county team, appealed)."""
    if not _REFERENCE.match(reference):
        return None
    return case_for_staff(session, reference=reference, staff=staff)


def _read_case(
    sessions: sessionmaker[Session],
    staff: Staff,
    reference: str,
    policies: Mapping[str, LocalityPolicy],
    today: dt.date,
    now: dt.datetime,
    kind: str,
) -> CasePage | None:
    with sessions() as session:
        case = _visible_case(session, staff, reference)
        if case is None:
            return None
        policy = policies[case.locality]
        view = case_view(
            case, failed_mail_of(session, [case.reference]), policy, applicant_information_of(session, case)
        )
        page = case_page(case, view, staff=staff, council=policy.council, today=today, kind=kind)
        add_staff_audit(session, staff, now, "view_case", case.reference, "case page")
        session.commit()
        return page


@router.get("/cases/{reference}")
async def case(
    reference: str,
    request: Request,
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    now: NowDep,
) -> Response:
    kind = request.query_params.get("kind", "")
    page = await run_in_threadpool(
        _read_case, sessions, signed_in.staff, reference, policies, today, now, kind
    )
    if page is None:
        return not_found_page(signed_in, settings, reference[:40])
    return staff_page(
        "staff/case.html",
        signed_in,
        settings,
        current="cases",
        page=page,
        case=page.view,
        done=done_message(request.query_params.get("done")),
        today=today,
    )


def _letter_of(
    sessions: sessionmaker[Session], staff: Staff, reference: str, letter_id: str, now: dt.datetime
) -> tuple[Case | None, Letter | None]:
    """The case (if visible) and its letter (if it is one of its letters, as the applicant's page finds it),
    the view audited."""
    with sessions() as session:
        case = _visible_case(session, staff, reference)
        if case is None or not _ID.match(letter_id):
            return case, None
        letter = load_letter(sessions, case_id=case.id, letter_id=int(letter_id))
        if letter is not None:
            add_staff_audit(session, staff, now, "view_letter", case.reference, f"letter #{letter.id}")
            session.commit()
        return case, letter


@router.get("/cases/{reference}/letters/{letter_id}")
async def letter(
    reference: str,
    letter_id: str,
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    now: NowDep,
) -> Response:
    """A letter to the applicant as it was sent (its link to the applicant's page is not kept)."""
    case, found = await run_in_threadpool(_letter_of, sessions, signed_in.staff, reference, letter_id, now)
    if case is None:
        return not_found_page(signed_in, settings, reference[:40])
    return staff_page(
        "staff/letter.html",
        signed_in,
        settings,
        status_code=200 if found else 404,
        current="cases",
        reference=case.reference,
        letter=found,
        missing="letter",
    )


def _attachment_of(
    sessions: sessionmaker[Session], staff: Staff, reference: str, attachment_id: str, now: dt.datetime
) -> tuple[Case | None, Attachment | None]:
    with sessions() as session:
        case = _visible_case(session, staff, reference)
        if case is None or not _ID.match(attachment_id):
            return case, None
        attachment = accepted_attachment(session, case=case, attachment_id=int(attachment_id))
        if attachment is not None:
            # The same entry as a download through the API.
            add_staff_audit(
                session, staff, now, "download_attachment", case.reference, f"attachment #{attachment.id}"
            )
            session.commit()
        return case, attachment


@router.get("/cases/{reference}/attachments/{attachment_id}")
async def attachment(
    reference: str,
    attachment_id: str,
    signed_in: SignedInDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    now: NowDep,
) -> Response:
    """A file attached to the case (by an agency to its answer, or by the applicant), always downloaded."""
    case, found = await run_in_threadpool(
        _attachment_of, sessions, signed_in.staff, reference, attachment_id, now
    )
    if case is None:
        return not_found_page(signed_in, settings, reference[:40])
    if found is None:
        return staff_page(
            "staff/letter.html",
            signed_in,
            settings,
            status_code=404,
            reference=case.reference,
            missing="file",
        )
    return Response(content=found.content, media_type=found.content_type, headers=_download_headers(found))


def _download_headers(attachment: Attachment) -> dict[str, str]:
    # As the API's download (api.routes.cases): never shown inline, for the file came from outside.
    return download_headers(
        f"attachment; filename=\"attachment-{attachment.id}\"; filename*=UTF-8''{quote(attachment.filename)}"
    )
