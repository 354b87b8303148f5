"""The online application (`/apply`): choose the council, its start page, one question a page, check your
answers, how the answers compare with the threshold, the declaration, and the confirmation.

GOV.UK Design System pages that work without JavaScript. The answers are kept server side (api.apply.drafts)
for the browser whose HttpOnly cookie holds the session id; URLs and forms carry nothing personal. Every
POST carries a CSRF token bound to the session. Sending starts the case exactly as `POST /api/cases`
does (api.case_start), with the draft as its idempotency key, so a refresh or a second click makes one
case; it counts against the same rate limit as the API.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy import select
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.apply import answers as questions
from api.apply.drafts import (
    COOKIE,
    COOKIE_PATH,
    IDLE,
    Draft,
    csrf_token,
    find_draft,
    hash_session,
    mark_submitted,
    new_session_id,
    save_answers,
    start_draft,
)
from api.case_start import ApplicationProblems, start_case
from api.deps import (
    MaybeTemporalDep,
    NowDep,
    PoliciesDep,
    SessionFactoryDep,
    SettingsDep,
    TodayDep,
)
from api.link_pages import FormError, ShowPage, csrf_matches, errors_by_field, link_page, redirect
from api.rate_limits import RateLimit, rate_limited
from db.models import Case
from domain.policy import LocalityPolicy
from domain.threshold import assess, check_application

log = logging.getLogger(__name__)

router = APIRouter(prefix="/apply", include_in_schema=False)

HOURS = int(IDLE.total_seconds() // 3600)


def page(template: str, status_code: int = 200, **context: Any) -> Response:
    return link_page(f"apply/{template}", status_code, hours=HOURS, **context)


def expired_page() -> Response:
    return page("expired.html", status_code=410)


def too_many_requests_page(seconds: int) -> Response:
    minutes = max(1, -(-seconds // 60))
    response = page(
        "too_many_requests.html", status_code=429, wait=f"{minutes} minute{'s' if minutes != 1 else ''}"
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def form_refused_page() -> Response:
    return page("form_refused.html", status_code=400)


def _secure(settings: Any) -> bool:
    return bool(settings.public_base_url.startswith("https://"))


# ---- the draft of this browser ---------------------------------------------------------------


class Visit:
    """The browser's draft, its locality's policy, and what a page needs to answer."""

    def __init__(self, draft: Draft, policy: LocalityPolicy, csrf: str, sessions: Any, now: Any) -> None:
        self.draft, self.policy, self.csrf, self.sessions, self.now = draft, policy, csrf, sessions, now

    @property
    def answers(self) -> dict[str, Any]:
        return self.draft.answers

    async def save(self, answers: dict[str, Any]) -> None:
        await run_in_threadpool(
            lambda: save_answers(self.sessions, draft_id=self.draft.id, answers=answers, now=self.now)
        )

    def page(self, template: str, status_code: int = 200, **context: Any) -> Response:
        return page(template, status_code, council=self.policy, csrf_token=self.csrf, **context)


async def visit_of(
    request: Request, sessions: SessionFactoryDep, policies: PoliciesDep, settings: SettingsDep, now: NowDep
) -> Visit:
    """The draft of the browser's cookie; a missing or expired draft answers with its page."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise ShowPage(expired_page())
    draft_hash = hash_session(session_id)
    draft = await run_in_threadpool(lambda: find_draft(sessions, draft_hash=draft_hash, now=now))
    if draft is None or draft.locality not in policies:
        raise ShowPage(expired_page())
    return Visit(draft, policies[draft.locality], csrf_token(settings.secret_key, draft_hash), sessions, now)


VisitDep = Annotated[Visit, Depends(visit_of)]


def in_progress(visit: Visit) -> Visit:
    """A draft still being filled in: once sent, its pages lead to the confirmation."""
    if visit.draft.submitted_reference is not None:
        raise ShowPage(redirect("/apply/confirmation"))
    return visit


async def draft_in_progress(visit: VisitDep) -> Visit:
    return in_progress(visit)


OpenDep = Annotated[Visit, Depends(draft_in_progress)]


async def posted(request: Request, visit: Visit) -> dict[str, str]:
    """The posted form's fields, if it came from our page (its CSRF token matches the session)."""
    try:
        form = await request.form(max_files=0, max_fields=40)
    except StarletteHTTPException:
        raise ShowPage(form_refused_page()) from None
    fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
    if not csrf_matches(visit.csrf, fields.get("csrf_token")):
        raise ShowPage(form_refused_page())
    return fields


