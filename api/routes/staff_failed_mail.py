"""The staff page of emails that could not be delivered, `/staff/failed-mail`, for the cases of the staff
member's areas: the information requests whose email failed, each with a link to send it again to a
corrected address (the resend action page, the JSON API's `information-requests/resend`), and every other
email that failed for good (as `GET /api/mail/failed` lists them), to act on by hand. Audited as the JSON
list is.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.audit import add_audit
from api.case_store import failed_mail_of
from api.deps import SessionDep, SettingsDep
from api.staff.form_parts import OPEN_REQUEST_STATES
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep
from db.models import Case, InformationRequest, OutboxMessage
from domain.staff import Permission, may

router = APIRouter(prefix="/staff", include_in_schema=False)


@dataclass(frozen=True)
class FailedRequest:
    """An information request whose email failed: resent to a corrected address from its action page."""

    reference: str
    request_key: str
    agency: str
    address: str | None
    due_on: object


def _failed(session: Session, signed_in: SignedIn) -> tuple[list[FailedRequest], list[OutboxMessage]]:
    localities = signed_in.staff.localities
    rows = session.execute(
        select(InformationRequest, Case.reference)
        .join(Case, Case.id == InformationRequest.case_id)
        .where(
            Case.locality.in_(localities),
            Case.stage != "closed",
            InformationRequest.delivery == "failed",
            InformationRequest.state.in_(OPEN_REQUEST_STATES),
        )
        .order_by(Case.reference, InformationRequest.id)
    ).all()
    requests = [
        FailedRequest(reference, r.request_key, r.agency_name, r.agency_email, r.due_on)
        for r, reference in rows
    ]
    messages = failed_mail_of(session, None, localities)
    add_audit(
        session,
        actor=signed_in.staff.label,
        action="list_failed_mail",
        case_reference=None,
        detail=f"{len(messages)} messages; {len(requests)} requests",
    )
    session.commit()
    return requests, messages


@router.get("/failed-mail")
async def failed_mail(signed_in: SignedInDep, settings: SettingsDep, session: SessionDep) -> Response:
    if not may(signed_in.staff.role, Permission.MANAGE_INFORMATION_REQUESTS):
        return staff_page(
            "staff/actions/forbidden.html",
            signed_in,
            settings,
            status_code=403,
            current="failed-mail",
            case_url="/staff",
        )
    requests, messages = await run_in_threadpool(_failed, session, signed_in)
    return staff_page(
        "staff/failed_mail.html",
        signed_in,
        settings,
        current="failed-mail",
        requests=requests,
        messages=messages,
        may_resend=may(signed_in.staff.role, Permission.MANAGE_INFORMATION_REQUESTS),
    )
