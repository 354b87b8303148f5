"""The applicant's own case page, reached without an account from the link in each emailed letter.

`/case/r/<token>` exchanges the link's token for a session cookie and redirects to `/case`, so the token
does not stay in the address bar, in history or in referrers. A link that cannot be used gets one page
that says nothing, with a form to have a new link emailed (`/case/new-link`: the same answer whether or
not the reference and address match a case; a link is emailed only when both do).

`/case` shows the stage, what happens next and by when, the SPOC, every letter (each readable at
`/case/letters/<id>`), the action plan and the appeal. From it the applicant can, each within its window:
choose how to give their impact statement, request an appeal (as the SPOC's request does: the same
submission and workflow update), withdraw (with a confirmation step; the appeal is withdrawn when the case
is at appeal), and add information or a document (its page is api.routes.case_information). Each is
recorded in the chronology as done by the applicant. GOV.UK Design System pages that work without
JavaScript; every view, action and refusal is audited, never with the token or personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from activities.api_mail import NEW_LINK_PURPOSE, new_link_key
from activities.mail import Mailer, OutgoingEmail
from activities.rendering import Renderer
from api.applicant.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    LinkRefused,
    NewLink,
    issue_new_link,
    open_link,
)
from api.applicant.views import METHODS, load_letter
from api.applicant.visits import (
    UNAVAILABLE,
    CaseVisitDep,
    closed_page,
    deliver,
    first_values,
    form_page,
    new_link_csrf,
    outcome_page,
    page,
    posted_fields,
    read_form,
    too_many_requests_page,
)
from api.case_decisions import appeal_grounds_problem, appeal_request_record
from api.deps import MaybeTemporalDep, NowDep, PoliciesDep, SessionFactoryDep, SettingsDep
from api.link_pages import (
    FormError,
    csrf_matches,
    errors_by_field,
    form_text,
    redirect,
    set_session_cookie,
    whole_number,
)
from api.rate_limits import RateLimit, rate_limited
from domain.decisions import (
    AppealRequest,
    AppealWithdrawal,
    ImpactStatement,
    ImpactStatementMethod,
    Withdrawal,
)
from domain.links import applicant_link_path
from workflows.appeal import AppealWorkflow
from workflows.appeal_models import AppealWithdrawalRecord, appeal_workflow_id
from workflows.case import CaseWorkflow
from workflows.models import ImpactStatementRecord, WithdrawalRecord, case_workflow_id

log = logging.getLogger(__name__)

router = APIRouter(prefix="/case", include_in_schema=False)

EXPLANATION_LIMIT = 10000
REASON_LIMIT = 2000
NAME_LIMIT = 200
DONE = {
    "withdrawn": "Your application has been withdrawn. We will send you a letter to confirm it.",
    "appeal": "Your request for an appeal has been sent. We will write to you about what happens next.",
    "impact": "Your choice about the impact statement has been recorded.",
    # From /case/add-information (api.routes.case_information).
    "information": "Your information has been sent to the team handling your case.",
}


# ---- the link and a new link -------------------------------------------------------------------


@router.get(
    "/r/{token:path}", dependencies=[rate_limited(RateLimit.AGENCY_LINK, page=too_many_requests_page)]
)
async def open_case_link(
    token: str, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep
) -> Response:
    opened = await run_in_threadpool(open_link, sessions, token=token, now=now)
    if isinstance(opened, LinkRefused):
        # One page and one status whatever the reason: nothing tells a stranger that a token exists.
        return page("link_refused.html", 404, new_link_csrf=new_link_csrf(settings, now))
    response = redirect("/case")
    set_session_cookie(
        response,
        SESSION_COOKIE,
        opened.session_token,
        path=COOKIE_PATH,
        secure=settings.public_base_url.startswith("https://"),
    )
    return response


@router.get("/new-link")
async def new_link_form(settings: SettingsDep, now: NowDep) -> Response:
    return page(
        "new_link.html", new_link_csrf=new_link_csrf(settings, now), values={}, errors=[], error_for={}
    )


@router.post("/new-link", dependencies=[rate_limited(RateLimit.NEW_LINK, page=too_many_requests_page)])
async def ask_for_new_link(
    request: Request, settings: SettingsDep, sessions: SessionFactoryDep, now: NowDep, policies: PoliciesDep
) -> Response:
    """The same page whether or not the reference and address match a case: a link is emailed only when
    both do. Earlier links keep working (see api.applicant.sessions)."""
    fields = await read_form(request)
    values = first_values(fields or {})
    csrf = values.get("csrf_token")
    if fields is None or not any(csrf_matches(new_link_csrf(settings, now, days), csrf) for days in (0, 1)):
        return page("form_expired.html", 400)
    email, reference = form_text(values, "email"), form_text(values, "reference")
    errors = []
    if not reference or len(reference) > 40:
        errors.append(FormError("reference", "Enter your case reference, for example CT-BLA-2026-0001"))
    if not email or "@" not in email or len(email) > 320:
        errors.append(FormError("email", "Enter the email address you gave when you applied"))
    if errors:
        shown = {"reference": reference, "email": email}
        return page(
            "new_link.html",
            422,
            new_link_csrf=new_link_csrf(settings, now),
            values=shown,
            errors=errors,
            error_for=errors_by_field(errors),
            has_errors=True,
        )
    mailer = Mailer(settings, sessions)

    def queue(session: Session, link: NewLink) -> str:
        policy = policies[link.locality]
        base = settings.public_base_url.rstrip("/")
        rendered = Renderer().render(
            "emails/applicant-link.j2",
            {
                "case": {"reference": link.reference},
                "council": policy,
                "recipient": {"name": link.applicant_name},
                "link": f"{base}{applicant_link_path(link.token)}",
            },
        )
        key = new_link_key(link.reference, now)
        mailer.record(
            OutgoingEmail(
                idempotency_key=key,
                case_reference=link.reference,
                purpose=NEW_LINK_PURPOSE,
                sender=str(policy.email_from or policy.spoc.email),
                reply_to=str(policy.spoc.email),
                recipient=link.recipient,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
            ),
            session,
        )
        return key

    key = await run_in_threadpool(
        issue_new_link, sessions, reference=reference, email=email, now=now, queue=queue
    )
    if key is not None:
        try:
            await mailer.deliver(key)
        except Exception as error:  # the answer is the same; the outbox sweep sends it later
            log.warning("an applicant's new link could not be sent yet: %s", type(error).__name__)
    return page("new_link_sent.html")


# ---- the case page -----------------------------------------------------------------------------


@router.get("")
async def case_page(visit: CaseVisitDep, done: str | None = None) -> Response:
    details = await visit.details()
    await visit.audit("applicant_case_viewed", f"stage {details.stage}")
    return page(
        "case.html",
        home="/case",
        column="full",
        case=details,
        council=visit.policy,
        methods=METHODS,
        done=DONE.get(done or ""),
    )


@router.get("/letters/{letter_id}")
async def letter_page(letter_id: int, visit: CaseVisitDep) -> Response:
    letter = await run_in_threadpool(
        load_letter, visit.sessions, case_id=visit.access.case.case_id, letter_id=letter_id
    )
    if letter is None:
        await visit.audit("applicant_letter_refused", "not this case's letter")
        return page("not_found.html", 404, home="/case")
    await visit.audit("applicant_letter_viewed", f"{letter.code} {letter.sequence}")
    return page("letter.html", home="/case", letter=letter, reference=visit.access.case.case_reference)


# ---- withdraw -----------------------------------------------------------------------------------


@router.get("/withdraw")
async def withdraw_form(visit: CaseVisitDep, settings: SettingsDep) -> Response:
    details = await visit.details()
    if not details.can_withdraw:
        return closed_page(visit, "withdraw")
    await visit.audit("applicant_withdraw_viewed", "form shown")
    return form_page("withdraw.html", visit, settings, details)


def _withdraw_reason(values: Mapping[str, str]) -> tuple[str, list[FormError]]:
    reason = form_text(values, "reason")
    if len(reason) > REASON_LIMIT:
        return reason, [FormError("reason", f"Your reason must be {REASON_LIMIT:,} characters or fewer")]
    return reason, []


@router.post("/withdraw")
async def withdraw_check(request: Request, visit: CaseVisitDep, settings: SettingsDep) -> Response:
    """The confirmation step: nothing is recorded until the applicant confirms."""
    fields = await posted_fields(request, visit, settings, "withdraw")
    if isinstance(fields, Response):
        return fields
    details = await visit.details()
    if not details.can_withdraw:
        return closed_page(visit, "withdraw")
    reason, errors = _withdraw_reason(first_values(fields))
    if errors:
        return form_page("withdraw.html", visit, settings, details, values={"reason": reason}, errors=errors)
    return form_page("withdraw_confirm.html", visit, settings, details, values={"reason": reason})


@router.post("/withdraw/confirm")
async def withdraw_confirm(
    request: Request, visit: CaseVisitDep, settings: SettingsDep, client: MaybeTemporalDep
) -> Response:
    fields = await posted_fields(request, visit, settings, "withdraw")
    if isinstance(fields, Response):
        return fields
    details = await visit.details()
    if not details.can_withdraw:
        return closed_page(visit, "withdraw")
    reason, errors = _withdraw_reason(first_values(fields))
    if errors:
        return form_page("withdraw.html", visit, settings, details, values={"reason": reason}, errors=errors)
    if client is None:
        return await outcome_page(visit, "withdrawn", UNAVAILABLE, "withdrawn")
    reason = reason or "No reason given."
    reference = visit.access.case.case_reference
    if details.stage == "appeal":
        appeal_withdrawal = AppealWithdrawal(reason=reason, requested_by="applicant")
        refusal = await deliver(
            client,
            visit,
            workflow_id=appeal_workflow_id(reference),
            update=AppealWorkflow.withdraw,
            kind="appeal_withdrawal",
            body=appeal_withdrawal,
            record=lambda sid: AppealWithdrawalRecord(requested_by="applicant", submission_id=sid),
        )
    else:
        withdrawal = Withdrawal(reason=reason, requested_by="applicant")
        refusal = await deliver(
            client,
            visit,
            workflow_id=case_workflow_id(reference),
            update=CaseWorkflow.withdraw,
            kind="withdrawal",
            body=withdrawal,
            record=lambda sid: WithdrawalRecord(requested_by="applicant", submission_id=sid),
        )
    return await outcome_page(visit, "withdrawn", refusal, "withdrawn")


# ---- request an appeal --------------------------------------------------------------------------


@router.get("/appeal")
async def appeal_form(visit: CaseVisitDep, settings: SettingsDep) -> Response:
    details = await visit.details()
    if not details.can_appeal:
        return closed_page(visit, "ask for an appeal")
    await visit.audit("applicant_appeal_viewed", "form shown")
    return form_page("appeal.html", visit, settings, details, values={"grounds": []})


@router.post("/appeal")
async def appeal_request(
    request: Request, visit: CaseVisitDep, settings: SettingsDep, client: MaybeTemporalDep
) -> Response:
    fields = await posted_fields(request, visit, settings, "appeal")
    if isinstance(fields, Response):
        return fields
    details = await visit.details()
    if not details.can_appeal:
        return closed_page(visit, "ask for an appeal")
    values = first_values(fields)
    chosen = fields.get("grounds", [])
    explanation = form_text(values, "explanation")
    consent = values.get("consent") == "yes"
    errors: list[FormError] = []
    numbers = [number for value in chosen if (number := whole_number(value, 2)) is not None]
    grounds = visit.policy.appeal.grounds
    if grounds and not numbers:
        errors.append(FormError("grounds", "Select at least one reason for your appeal"))
    elif len(numbers) != len(chosen) or appeal_grounds_problem(visit.policy, numbers) is not None:
        errors.append(FormError("grounds", "Select only the reasons listed"))
    if not explanation:
        errors.append(FormError("explanation", "Explain why you are appealing"))
    elif len(explanation) > EXPLANATION_LIMIT:
        errors.append(
            FormError("explanation", f"Your explanation must be {EXPLANATION_LIMIT:,} characters or fewer")
        )
    if errors:
        shown = {"grounds": chosen, "explanation": explanation, "consent": consent}
        return form_page("appeal.html", visit, settings, details, values=shown, errors=errors)
    if client is None:
        return await outcome_page(visit, "appeal_requested", UNAVAILABLE, "appeal")
    appeal = AppealRequest(
        received_on=visit.today,
        grounds=numbers,
        explanation=explanation,
        consent_received=consent and details.on_behalf_of is not None,
    )
    refusal = await deliver(
        client,
        visit,
        workflow_id=case_workflow_id(visit.access.case.case_reference),
        update=CaseWorkflow.appeal_request,
        kind="appeal_request",
        body=appeal,
        record=appeal_request_record(visit.policy, appeal, for_someone_else=details.on_behalf_of is not None),
    )
    return await outcome_page(visit, "appeal_requested", refusal, "appeal")


# ---- the impact statement -----------------------------------------------------------------------


@router.get("/impact-statement")
async def impact_form(visit: CaseVisitDep, settings: SettingsDep) -> Response:
    details = await visit.details()
    if not details.can_choose_impact:
        return closed_page(visit, "choose how to give your impact statement")
    await visit.audit("applicant_impact_statement_viewed", "form shown")
    return form_page("impact.html", visit, settings, details, methods=METHODS)


@router.post("/impact-statement")
async def impact_choice(
    request: Request, visit: CaseVisitDep, settings: SettingsDep, client: MaybeTemporalDep
) -> Response:
    fields = await posted_fields(request, visit, settings, "impact_statement")
    if isinstance(fields, Response):
        return fields
    details = await visit.details()
    if not details.can_choose_impact:
        return closed_page(visit, "choose how to give your impact statement")
    values = first_values(fields)
    method = values.get("method", "")
    limit = visit.policy.impact_statement.in_person_minutes
    minutes_text = form_text(values, "minutes")
    name = form_text(values, "representative_name")
    consent = values.get("representative_consent") == "yes"
    errors: list[FormError] = []
    minutes: int | None = None
    if method not in METHODS:
        errors.append(FormError("method", "Select how you want to give your impact statement"))
    elif method == ImpactStatementMethod.IN_PERSON.value:
        if minutes_text:
            if not 1 <= (whole_number(minutes_text) or 0) <= limit:
                errors.append(FormError("minutes", f"Enter a number of minutes from 1 to {limit}"))
            else:
                minutes = int(minutes_text)
        else:
            minutes = limit
    elif method == ImpactStatementMethod.REPRESENTATIVE.value:
        if not name:
            errors.append(
                FormError("representative_name", "Enter the name of the person who will speak for you")
            )
        elif len(name) > NAME_LIMIT:
            errors.append(
                FormError("representative_name", f"The name must be {NAME_LIMIT} characters or fewer")
            )
        if not consent:
            errors.append(
                FormError(
                    "representative_consent",
                    "Confirm that the victim agrees to this person speaking for them",
                )
            )
    if errors:
        shown = {
            "method": method,
            "minutes": minutes_text,
            "representative_name": name,
            "representative_consent": consent,
        }
        return form_page(
            "impact.html", visit, settings, details, methods=METHODS, values=shown, errors=errors
        )
    if client is None:
        return await outcome_page(visit, "impact_statement_chosen", UNAVAILABLE, "impact")
    representative = method == ImpactStatementMethod.REPRESENTATIVE.value
    statement = ImpactStatement(
        method=ImpactStatementMethod(method),
        minutes=minutes,
        representative_name=name if representative else None,
        representative_consent=consent if representative else False,
    )
    refusal = await deliver(
        client,
        visit,
        workflow_id=case_workflow_id(visit.access.case.case_reference),
        update=CaseWorkflow.impact_statement,
        kind="impact_statement",
        body=statement,
        record=lambda sid: ImpactStatementRecord(
            method=statement.method, minutes=statement.minutes, submission_id=sid
        ),
    )
    return await outcome_page(visit, "impact_statement_chosen", refusal, "impact")