def returning(request: Request) -> bool:
    return request.query_params.get("return") == "check"


def _with_return(url: str, back: bool) -> str:
    return f"{url}?return=check" if back else url


# ---- choosing the council and the start page ----------------------------------------------------


@router.get("")
async def choose_council(request: Request, policies: PoliciesDep) -> Response:
    councils = sorted(policies.values(), key=lambda policy: policy.council)
    chosen = request.query_params.get("council")
    if chosen is not None:
        if chosen in policies:
            return redirect(f"/apply/{chosen}")
        return page(
            "choose.html",
            status_code=422,
            councils=councils,
            errors=[FormError("council", "Select the council for the area where the problem is happening")],
        )
    return page("choose.html", councils=councils, errors=[])


# ---- the questions ----------------------------------------------------------------------------


def _question(visit: Visit, name: str, request: Request, **context: Any) -> Response:
    errors: Sequence[FormError] = context.pop("errors", ())
    values = context.pop("values", visit.answers)
    back = returning(request)
    return visit.page(
        f"{name}.html",
        status_code=422 if errors else 200,
        values=values,
        errors=list(errors),
        error_for={key.removesuffix("-day"): message for key, message in errors_by_field(errors).items()},
        action=_with_return(f"/apply/{name}", back),
        who=visit.answers.get("who", ""),
        back_link="/apply/check"
        if back
        else questions.back_url(name, visit.answers) or f"/apply/{visit.draft.locality}",
        **context,
    )


for _name in ("who", "victim", "name", "contact", "hate-incident", "effective-action", "support"):

    def _routes(name: str) -> None:
        @router.get(f"/{name}", name=f"apply_{name}")
        async def show(request: Request, visit: OpenDep) -> Response:
            if not questions.applies(name, visit.answers):
                return redirect("/apply/check")
            return _question(visit, name, request)

        @router.post(f"/{name}", name=f"apply_{name}_post")
        async def answer(request: Request, visit: OpenDep, today: TodayDep) -> Response:
            fields = await posted(request, visit)
            if name == "name":
                checked = questions.check_name(fields, today, visit.answers.get("who") == "organisation")
            else:
                checked = questions.CHECKS[name](fields, today)
            if checked.errors:
                return _question(visit, name, request, values=checked.values, errors=checked.errors)
            answers = questions.store(name, visit.answers, checked.values)
            await visit.save(answers)
            return redirect(questions.next_url(name, answers, returning(request)))

    _routes(_name)


def _incident_number(number: int, visit: Visit) -> int:
    incidents = visit.answers.get("incidents", [])
    if number < 1 or number > min(len(incidents) + 1, questions.MAX_INCIDENTS):
        raise ShowPage(redirect("/apply/incidents" if incidents else "/apply/incident/1"))
    return number


def _incident_page(visit: Visit, number: int, request: Request, **context: Any) -> Response:
    incidents = visit.answers.get("incidents", [])
    errors: Sequence[FormError] = context.pop("errors", ())
    values = context.pop("values", incidents[number - 1] if number <= len(incidents) else {})
    back = returning(request)
    return visit.page(
        "incident.html",
        status_code=422 if errors else 200,
        number=number,
        values=values,
        reported_to=questions.REPORTED_TO,
        errors=list(errors),
        error_for={key.removesuffix("-day"): message for key, message in errors_by_field(errors).items()},
        action=_with_return(f"/apply/incident/{number}", back),
        back_link="/apply/check" if back else ("/apply/incidents" if incidents else "/apply/contact"),
    )


@router.get("/incident/{number}")
async def show_incident(number: int, request: Request, visit: OpenDep) -> Response:
    return _incident_page(visit, _incident_number(number, visit), request)


@router.post("/incident/{number}")
async def answer_incident(number: int, request: Request, visit: OpenDep, today: TodayDep) -> Response:
    fields = await posted(request, visit)
    number = _incident_number(number, visit)
    checked = questions.check_incident(fields, today)
    if checked.errors:
        return _incident_page(visit, number, request, values=checked.values, errors=checked.errors)
    incidents = list(visit.answers.get("incidents", []))
    if number <= len(incidents):
        incidents[number - 1] = checked.values
    else:
        incidents.append(checked.values)
    answers = {**visit.answers, "incidents": incidents}
    await visit.save(answers)
    if returning(request) and answers.get("incidents_finished"):
        return redirect("/apply/check")
    return redirect(_with_return("/apply/incidents", returning(request)))


