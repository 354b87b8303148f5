"""How a staff action page works, whichever decision it takes: GET shows the form (with a key of its own,
so that sending it twice applies it once); POST checks the CSRF token, reads the form, adds or removes a
row when asked, checks it, and gives the submission to the same function the JSON API calls
(api.case_decisions, api.appeal_decisions). Then: to the case page with `?done=<slug>`; or the form again
with what to correct, or why it was not recorded. Nothing is written unless it is recorded.

A case outside the staff member's localities is answered 404, a decision their role may not take 403, a
form whose CSRF token is not the session's with a page that says nothing was recorded. Every refusal is
audited (never with what was typed).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client

from api.appeal.views import STAGE_NAMES as APPEAL_STAGE_NAMES
from api.audit import add_audit
from api.case_decisions import CaseServiceUnavailable, DecisionRefused, InvalidDecision, KeyReused
from api.case_store import case_for_staff
from api.deps import CaseAction, MaybeTemporalDep, PoliciesDep, SessionDep, SettingsDep, TodayDep
from api.link_pages import FormError, ShowPage, errors_by_field, redirect
from api.staff.dashboard import STAGE_NAMES
from api.staff.form_parts import FormContext, StaffForm
from api.staff.pages import staff_page
from api.staff.sessions import SignedIn, SignedInDep, check_csrf
from core.config import Settings
from db.models import Case
from domain.policy import LocalityPolicy
from domain.staff import Permission, may

FORM_KEY = re.compile(r"^[0-9a-f]{32}$")
STEP_REMOVE = re.compile(r"^remove-([a-z]+)-([0-9]{1,3})$")
UNCERTAIN = (
    "The case service did not answer in time, so this may not have been recorded yet. Send the form again: "
    "it will be recorded once."
)
UNAVAILABLE = "The case service is unavailable just now, so nothing was recorded. Try again in a minute."
KEY_REUSED = (
    "This form was sent before with different answers, and that earlier one may still be recorded. Check "
    "the case page; if it is not there, check your answers and send this form again."
)
# The workflows say why a decision does not fit in their own terms: stage keys ("the threshold_check
# stage") and request keys ("threshold:leicestershire-police"). The pages say it in the words staff see.
_STAGES_IN_WORDS = re.compile(r"\bthe ([a-z_]+(?: or [a-z_]+)*) stage\b")
_REQUEST_KEYS = re.compile(r"\b(?:threshold|review):[a-z0-9-]+\b")


def _nothing(context: FormContext) -> dict[str, Any]:
    return {}


def _always(context: FormContext) -> str | None:
    return None


@dataclass(frozen=True)
class ActionPage:
    """One action's page at `/staff/cases/{reference}/<slug>`: its form, who may use it, the decision it
    takes, and what it offers (`offers`: more for the template) or why there is no form (`not_offered`)."""

    slug: str
    title: str
    submit: str
    form: type[StaffForm]
    permission: Permission
    decide: Callable[[CaseAction, Any, FormContext], Awaitable[Any]]
    offers: Callable[[FormContext], dict[str, Any]] = field(default=_nothing)
    not_offered: Callable[[FormContext], str | None] = field(default=_always)

    @property
    def template(self) -> str:
        return f"staff/actions/{self.slug}.html"


def case_url(reference: str) -> str:
    return f"/staff/cases/{reference}"


# ---- the pages around a form ------------------------------------------------------------------------


def not_found_page(signed_in: SignedIn, settings: Settings, reference: str) -> Response:
    return staff_page(
        "staff/actions/not_found.html",
        signed_in,
        settings,
        status_code=404,
        current="cases",
        reference=reference,
    )


def _case_of(session: Session, signed_in: SignedIn, settings: Settings, reference: str) -> Case:
    # Another locality's case is as good as absent: 404, saying nothing of it.
    case = case_for_staff(session, reference=reference, staff=signed_in.staff)
    if case is None:
        raise ShowPage(not_found_page(signed_in, settings, reference))
    return case


def staff_case(reference: str, signed_in: SignedInDep, settings: SettingsDep, session: SessionDep) -> Case:
    """The dependency of a page about a case: the case of the signed-in member of staff's localities, or
    the not-found page (the route does not run)."""
    return _case_of(session, signed_in, settings, reference)


StaffCaseDep = Annotated[Case, Depends(staff_case)]


async def audit(
    session: Session, signed_in: SignedIn, action: str, reference: str | None, detail: str
) -> None:
    def write() -> None:
        add_audit(
            session, actor=signed_in.staff.label, action=action, case_reference=reference, detail=detail
        )
        session.commit()

    await run_in_threadpool(write)


async def read_form(request: Request, max_fields: int = 400) -> dict[str, str] | None:
    """The posted text fields (the first of each name); None for a malformed form or one with files."""
    try:
        form = await request.form(max_files=0, max_fields=max_fields)
    except StarletteHTTPException:
        return None
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, value)
    return fields


def form_refused_page(signed_in: SignedIn, settings: Settings, back: str) -> Response:
    return staff_page("staff/actions/form_refused.html", signed_in, settings, status_code=400, back=back)


async def checked_fields(
    request: Request,
    signed_in: SignedIn,
    settings: Settings,
    session: Session,
    what: str,
    reference: str | None,
    max_fields: int = 400,
) -> dict[str, str] | Response:
    """The fields of a form sent from this session's page with its CSRF token; or, the refusal audited, the
    page that says nothing was recorded."""
    fields = await read_form(request, max_fields)
    if fields is None or not check_csrf(settings.secret_key, signed_in, fields.get("csrf")):
        await audit(
            session,
            signed_in,
            "staff_form_refused",
            reference,
            f"{what}: {'malformed' if fields is None else 'csrf'}",
        )
        return form_refused_page(signed_in, settings, case_url(reference) if reference else "/staff")
    return fields


# ---- showing and sending a form ----------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """What the form page says besides the form: errors to correct, why it was not recorded."""

    errors: Sequence[FormError] = ()
    refusal: str = ""
    unavailable: str = ""


def _form_page(
    page: ActionPage,
    signed_in: SignedIn,
    settings: Settings,
    context: FormContext,
    values: Mapping[str, str],
    shown: Shown = Shown(),
    status_code: int = 200,
) -> Response:
    reference = context.case.reference
    return staff_page(
        page.template,
        signed_in,
        settings,
        status_code=status_code,
        current="cases",
        title=page.title,
        submit=page.submit,
        reference=reference,
        case_url=case_url(reference),
        action_url=f"{case_url(reference)}/{page.slug}",
        policy=context.policy,
        values=values,
        errors=list(shown.errors),
        error_for=errors_by_field(shown.errors),
        refusal=shown.refusal,
        unavailable=shown.unavailable,
        not_offered=page.not_offered(context),
        rows_in_form=bool(page.form.rows),
        **page.offers(context),
    )


def _forbidden_page(page: ActionPage, signed_in: SignedIn, settings: Settings, reference: str) -> Response:
    return staff_page(
        "staff/actions/forbidden.html",
        signed_in,
        settings,
        status_code=403,
        current="cases",
        title=page.title,
        case_url=case_url(reference),
    )


async def show_form(
    page: ActionPage,
    signed_in: SignedIn,
    settings: Settings,
    case: Case,
    policies: Mapping[str, LocalityPolicy],
    today: dt.date,
    request_key: str,
) -> Response:
    if not may(signed_in.staff.role, page.permission):
        return _forbidden_page(page, signed_in, settings, case.reference)
    context = FormContext(case=case, policy=policies[case.locality], today=today, request_key=request_key)
    values = {**page.form.blank(context), "form_key": uuid.uuid4().hex}
    return _form_page(page, signed_in, settings, context, values)


def _change_rows(form: type[StaffForm], step: str, values: dict[str, str]) -> list[FormError] | None:
    """Add or remove a row, as the step asks; None when the step is not about rows."""
    for group in form.rows:
        if step == f"add-{group.prefix}":
            error = group.add(values)
            return [error] if error else []
        removing = STEP_REMOVE.match(step)
        if removing and removing.group(1) == group.prefix:
            group.remove(values, int(removing.group(2)))
            return []
    return None


async def send_form(
    page: ActionPage,
    request: Request,
    signed_in: SignedIn,
    settings: Settings,
    session: Session,
    case: Case,
    policy: LocalityPolicy,
    today: dt.date,
    client: Client | None,
) -> Response:
    reference = case.reference
    fields = await checked_fields(request, signed_in, settings, session, page.slug, reference)
    if isinstance(fields, Response):
        return fields
    if not may(signed_in.staff.role, page.permission):
        await audit(session, signed_in, "staff_action_refused", reference, f"{page.slug}: role")
        return _forbidden_page(page, signed_in, settings, reference)
    form_key = fields.get("form_key", "")
    if not FORM_KEY.match(form_key):
        await audit(session, signed_in, "staff_form_refused", reference, f"{page.slug}: form key")
        return form_refused_page(signed_in, settings, case_url(reference))
    context = FormContext(case=case, policy=policy, today=today, request_key=fields.get("request_key", ""))
    values = {**page.form.read(fields), "form_key": form_key}

    async def again(status_code: int, shown: Shown, detail: str) -> Response:
        await audit(session, signed_in, "staff_action_refused", reference, f"{page.slug}: {detail}")
        return _form_page(page, signed_in, settings, context, values, shown, status_code)

    reason = page.not_offered(context)
    if reason:
        return await again(409, Shown(refusal=reason), "not offered")
    row_errors = _change_rows(page.form, fields.get("step", "save"), values)
    if row_errors is not None:
        # Adding or removing a row only shows the form again: nothing is checked or recorded.
        status_code = 400 if row_errors else 200
        return _form_page(page, signed_in, settings, context, values, Shown(errors=row_errors), status_code)
    checked = page.form.check(values, context)
    if isinstance(checked, list):
        return await again(
            400, Shown(errors=checked), "invalid " + ", ".join(sorted({e.field for e in checked}))
        )
    if client is None:
        return await again(503, Shown(unavailable=UNAVAILABLE), "unavailable")
    assert isinstance(checked, BaseModel)
    action = CaseAction(
        staff=signed_in.staff, case=case, session=session, client=client, idempotency_key=form_key
    )
    try:
        await page.decide(action, checked, context)
    except InvalidDecision as error:
        anchor = page.form.anchors.get(error.field, error.field)
        return await again(400, Shown(errors=[FormError(anchor, error.message)]), f"invalid {error.field}")
    except KeyReused:
        # The earlier answers keep the key; these go with a new one.
        values["form_key"] = uuid.uuid4().hex
        return await again(409, Shown(refusal=KEY_REUSED), "form sent before with other answers")
    except DecisionRefused as error:
        return await again(
            409, Shown(refusal=in_staff_words(error.message, context)), "does not fit the stage"
        )
    except CaseServiceUnavailable as error:
        message = UNCERTAIN if error.uncertain else UNAVAILABLE
        return await again(503, Shown(unavailable=message), "unavailable")
    return redirect(f"{case_url(reference)}?done={page.slug}")


def in_staff_words(message: str, context: FormContext) -> str:
    """Why the workflow refused a decision, with its stage keys as the case page names the stages (the
    appeal's stages quoted, being descriptions) and its request keys as the agencies' names."""

    def stage_name(key: str) -> str | None:
        if key in STAGE_NAMES:
            return STAGE_NAMES[key]
        if key in APPEAL_STAGE_NAMES:
            return f"“{APPEAL_STAGE_NAMES[key]}”"
        return None

    def stages(found: re.Match[str]) -> str:
        names = [stage_name(key) for key in found.group(1).split(" or ")]
        if any(name is None for name in names):
            return found.group(0)
        return f"the {' or '.join(name for name in names if name)} stage"

    agencies = {r.request_key: r.agency_name for r in context.case.information_requests}
    message = _STAGES_IN_WORDS.sub(stages, message)
    return _REQUEST_KEYS.sub(lambda found: agencies.get(found.group(0), found.group(0)), message)


def add_action_pages(router: APIRouter, pages: Sequence[ActionPage]) -> None:
    """GET and POST `/staff/cases/{reference}/<slug>` for each page (the router's prefix is /staff)."""
    for page in pages:
        router.get(f"/cases/{{reference}}/{page.slug}", name=f"staff_{page.slug}")(_show_route(page))
        router.post(f"/cases/{{reference}}/{page.slug}", name=f"staff_{page.slug}_send")(_send_route(page))


def _show_route(page: ActionPage) -> Callable[..., Awaitable[Response]]:
    async def route(
        signed_in: SignedInDep,
        settings: SettingsDep,
        case: StaffCaseDep,
        policies: PoliciesDep,
        today: TodayDep,
        request_key: Annotated[str, Query(alias="request")] = "",
    ) -> Response:
        return await show_form(page, signed_in, settings, case, policies, today, request_key)

    return route


def _send_route(page: ActionPage) -> Callable[..., Awaitable[Response]]:
    async def route(
        request: Request,
        signed_in: SignedInDep,
        settings: SettingsDep,
        session: SessionDep,
        case: StaffCaseDep,
        policies: PoliciesDep,
        today: TodayDep,
        client: MaybeTemporalDep,
    ) -> Response:
        policy = policies[case.locality]
        return await send_form(page, request, signed_in, settings, session, case, policy, today, client)

    return route
