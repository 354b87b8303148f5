"""Mail the service could not deliver: the failed-mail list that SPOCs work through by hand."""

from __future__ import annotations

from fastapi import APIRouter

from api.audit import add_audit
from api.case_store import failed_mail_of
from api.deps import SessionDep, StaffDep
from api.views import FailedMailView, failed_mail_view
from domain.staff import Permission

router = APIRouter(prefix="/api/mail", tags=["mail"])


@router.get(
    "/failed",
    response_model=list[FailedMailView],
    summary="Emails of your localities' cases that could not be delivered",
    description=(
        "Permanent failures (a refused address, a rejected message) are not retried. Each is also in its "
        "case's chronology and `failed_mail`, and the SPOC was emailed about it. A letter to the applicant "
        "can be sent again to a corrected address or by post (`POST /api/cases/{reference}/letters/resend`, "
        "which takes its message off this list); an agency's request can be resent to a corrected address "
        "(`.../information-requests/resend`)."
    ),
)
def failed_mail(staff: StaffDep, session: SessionDep) -> list[FailedMailView]:
    staff.require(Permission.VIEW_CASE)
    messages = failed_mail_of(session, None, staff.localities)
    add_audit(
        session,
        actor=staff.label,
        action="list_failed_mail",
        case_reference=None,
        detail=f"{len(messages)} messages",
    )
    session.commit()
    return [failed_mail_view(message) for message in messages]