def _incidents_page(visit: Visit, request: Request, errors: Sequence[FormError] = ()) -> Response:
    incidents = visit.answers.get("incidents", [])
    back = returning(request)
    return visit.page(
        "incidents.html",
        status_code=422 if errors else 200,
        incidents=incidents,
        reported_to=questions.REPORTED_TO,
        full=len(incidents) >= questions.MAX_INCIDENTS,
        errors=list(errors),
        error_for=errors_by_field(errors),
        action=_with_return("/apply/incidents", back),
        back_link="/apply/check" if back else f"/apply/incident/{len(incidents)}",
    )


@router.get("/incidents")
async def show_incidents(request: Request, visit: OpenDep) -> Response:
    if not visit.answers.get("incidents"):
        return redirect(_with_return("/apply/incident/1", returning(request)))
    return _incidents_page(visit, request)


@router.post("/incidents")
async def answer_incidents(request: Request, visit: OpenDep) -> Response:
    fields = await posted(request, visit)
    incidents = visit.answers.get("incidents", [])
    if not incidents:
        return redirect("/apply/incident/1")
    another = fields.get("add_another", "")
    if len(incidents) >= questions.MAX_INCIDENTS:
        another = "no"
    if another not in ("yes", "no"):
        error = FormError("add_another", "Select yes if you need to add another incident")
        return _incidents_page(visit, request, [error])
    back = returning(request)
    if another == "yes":
        return redirect(_with_return(f"/apply/incident/{len(incidents) + 1}", back))
    answers = {**visit.answers, "incidents_finished": True}
    await visit.save(answers)
    return redirect(questions.next_url("incidents", answers, back))


@router.get("/incident/{number}/remove")
async def confirm_remove_incident(number: int, request: Request, visit: OpenDep) -> Response:
    incidents = visit.answers.get("incidents", [])
    if not 1 <= number <= len(incidents):
        return redirect("/apply/incidents")
    return visit.page(
        "remove_incident.html",
        number=number,
        incident=incidents[number - 1],
        action=_with_return(f"/apply/incident/{number}/remove", returning(request)),
        back_link=_with_return("/apply/incidents", returning(request)),
    )


@router.post("/incident/{number}/remove")
async def remove_incident(number: int, request: Request, visit: OpenDep) -> Response:
    await posted(request, visit)
    incidents = list(visit.answers.get("incidents", []))
    if 1 <= number <= len(incidents):
        del incidents[number - 1]
        answers = {**visit.answers, "incidents": incidents}
        if not incidents:
            answers.pop("incidents_finished", None)
        await visit.save(answers)
    back = returning(request)
    return redirect(_with_return("/apply/incidents" if incidents else "/apply/incident/1", back))


# ---- check your answers, the threshold, the declaration ------------------------------------------


def _complete(visit: Visit) -> None:
    missing = questions.first_unanswered(visit.answers)
    if missing:
        raise ShowPage(redirect(missing))


@router.get("/check")
async def check_answers(visit: OpenDep) -> Response:
    _complete(visit)
    return visit.page("check.html", sections=questions.summary(visit.answers), back_link="/apply/support")


def _assessment(visit: Visit, policies: Mapping[str, LocalityPolicy], today: Any) -> dict[str, Any]:
    """How the answers compare with the locality's threshold, or the problems to correct first."""
    try:
        application = questions.application_of(visit.draft.locality, visit.answers)
    except ValidationError as error:
        return {"problems": questions.linked(questions.model_problems(error))}
    problems = check_application(application, today=today, policies=policies)
    if problems:
        return {"problems": questions.linked(problems)}
    return {"problems": [], "assessment": assess(application, visit.policy.threshold, today)}


@router.get("/threshold")
async def threshold(visit: OpenDep, policies: PoliciesDep, today: TodayDep) -> Response:
    _complete(visit)
    return visit.page("threshold.html", back_link="/apply/check", **_assessment(visit, policies, today))


def _declaration(
    visit: Visit,
    *,
    values: Mapping[str, str] | None = None,
    errors: Sequence[FormError] = (),
    problems: Sequence[questions.LinkedProblem] = (),
    unavailable: bool = False,
    status_code: int = 200,
) -> Response:
    return visit.page(
        "declaration.html",
        status_code=status_code,
        values=values or {},
        errors=list(errors),
        error_for=errors_by_field(errors),
        problems=list(problems),
        unavailable=unavailable,
        back_link="/apply/threshold",
    )


@router.get("/declaration")
async def declaration(visit: OpenDep) -> Response:
    _complete(visit)
    return _declaration(visit)


