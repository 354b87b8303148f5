"""Record an application taken by phone, on paper, in person or by email: `/staff/applications/new`, the
questions of the online form on one staff page. The case starts exactly as `POST /api/cases` and `/apply`
start one (api.case_start), in one of the staff member's council areas; how the application came in and
who recorded it go in the audit trail with the case's reference.

The form's key (made when it is shown) is the application's idempotency key: sent twice, one case.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, Response, status

from api.case_start import ApplicationProblems, start_case
from api.deps import (
    MaybeTemporalDep,
    PoliciesDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    TodayDep,
)
from api.link_pages import FormError, errors_by_field, redirect
from api.staff.action_pages import FORM_KEY, UNAVAILABLE, audit, checked_fields, form_refused_page
from api.staff.application_form import CHANNELS, INCIDENTS, TAKEN, WHO, YES_NO, ApplicationForm, where
from api.staff.form_parts import whole_number
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep
from core.config import Settings
from domain.application import ApplicationChannel
from domain.policy import LocalityPolicy
from domain.staff import Permission, may

router = APIRouter(prefix="/staff", include_in_schema=False)

PATH = "/staff/applications/new"
KEY_REUSED = (
    "An application was recorded from this form before, with different answers: look for it in your cases "
    "before recording it again. To record this one as well, send the form again."
)
# Taking an application is the SPOC's work, as deciding its threshold is: panel members do not.
PERMISSION = Permission.DECIDE_THRESHOLD


def _page(
    signed_in: SignedIn,
    settings: Settings,
    policies: dict[str, LocalityPolicy],
    values: dict[str, str],
    *,
    errors: list[FormError] | None = None,
    refusal: str = "",
    unavailable: str = "",
    status_code: int = 200,
) -> Response:
    localities = sorted(signed_in.staff.localities & set(policies))
    return staff_page(
        "staff/application.html",
        signed_in,
        settings,
        status_code=status_code,
        current="record",
        localities=[(key, policies[key].council) for key in localities],
        channels=CHANNELS,
        who=WHO,
        yes_no=YES_NO,
        values=values,
        errors=errors or [],
        error_for=errors_by_field(errors or []),
        refusal=refusal,
        unavailable=unavailable,
    )


def _forbidden(signed_in: SignedIn, settings: Settings) -> Response:
    return staff_page(
        "staff/actions/forbidden.html",
        signed_in,
        settings,
        status_code=403,
        current="record",
        title="Record an application",
        case_url="/staff",
    )


@router.get("/applications/new")
async def new_application(
    signed_in: SignedInDep, settings: SettingsDep, policies: PoliciesDep, today: TodayDep
) -> Response:
    if not may(signed_in.staff.role, PERMISSION):
        return _forbidden(signed_in, settings)
    localities = sorted(signed_in.staff.localities & set(policies))
    values = {**ApplicationForm.blank(localities, today), "form_key": uuid.uuid4().hex}
    return _page(signed_in, settings, policies, values)


@router.post("/applications/new")
async def record_application(
    request: Request,
    signed_in: SignedInDep,
    settings: SettingsDep,
    session: SessionDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    client: MaybeTemporalDep,
) -> Response:
    # Up to the model's 100 incidents of 10 fields each, and the rest.
    fields = await checked_fields(request, signed_in, settings, session, "application", None, max_fields=1200)
    if isinstance(fields, Response):
        return fields
    if not may(signed_in.staff.role, PERMISSION):
        await audit(session, signed_in, "staff_action_refused", None, "application: role")
        return _forbidden(signed_in, settings)
    form_key = fields.get("form_key", "")
    if not FORM_KEY.match(form_key):
        await audit(session, signed_in, "staff_form_refused", None, "application: form key")
        return form_refused_page(signed_in, settings, PATH)
    localities = sorted(signed_in.staff.localities & set(policies))
    values = {**ApplicationForm.read(fields, localities), "form_key": form_key}

    async def again(
        status_code: int,
        detail: str,
        errors: list[FormError] | None = None,
        refusal: str = "",
        unavailable: str = "",
    ) -> Response:
        await audit(session, signed_in, "staff_action_refused", None, f"application: {detail}")
        return _page(
            signed_in,
            settings,
            policies,
            values,
            errors=errors,
            refusal=refusal,
            unavailable=unavailable,
            status_code=status_code,
        )

    step = fields.get("step", "save")
    if step == "add-incident":
        error = INCIDENTS.add(values)
        # Adding or removing an incident only shows the form again: nothing is checked or recorded.
        return _page(signed_in, settings, policies, values, errors=[error] if error else [])
    removing = whole_number(step.removeprefix("remove-incident-"), 3)
    if step.startswith("remove-incident-") and removing is not None:
        INCIDENTS.remove(values, removing)
        return _page(signed_in, settings, policies, values)
    checked = ApplicationForm.check(values, today)
    if isinstance(checked, list):
        return await again(400, "invalid " + ", ".join(sorted({e.field for e in checked})), errors=checked)
    if client is None:
        return await again(503, "unavailable", unavailable=UNAVAILABLE)
    application, channel = checked
    application = application.model_copy(update={"channel": ApplicationChannel(channel)})
    try:
        reference, created = await start_case(
            application,
            settings=settings,
            sessions=sessions,
            policies=policies,
            today=today,
            client=client,
            # The form's own key: a second send of the same form is the same case.
            idempotency_key=f"staff-{form_key}",
        )
    except ApplicationProblems as problems:
        return await again(400, "invalid", errors=[where(problem) for problem in problems.problems])
    except HTTPException as error:
        if error.status_code == status.HTTP_409_CONFLICT:
            values["form_key"] = uuid.uuid4().hex
            return await again(409, "form sent before with other answers", refusal=KEY_REUSED)
        return await again(503, "unavailable", unavailable=UNAVAILABLE)
    if created:
        await audit(
            session,
            signed_in,
            "application_recorded",
            reference,
            f"taken {TAKEN[channel]}; letters by {application.contact_preference.value}",
        )
    return redirect(f"/staff/cases/{reference}?done=application")
