"""The staff action pages: every decision of the JSON API as a GOV.UK form behind a staff session, sent to
the same function the API calls. The real API app, the real case and appeal workflows on the time-skipping
server, a real SMTP sink and SQLite (conftest's `service`); staff sign in as the sign-in page would leave
them (tests/staff_support.py). The appeal's pages are tested in test_staff_appeal_actions.py, recording an
application in test_staff_applications.py.

Each form: shown with its CSRF token and its own key; bad input answered on the page with what to correct
and nothing written; a form without the session's CSRF token refused; another locality's case not found; a
decision that does not fit the case's stage shown with why, nothing changed; and a decision taken reaches
the workflow and returns to the case page with `?done=`, once however often it is sent.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from sqlalchemy import func, select

from api.routes import staff_actions, staff_appeal_actions
from api.staff.done import done_message
from core.config import PROJECT_ROOT
from db.models import AuditEntry
from tests.staff_support import (
    date_parts,
    error_summary,
    hidden,
    open_form,
    open_threshold_case,
    send,
    shows,
    staff_browser,
    submissions,
)
from tests.support import CaseService
from tests.test_case_workflow import PANEL, held_meeting, to_review

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASE_PAGES = (
    "agency-response",
    "resend",
    "extend",
    "waive",
    "threshold-decision",
    "review-meeting",
    "impact-statement",
    "panel-decision",
    "withdraw",
    "appeal-request",
    "appeal-outcome",
)
APPEAL_PAGES = (
    "appeal-consent",
    "appeal-chair",
    "appeal-withdraw",
    "appeal-chair-link-resend",
    "appeal-chair-link-extend",
    "appeal-acknowledge",
    "appeal-criteria",
    "appeal-panel",
    "appeal-decision",
)
REASONS = "Police and council records confirm three incidents reported in time."


# ---- the forms ---------------------------------------------------------------------------------


async def test_every_form_is_shown_with_the_sessions_csrf_token_and_a_key_of_its_own(
    service: CaseService,
) -> None:
    reference = await open_threshold_case(service)
    browser = await staff_browser(service)
    case = await service.case(reference)
    police = next(r for r in case["information_requests"] if r["agency"] == "Leicestershire Police")
    keys = set()
    for slug in CASE_PAGES:
        query = (
            f"?request={police['request_key']}"
            if slug in ("agency-response", "resend", "extend", "waive")
            else ""
        )
        page = await browser.get(f"/staff/cases/{reference}/{slug}{query}")
        assert page.status_code == 200, (slug, page.text)
        assert f'<form method="post" action="/staff/cases/{reference}/{slug}"' in page.text, slug
        assert re.search(r'name="csrf" value="[0-9a-f]{64}"', page.text), slug
        keys.add(hidden(page.text, "form_key"))
        assert "Back to the case" in page.text
        assert page.headers["Cache-Control"] == "no-store"
        if query:
            # The request the case page linked to is shown, not asked for.
            assert hidden(page.text, "request_key") == police["request_key"]
            assert "Leicestershire Police" in page.text
    assert len(keys) == len(CASE_PAGES)
    # Without `?request=`, the open requests are offered to choose from.
    page = await browser.get(f"/staff/cases/{reference}/waive")
    assert page.text.count('name="request_key"') == 3
    # The threshold form offers the domain's grounds for rejection and shows the automatic check.
    page = await browser.get(f"/staff/cases/{reference}/threshold-decision")
    for ground in ("Vexatious", "Malicious", "Discriminatory", "Prejudicial", "Unreasonable", "Frivolous"):
        assert ground in page.text
    assert "The automatic check says the application meets the threshold" in page.text
    # A case without an appeal offers no appeal form, and says why.
    for slug in APPEAL_PAGES:
        page = await browser.get(f"/staff/cases/{reference}/{slug}")
        assert page.status_code == 200, (slug, page.text)
        assert (
            "This case has no appeal" in page.text
            and '<form method="post" action="/staff/cases' not in page.text
        )
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


# ---- bad input -----------------------------------------------------------------------------------


CASE_KINDS = {
    "agency-response": "agency_response",
    "resend": "resend",
    "extend": "extension",
    "waive": "waiver",
    "threshold-decision": "threshold_decision",
    "review-meeting": "review_meeting",
    "impact-statement": "impact_statement",
    "panel-decision": "panel_decision",
    "withdraw": "withdrawal",
    "appeal-request": "appeal_request",
    "appeal-outcome": "appeal_outcome",
}


async def test_bad_input_on_each_case_form_is_shown_on_the_page_and_nothing_is_written(
    service: CaseService,
) -> None:
    reference = await open_threshold_case(service)
    browser = await staff_browser(service)
    police = next(
        r["request_key"]
        for r in (await service.case(reference))["information_requests"]
        if r["agency"] == "Leicestershire Police"
    )
    tomorrow = await service.today() + dt.timedelta(days=1)
    bad: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
        ("agency-response", {}, ("Select the information request", "Select how the agency gave its answer")),
        (
            "resend",
            {"request_key": police, "to": "one@example.test, two@example.test"},
            ("Enter one email address, like name@example.com",),
        ),
        (
            "extend",
            {"request_key": police, "due_on-day": "31", "due_on-month": "2", "due_on-year": "2027"},
            ("The new due date must be a real date, like 27 3 2027", "Enter why the agency has longer"),
        ),
        ("waive", {"request_key": police}, ("Enter why the case can go ahead without this answer",)),
        ("threshold-decision", {}, ("Select the threshold decision", "Enter the reasons for the decision")),
        (
            "threshold-decision",
            {"outcome": "rejected", "reasons": REASONS},
            ("Select the ground for rejecting the application",),
        ),
        (
            "threshold-decision",
            {"outcome": "not_met", "below_threshold": "yes", "rejection_ground": "vexatious", "reasons": "x"},
            (
                "Accepting a case below the threshold applies only when the case goes to a review",
                "Select a ground for rejection only when rejecting the application",
            ),
        ),
        (
            "threshold-decision",
            {"outcome": "met", "reasons": "x" * 5001},
            ("The reasons must be 5,000 characters or fewer",),
        ),
        (
            "review-meeting",
            {"attendee-rows": "1", "attendee-1-name": "Jo Officer"},
            (
                "Enter the date of the review meeting",
                "Enter the time of the review meeting",
                "Enter where the review meeting is",
                "Enter the organisation of attendee 1",
            ),
        ),
        ("impact-statement", {}, ("Select how the applicant will give their statement",)),
        (
            "impact-statement",
            {"method": "representative"},
            ("Enter the name of the representative", "Confirm the victim has agreed to the representative"),
        ),
        (
            "impact-statement",
            {"method": "in_person", "minutes": "45"},
            ("Enter a number of minutes from 1 to 30",),
        ),
        (
            "panel-decision",
            {"plan-rows": "1", "plan-1-action": "Fit a noise monitor."},
            (
                "Enter the panel's findings",
                "Enter who is to do action 1",
                "Enter the date action 1 is due by",
            ),
        ),
        ("withdraw", {}, ("Select who asked for the withdrawal", "Enter the reason for withdrawing")),
        (
            "appeal-request",
            {"received_on-day": ""},
            (
                "Enter the date the request arrived",
                "Select the grounds the applicant says apply",
                "Enter the applicant's explanation of the grounds",
            ),
        ),
        # A rule of the decision itself (api.case_decisions), not of the form: shown the same way.
        (
            "appeal-request",
            {**date_parts("received_on", tomorrow), "ground-1": "yes", "explanation": "Missed the log."},
            ("The date the request arrived must be today or in the past",),
        ),
        ("appeal-outcome", {}, ("Select whether the appeal was upheld", "Enter a summary of the outcome")),
    ]
    for slug, fields, messages in bad:
        form = await open_form(browser, reference, slug)
        page = await send(browser, reference, slug, {**form, **fields})
        shows(page, *messages)
        # What was typed is shown again, and the form keeps its key.
        assert hidden(page.text, "form_key") == form["form_key"]
    # What was typed comes back as text, never as markup.
    form = await open_form(browser, reference, "threshold-decision")
    typed = await send(browser, reference, "threshold-decision", {**form, "reasons": "<b>Not</b> markup"})
    assert "&lt;b&gt;Not&lt;/b&gt; markup" in typed.text and "<b>Not</b>" not in typed.text
    for slug, kind in CASE_KINDS.items():
        assert submissions(service, reference, kind) == 0, slug
    assert service.case_row(reference).stage == "threshold_check"
    with service.sessions() as session:
        refused = session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.case_reference == reference, AuditEntry.action == "staff_action_refused"
            )
        ).all()
    assert len(refused) == len(bad) + 1 and all("invalid" in detail for detail in refused if detail)
    # Nothing typed goes in the audit trail: field names only.
    assert not any("Missed the log" in (detail or "") for detail in refused)
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


# ---- refusals ----------------------------------------------------------------------------------------


async def test_a_form_without_the_sessions_csrf_token_is_refused_and_nothing_is_written(
    service: CaseService,
) -> None:
    reference = await open_threshold_case(service)
    await service.answer_requests(reference, "threshold")
    browser = await staff_browser(service)
    other = await staff_browser(service)
    form = await open_form(browser, reference, "threshold-decision")
    decision = {"outcome": "met", "reasons": REASONS}
    others_token = (await open_form(other, reference, "threshold-decision"))["csrf"]

    altered = form["csrf"][:-1] + ("1" if form["csrf"].endswith("0") else "0")
    for csrf in (None, "", others_token, altered):
        fields = {**form, **decision}
        fields.pop("csrf")
        if csrf is not None:
            fields["csrf"] = csrf
        page = await send(browser, reference, "threshold-decision", fields)
        assert page.status_code == 400, page.text
        assert "Your form could not be sent" in page.text and "Nothing was recorded" in page.text
    # A key that is not one the page made is refused the same way.
    page = await send(browser, reference, "threshold-decision", {**form, **decision, "form_key": "mine"})
    assert page.status_code == 400 and "Your form could not be sent" in page.text

    assert submissions(service, reference, "threshold_decision") == 0
    assert (await service.case(reference))["decisions"]["threshold_decision"] is None
    with service.sessions() as session:
        refusals = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.case_reference == reference, AuditEntry.action == "staff_form_refused")
        )
    assert refusals == 5
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


async def test_another_localitys_case_is_not_found_and_nothing_is_written(service: CaseService) -> None:
    reference = await open_threshold_case(service)
    await service.answer_requests(reference, "threshold")
    charnwood = await staff_browser(service, locality="charnwood")
    # Its own CSRF token, from a page it may see.
    csrf = hidden((await charnwood.get("/staff/applications/new")).text, "csrf")
    for slug in (*CASE_PAGES, *APPEAL_PAGES):
        shown = await charnwood.get(f"/staff/cases/{reference}/{slug}")
        assert shown.status_code == 404 and "Page not found" in shown.text, slug
        assert "Alex" not in shown.text
    sent = await send(
        charnwood,
        reference,
        "threshold-decision",
        {"csrf": csrf, "form_key": uuid.uuid4().hex, "outcome": "met", "reasons": REASONS},
    )
    assert sent.status_code == 404 and "Page not found" in sent.text
    unknown = await charnwood.get("/staff/cases/CT-CHA-2026-9999/withdraw")
    assert unknown.status_code == 404
    assert submissions(service, reference, "threshold_decision") == 0
    assert service.case_row(reference).stage == "threshold_check"
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


async def test_a_decision_that_does_not_fit_the_stage_shows_why_and_changes_nothing(
    service: CaseService,
) -> None:
    reference = await open_threshold_case(service)
    browser = await staff_browser(service)
    # The panel decides at the review stage; this case is still at the threshold check.
    form = await open_form(browser, reference, "panel-decision")
    page = await send(browser, reference, "panel-decision", {**form, "findings": PANEL["findings"]})
    assert page.status_code == 409, page.text
    text = html.unescape(page.text)
    assert "This has not been recorded" in text
    # In the words of the case page: the stages by their names, not the workflow's keys.
    assert (
        "The panel decision can only be recorded at the Case review stage; the case is at the Threshold"
        " check stage." in text
    )
    assert PANEL["findings"] in text  # what was typed is kept, to send once it fits
    # The threshold decision waits for the agencies' answers; the page says so.
    form = await open_form(browser, reference, "threshold-decision")
    page = await send(
        browser, reference, "threshold-decision", {**form, "outcome": "met", "reasons": REASONS}
    )
    assert page.status_code == 409 and "still open" in html.unescape(page.text)
    # The requests by their agencies' names, not the workflow's keys.
    assert "Leicestershire Police" in html.unescape(error_summary(page.text))
    assert "threshold:leicestershire-police" not in page.text

    assert submissions(service, reference, "panel_decision") == 0
    assert submissions(service, reference, "threshold_decision") == 0
    case = await service.case(reference)
    assert case["stage"] == "threshold_check"
    assert case["decisions"]["panel_decision"] is None and case["decisions"]["threshold_decision"] is None
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


async def test_a_role_that_may_not_take_a_decision_is_refused(service: CaseService) -> None:
    reference = await open_threshold_case(service)
    await service.answer_requests(reference, "threshold")
    panel = await staff_browser(service, role="panel")
    assert (await panel.get(f"/staff/cases/{reference}/panel-decision")).status_code == 200
    shown = await panel.get(f"/staff/cases/{reference}/threshold-decision")
    assert shown.status_code == 403 and "You cannot do this" in shown.text
    csrf = hidden((await panel.get(f"/staff/cases/{reference}/panel-decision")).text, "csrf")
    sent = await send(
        panel,
        reference,
        "threshold-decision",
        {"csrf": csrf, "form_key": uuid.uuid4().hex, "outcome": "met", "reasons": REASONS},
    )
    assert sent.status_code == 403
    assert submissions(service, reference, "threshold_decision") == 0
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


# ---- decisions that reach the workflow -----------------------------------------------------------


async def test_the_threshold_decision_reaches_the_workflow_once_however_often_it_is_sent(
    service: CaseService,
) -> None:
    reference = await open_threshold_case(service)
    await service.answer_requests(reference, "threshold")
    browser = await staff_browser(service)
    form = await open_form(browser, reference, "threshold-decision")
    fields = {**form, "outcome": "met", "reasons": REASONS}

    first = await send(browser, reference, "threshold-decision", fields)
    assert first.status_code == 303, first.text
    assert first.headers["Location"] == f"/staff/cases/{reference}?done=threshold-decision"
    # The same form sent again (a double click, or back and send): the same decision, applied once.
    again = await send(browser, reference, "threshold-decision", fields)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]

    case = await service.wait_for(
        reference, lambda c: c["stage"] == "review" and service.letters(c, "letter-2a")
    )
    assert case["decisions"]["threshold_decision"]["outcome"] == "met"
    assert case["decisions"]["threshold_decision"]["reasons"] == REASONS
    decided = [e for e in case["chronology"] if e["event"].startswith("Threshold decision: met")]
    assert len(decided) == 1 and "Sam Spoc" in decided[0]["actor"]
    assert submissions(service, reference, "threshold_decision") == 1
    assert len(service.letters(case, "letter-2a")) == 1
    # A new form for a decision already taken says why it is not recorded.
    late = await open_form(browser, reference, "threshold-decision")
    page = await send(
        browser, reference, "threshold-decision", {**late, "outcome": "not_met", "reasons": "No."}
    )
    assert page.status_code == 409
    assert "can only be recorded at the Threshold check stage" in page.text
    assert "threshold_check" not in page.text
    assert submissions(service, reference, "threshold_decision") == 1
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


def plan_row(row: int, action: str, agency: str, due: dt.date) -> dict[str, str]:
    return {
        f"plan-{row}-action": action,
        f"plan-{row}-agency": agency,
        **date_parts(f"plan-{row}-due", due),
    }


async def test_the_panel_decision_with_an_action_plan_added_row_by_row_reaches_the_workflow(
    service: CaseService,
) -> None:
    reference, _ = await to_review(service)
    assert (await service.act(reference, "review-meeting", await held_meeting(service))).status_code == 200
    await service.answer_requests(reference, "review")
    browser = await staff_browser(service)
    # The meeting's page comes filled in as it was recorded, to change it.
    meeting = await browser.get(f"/staff/cases/{reference}/review-meeting")
    assert 'value="Council Offices, Narborough"' in meeting.text
    assert 'name="attendee-rows" value="2"' in meeting.text and 'value="Jo Officer"' in meeting.text
    due = await service.today() + dt.timedelta(days=30)
    actions = [
        ("Install noise monitoring equipment.", "Blaby District Council ASB Team"),
        ("Written by mistake.", "Nobody"),
        ("Review the tenancy and issue a warning.", "East Midlands Homes"),
        ("Patrol the street on Friday nights.", "Leicestershire Police"),
    ]
    form = await open_form(browser, reference, "panel-decision")
    fields: dict[str, str] = {**form, "findings": PANEL["findings"], "plan-rows": "1"}
    assert (
        'name="plan-rows" value="1"' in (await browser.get(f"/staff/cases/{reference}/panel-decision")).text
    )
    # "Add another action" three times, each row filled in before the next is added.
    for row, (action, agency) in enumerate(actions[:3], start=1):
        fields.update(plan_row(row, action, agency, due + dt.timedelta(days=row)))
        page = await send(browser, reference, "panel-decision", {**fields, "step": "add-plan"})
        assert page.status_code == 200, page.text
        assert f'name="plan-rows" value="{row + 1}"' in page.text
        assert f'id="plan-{row + 1}-action"' in page.text
        assert html.escape(action, quote=True) in page.text  # kept as typed
        fields["plan-rows"] = str(row + 1)
    # Row 2 was a mistake: removing it moves the later rows up.
    page = await send(browser, reference, "panel-decision", {**fields, "step": "remove-plan-2"})
    assert page.status_code == 200
    assert 'name="plan-rows" value="3"' in page.text
    assert re.search(r'id="plan-2-action"[^>]*>Review the tenancy', page.text)
    assert "Written by mistake." not in page.text
    fields = {**form, "findings": PANEL["findings"], "plan-rows": "3"}
    for row, (action, agency) in enumerate((actions[0], actions[2], actions[3]), start=1):
        fields.update(plan_row(row, action, agency, due + dt.timedelta(days=row)))
    assert submissions(service, reference, "panel_decision") == 0  # nothing yet: rows only

    sent = await send(browser, reference, "panel-decision", {**fields, "step": "save"})
    assert sent.status_code == 303, sent.text
    assert sent.headers["Location"] == f"/staff/cases/{reference}?done=panel-decision"
    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-3")))
    recorded = case["decisions"]["panel_decision"]
    assert recorded["findings"] == PANEL["findings"]
    assert [(r["action"], r["agency"], r["due_on"]) for r in recorded["recommendations"]] == [
        (action, agency, (due + dt.timedelta(days=row)).isoformat())
        for row, (action, agency) in enumerate((actions[0], actions[2], actions[3]), start=1)
    ]
    assert any("Panel decision recorded with 3 recommendations" in e["event"] for e in case["chronology"])
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


async def test_every_action_page_has_its_success_banner_and_its_template() -> None:
    pages = (*staff_actions.PAGES, *staff_appeal_actions.PAGES)
    assert {page.slug for page in pages} == {*CASE_PAGES, *APPEAL_PAGES}
    for page in pages:
        assert done_message(page.slug), page.slug
        assert (PROJECT_ROOT / "templates" / page.template).is_file(), page.template
    assert done_message("application") and done_message("no-such-action") is None