@router.post("/declaration", dependencies=[rate_limited(RateLimit.APPLY, page=too_many_requests_page)])
async def send_application(
    request: Request,
    visit: VisitDep,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    today: TodayDep,
    client: MaybeTemporalDep,
) -> Response:
    fields = await posted(request, visit)
    if visit.draft.submitted_reference is not None:  # sent already: a refresh or a second click
        return redirect("/apply/confirmation")
    _complete(visit)
    checked = questions.check_declaration(fields)
    if checked.errors:
        return _declaration(visit, values=checked.values, errors=checked.errors, status_code=422)
    try:
        application = questions.application_of(visit.draft.locality, visit.answers)
    except ValidationError as error:
        problems = questions.linked(questions.model_problems(error))
        return _declaration(visit, values=checked.values, problems=problems, status_code=422)
    if client is None:
        return _declaration(visit, values=checked.values, unavailable=True, status_code=503)
    key = f"apply:{visit.draft.draft_hash[:56]}"
    try:
        reference, _ = await start_case(
            application,
            settings=settings,
            sessions=sessions,
            policies=policies,
            today=today,
            client=client,
            idempotency_key=key,
        )
    except ApplicationProblems as found:
        problems = questions.linked(found.problems)
        return _declaration(visit, values=checked.values, problems=problems, status_code=422)
    except HTTPException as error:
        existing = (
            await run_in_threadpool(lambda: _case_with_key(sessions, key))
            if error.status_code == 409
            else None
        )
        if existing is None:
            log.warning("online application not sent: %s", error.status_code)
            return _declaration(visit, values=checked.values, unavailable=True, status_code=503)
        reference = existing  # sent before, then changed: the first one stands
    kept = {"contact_preference": visit.answers.get("contact_preference", "")}
    await run_in_threadpool(
        lambda: mark_submitted(
            sessions, draft_id=visit.draft.id, reference=reference, kept=kept, now=visit.now
        )
    )
    return redirect("/apply/confirmation")


def _case_with_key(sessions: Any, key: str) -> str | None:
    with sessions() as session:
        reference: str | None = session.scalar(select(Case.reference).where(Case.idempotency_key == key))
        return reference


@router.get("/confirmation")
async def confirmation(visit: VisitDep) -> Response:
    if visit.draft.submitted_reference is None:
        return redirect(questions.first_unanswered(visit.answers) or "/apply/check")
    return visit.page(
        "confirmation.html",
        reference=visit.draft.submitted_reference,
        by_post=visit.answers.get("contact_preference") == "post",
    )


# ---- the start page of a locality (last: `/apply/{locality}` would match the pages above) ----------


@router.get("/{locality}")
async def start_page(
    locality: str, request: Request, settings: SettingsDep, policies: PoliciesDep
) -> Response:
    policy = policies.get(locality)
    if policy is None:
        return page("unknown_council.html", status_code=404)
    session_id = request.cookies.get(COOKIE) or new_session_id()
    response = page(
        "start.html",
        council=policy,
        threshold=questions.threshold_in_words(policy),
        csrf_token=csrf_token(settings.secret_key, hash_session(session_id)),
    )
    if COOKIE not in request.cookies:
        response.set_cookie(
            COOKIE, session_id, httponly=True, samesite="lax", secure=_secure(settings), path=COOKIE_PATH
        )
    return response


@router.post("/{locality}")
async def start(
    locality: str,
    request: Request,
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    policies: PoliciesDep,
    now: NowDep,
) -> Response:
    if locality not in policies:
        return page("unknown_council.html", status_code=404)
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return expired_page()
    try:
        form = await request.form(max_files=0, max_fields=5)
    except StarletteHTTPException:
        return form_refused_page()
    given = form.get("csrf_token")
    if not csrf_matches(
        csrf_token(settings.secret_key, hash_session(session_id)), given if isinstance(given, str) else None
    ):
        return form_refused_page()
    current = hash_session(session_id)
    draft = await run_in_threadpool(
        lambda: start_draft(sessions, draft_hash=current, locality=locality, now=now)
    )
    response = redirect("/apply/who")
    if draft is None:  # this browser sent an application already: a new one starts afresh
        fresh = new_session_id()
        await run_in_threadpool(
            lambda: start_draft(sessions, draft_hash=hash_session(fresh), locality=locality, now=now)
        )
        response.set_cookie(
            COOKIE, fresh, httponly=True, samesite="lax", secure=_secure(settings), path=COOKIE_PATH
        )
    return response
