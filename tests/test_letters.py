"""Letters and emails (templates/): each template rendered in both forms, with the context the worker gives.

Contexts come from the real Blaby policy, a realistic application and the activities' own context
builder (`CaseActivities._context`), so a template that uses a name the worker does not provide fails here.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from activities.case import CaseActivities
from activities.notices import STEP_DESCRIPTIONS
from activities.rendering import TEMPLATES, Rendered, Renderer
from core.localities import load_policies
from db.models import Case
from domain.agencies import agencies_to_ask
from domain.application import Application
from domain.decisions import (
    AppealRequest,
    PanelDecision,
    Recommendation,
    ReviewMeeting,
    ThresholdDecision,
    Withdrawal,
)
from domain.policy import AppealRoute, LocalityPolicy
from workflows.models import LetterCode, StaffNotice, StaffNoticeKind

REFERENCE = "CT-BLA-2026-0007"
APPLICANT = "Siobhán O'Neill"
VICTIM = "Margaret O'Neill"
CASE_URL = f"https://trigger.example/api/cases/{REFERENCE}"
TAG = re.compile(r"</?[a-zA-Z][^>]*>")
ENTITY = re.compile(r"&(#\d+|[a-z]+);")

POLICY: LocalityPolicy = load_policies(Path("localities"))["blaby"]
RENDERER = Renderer()


CASE_PAGE_LINK = "https://trigger.example/case/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def application(**changes: Any) -> Application:
    values: dict[str, Any] = {
        "locality": "blaby",
        "received_on": "2026-11-20",
        "applicant": {
            "name": APPLICANT,
            "email": "siobhan.oneill@example.org",
            "phone": "07700 900123",
            "address": "12 Station Road\nNarborough",
            "postcode": "LE19 2HT",
        },
        "incidents": [
            {
                "occurred_on": "2026-08-14",
                "reported_on": "2026-08-15",
                "reported_to": "police",
                "organisation": "Leicestershire Police",
                "reference": "LP-2026-44120",
                "description": "Loud music and shouting from number 14 until 3am.",
            },
            {
                "occurred_on": "2026-09-20",
                "reported_on": "2026-09-21",
                "reported_to": "housing_provider",
                "organisation": "East Midlands Homes",
                "reference": "EMH-7781",
                "description": "Rubbish dumped in the shared garden again.",
            },
            {
                "occurred_on": "2026-10-30",
                "reported_on": "2026-11-02",
                "reported_to": "police",
                "organisation": "Leicestershire Police",
                "reference": None,
                "description": "Eggs thrown at my front window.",
            },
        ],
        "no_effective_action": True,
        "consent_to_share": True,
    }
    values.update(changes)
    return Application.model_validate(values)


ON_BEHALF = {"victim_name": VICTIM, "relationship": "daughter", "victim_consent": True}


def case_row(app: Application, **columns: Any) -> Case:
    values: dict[str, Any] = {
        "reference": REFERENCE,
        "locality": "blaby",
        "stage": "threshold_check",
        "received_on": dt.date(2026, 11, 20),
        "application": app.model_dump(mode="json"),
        "assessment": {},
        "threshold_decision": None,
        "review_meeting": None,
        "impact_statement": None,
        "panel_decision": None,
        "appeal_request": None,
        "appeal_outcome": None,
        "withdrawal": None,
        "acknowledge_by": dt.date(2026, 11, 27),
        "threshold_decision_by": None,
        "outcome_by": None,
        "appeal_by": None,
    }
    values.update(columns)
    return Case(**values)


def worker_context(case: Case, policy: LocalityPolicy = POLICY) -> dict[str, Any]:
    activities = CaseActivities.__new__(CaseActivities)
    activities._settings = SimpleNamespace(public_base_url="https://trigger.example/")  # type: ignore[assignment]
    app = Application.model_validate(case.application)
    return activities._context(case, policy, app)


def letter(
    code: LetterCode,
    *,
    app: Application | None = None,
    policy: LocalityPolicy = POLICY,
    sequence: int = 1,
    dated: dt.date = dt.date(2026, 11, 23),
    next_update_by: dt.date | None = None,
    **columns: Any,
) -> Rendered:
    case = case_row(app or application(), **columns)
    context = {
        **worker_context(case, policy),
        "letter": {
            "code": code.value,
            "sequence": sequence,
            "dated": dated,
            "next_update_by": next_update_by,
        },
        # As `Letters._case_page` gives it for an emailed letter.
        "case_page": {"link": CASE_PAGE_LINK, "ask_url": None},
    }
    return RENDERER.render(f"letters/{code.value}.j2", context)


def as_json(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


MET = as_json(
    ThresholdDecision(outcome="met", reasons="Three incidents were reported to the police in time.")
)
NOT_MET = as_json(
    ThresholdDecision(
        outcome="not_met",
        reasons="Only one incident was reported within a month.\n\nThe housing provider has a case open.",
    )
)
REJECTED = as_json(
    ThresholdDecision(
        outcome="rejected", reasons="The same complaint was made 40 times.", rejection_ground="malicious"
    )
)
MEETING = as_json(
    ReviewMeeting(
        meeting_at=dt.datetime(2026, 12, 10, 10, 0, tzinfo=dt.UTC),
        location="Council Offices, Narborough",
        attendees=[{"name": "PC Rana", "organisation": "Leicestershire Police"}],
    )
)
PANEL = as_json(
    PanelDecision(
        findings="Reports were handled separately and never joined up.\nNo one visited the street.",
        recommendations=[
            Recommendation(
                agency="Leicestershire Police",
                action="Add the street to evening patrols.",
                due_on=dt.date(2027, 1, 15),
            ),
            Recommendation(
                agency="East Midlands Homes",
                action="Clear the garden and fit a lock.",
                due_on=dt.date(2027, 2, 1),
            ),
        ],
    )
)

# Every letter code with columns that make a realistic case at the point the letter goes out.
LETTER_CASES: dict[LetterCode, dict[str, Any]] = {
    LetterCode.ACKNOWLEDGEMENT: {"stage": "received"},
    LetterCode.THRESHOLD_UPDATE: {
        "threshold_decision_by": dt.date(2026, 12, 7),
        "sequence": 2,
        "next_update_by": dt.date(2026, 12, 21),
    },
    LetterCode.THRESHOLD_MET: {"threshold_decision": MET, "threshold_decision_by": dt.date(2026, 12, 7)},
    LetterCode.THRESHOLD_NOT_MET: {"threshold_decision": NOT_MET, "appeal_by": dt.date(2027, 1, 4)},
    LetterCode.REJECTION: {"threshold_decision": REJECTED},
    LetterCode.OUTCOME_UPDATE: {
        "threshold_decision": MET,
        "outcome_by": dt.date(2027, 1, 6),
        "sequence": 1,
        "next_update_by": dt.date(2027, 2, 3),
    },
    LetterCode.OUTCOME: {"threshold_decision": MET, "review_meeting": MEETING, "panel_decision": PANEL},
    LetterCode.WITHDRAWAL: {"withdrawal": as_json(Withdrawal(reason="We have moved house."))},
    LetterCode.APPEAL_RECEIVED: {
        "threshold_decision": NOT_MET,
        "appeal_request": as_json(
            AppealRequest(received_on=dt.date(2027, 1, 4), grounds=[2], explanation="You missed my diary.")
        ),
    },
}


def render_letter(code: LetterCode, **overrides: Any) -> Rendered:
    return letter(code, **{**LETTER_CASES[code], **overrides})


# ---- Every letter ----------------------------------------------------------------------------------


def test_every_letter_code_has_a_template() -> None:
    missing = [
        code.value for code in LetterCode if not (TEMPLATES / "letters" / f"{code.value}.j2").is_file()
    ]
    assert missing == []
    extra = {path.stem for path in (TEMPLATES / "letters").glob("*.j2")} - {code.value for code in LetterCode}
    assert extra == set()


# The appeal's letters are rendered, for every route, in tests/test_appeal_letters.py.
@pytest.mark.parametrize("code", list(LETTER_CASES))
def test_letter_renders_in_both_forms(code: LetterCode) -> None:
    rendered = render_letter(code, app=application(on_behalf_of=ON_BEHALF))

    # Subject: one line, the reference, nothing personal.
    assert rendered.subject.startswith(f"Community Trigger {REFERENCE}: ")
    assert "\n" not in rendered.subject
    for personal in ("Siobhán", "O'Neill", "Station Road", "LE19 2HT"):
        assert personal not in rendered.subject

    # Text: letter layout, no HTML leaking in.
    text = rendered.text
    assert text.startswith("Blaby District Council\n")
    assert "23 November 2026" in text
    assert f"Our reference: {REFERENCE}" in text
    assert f"Dear {APPLICANT}\n" in text
    assert "Yours sincerely\n\nCommunity Safety Team\nBlaby District Council\n" in text
    assert "Email: community.trigger@blaby.council.example" in text
    assert "Phone: 0116 275 0555" in text
    assert not TAG.search(text), TAG.search(text)
    assert not ENTITY.search(text), ENTITY.search(text)
    assert "\n\n\n" not in text

    # HTML: a whole, self-contained document with everything escaped.
    html = rendered.html
    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert f"<title>{rendered.subject}</title>" in html
    assert "max-width:640px" in html
    assert "Dear Siobhán O&#39;Neill" in html
    assert "O'Neill" not in html
    assert "Community Safety Team<br>Blaby District Council" in html
    for external in ("<img", "<link", "<script", "src=", "@import", "url("):
        assert external not in html
    assert html.rstrip().endswith("</html>")


# ---- Letter by letter ----------------------------------------------------------------------------------


def test_acknowledgement_names_the_decision_date_when_known() -> None:
    rendered = letter(LetterCode.ACKNOWLEDGEMENT, threshold_decision_by=dt.date(2026, 12, 7))
    assert "We received it on 20 November 2026." in rendered.text
    assert "We will write to you by 7 December 2026 to tell you whether it does." in rendered.text
    assert "Report new anti-social behaviour to Blaby District Council" in rendered.text
    assert "Independent Office for Police Conduct" in rendered.text
    assert "does not replace" in rendered.text


def test_acknowledgement_before_the_decision_date_is_recorded() -> None:
    # The workflow counts the decision date from Letter 1, so it is not known while Letter 1 renders.
    rendered = letter(LetterCode.ACKNOWLEDGEMENT)
    assert "within 10 working days of the date of this letter" in rendered.text
    assert VICTIM not in rendered.text


def test_acknowledgement_for_someone_else_records_consent() -> None:
    rendered = letter(LetterCode.ACKNOWLEDGEMENT, app=application(on_behalf_of=ON_BEHALF))
    assert f"You applied on behalf of {VICTIM}. We have recorded that they agree" in rendered.text


def test_threshold_met_offers_the_impact_statement() -> None:
    rendered = render_letter(LetterCode.THRESHOLD_MET, outcome_by=dt.date(2027, 1, 6))
    text = rendered.text
    assert "Three incidents were reported to the police in time." in text
    assert "for up to 30 minutes" in text
    assert "The first part is open" in text and "The second part is closed" in text
    assert "confirm in writing" in text
    assert "with the outcome of the review by 6 January 2027" in text
    assert "does not fully meet" not in text


def test_threshold_met_below_the_threshold_says_so() -> None:
    below = {
        **MET,
        "below_threshold": True,
        "reasons": "Two reports, but the harm to a vulnerable victim is high.",
    }
    rendered = render_letter(LetterCode.THRESHOLD_MET, threshold_decision=below)
    assert "does not fully meet the threshold, but we have decided to accept it" in rendered.text
    assert "harm to a vulnerable victim is high" in rendered.text
    assert "within 20 working days of the date of this letter" in rendered.text


def test_threshold_not_met_gives_reasons_threshold_and_appeal() -> None:
    rendered = render_letter(LetterCode.THRESHOLD_NOT_MET)
    text = rendered.text
    assert "Only one incident was reported within a month.\n\nThe housing provider has a case open." in text
    assert "3 or more separate incidents" in text
    assert "in the 6 months before you applied" in text
    assert "within 1 month of it happening" in text
    assert "victim of a hate incident" in text
    assert "We must receive your request by 4 January 2027." in text
    assert "- The review failed to consider a relevant process, policy or protocol." in text
    assert "- The review failed to consider relevant factual information." in text
    assert "not the chair of the Blaby Community Safety Partnership" in text
    assert "final" in text
    assert "Ombudsman" in text
    # The reasons keep their paragraphs in HTML too.
    assert "Only one incident was reported within a month.</p>" in rendered.html


def test_threshold_not_met_before_the_appeal_date_is_recorded() -> None:
    rendered = render_letter(LetterCode.THRESHOLD_NOT_MET, appeal_by=None)
    assert "within 20 working days of the date of this letter" in rendered.text


def test_threshold_not_met_escapes_the_reasons_in_html() -> None:
    hostile = {**NOT_MET, "reasons": 'Not met <script>alert("x")</script> & closed.'}
    rendered = render_letter(LetterCode.THRESHOLD_NOT_MET, threshold_decision=hostile)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; closed." in rendered.html
    assert 'Not met <script>alert("x")</script> & closed.' in rendered.text


def test_threshold_not_met_for_someone_else_asks_for_their_consent_to_appeal() -> None:
    rendered = render_letter(LetterCode.THRESHOLD_NOT_MET, app=application(on_behalf_of=ON_BEHALF))
    assert f"As you are acting for {VICTIM}, please send a letter signed by them" in rendered.text


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (
            AppealRoute.CSP_CHAIR,
            "The chair of the Blaby Community Safety Partnership will decide your appeal.",
        ),
        (AppealRoute.PCC, "The Office of the Police and Crime Commissioner will decide your appeal."),
        (AppealRoute.SENIOR_OFFICERS, "Senior officers who were not involved in the first decision"),
    ],
)
def test_appeal_route_follows_the_policy(route: AppealRoute, expected: str) -> None:
    policy = POLICY.model_copy(
        update={"appeal": POLICY.appeal.model_copy(update={"route": route, "grounds": ()})}
    )
    for code in (LetterCode.THRESHOLD_NOT_MET, LetterCode.APPEAL_RECEIVED):
        rendered = render_letter(code, policy=policy)
        assert expected in rendered.text
        assert "independent chair" not in rendered.text
    assert "tell us why you disagree" in render_letter(LetterCode.THRESHOLD_NOT_MET, policy=policy).text


def test_rejection_names_the_ground_and_the_appeal() -> None:
    rendered = render_letter(LetterCode.REJECTION, appeal_by=dt.date(2027, 1, 4))
    text = rendered.text
    assert "We have decided that your application is malicious." in text
    assert "made to cause harm to someone" in text
    assert "The same complaint was made 40 times." in text
    assert "We must receive your request by 4 January 2027." in text
    assert "relevant factual information" in text


@pytest.mark.parametrize(
    ("code", "due", "next_by"),
    [
        (LetterCode.THRESHOLD_UPDATE, "7 December 2026", "21 December 2026"),
        (LetterCode.OUTCOME_UPDATE, "6 January 2027", "3 February 2027"),
    ],
)
def test_update_letters_number_themselves_and_say_when_next(code: LetterCode, due: str, next_by: str) -> None:
    rendered = render_letter(code)
    sequence = LETTER_CASES[code]["sequence"]
    assert f"update {sequence}" in rendered.subject
    assert f"This is update {sequence}." in rendered.text
    assert "We said we would tell you" in rendered.text and due in rendered.text
    assert "sorry for the delay" in rendered.text
    # The new expected date, and what happens if it slips again.
    assert re.search(
        rf"We now expect to (tell you our decision|send you the outcome) by {next_by}\.", rendered.text
    )
    assert "we will write to you again to tell you why and when to expect it." in rendered.text


def test_update_letter_without_a_next_date_counts_working_days() -> None:
    rendered = render_letter(LetterCode.THRESHOLD_UPDATE, next_update_by=None)
    assert "our decision within 10 working days of the date of this letter" in rendered.text


def test_outcome_lists_each_recommendation() -> None:
    rendered = render_letter(LetterCode.OUTCOME, appeal_by=dt.date(2027, 1, 20))
    text = rendered.text
    assert "at a meeting on 10 December 2026" in text
    assert "Reports were handled separately and never joined up.\nNo one visited the street." in text
    assert "The review made 2 recommendations:" in text
    assert (
        "Organisation: Leicestershire Police\nAction: Add the street to evening patrols.\n"
        "By: 15 January 2027\n" in text
    )
    assert (
        "Organisation: East Midlands Homes\nAction: Clear the garden and fit a lock.\nBy: 1 February 2027\n"
        in text
    )
    assert "must have regard to these" in text
    assert "We must receive your request by 20 January 2027." in text
    html = rendered.html
    assert '<th scope="col"' in html
    assert ">East Midlands Homes</td>" in html and ">1 February 2027</td>" in html
    assert "Reports were handled separately and never joined up.<br>No one visited the street." in html


def test_outcome_without_recommendations_says_so() -> None:
    panel = {**PANEL, "recommendations": []}
    rendered = render_letter(LetterCode.OUTCOME, panel_decision=panel)
    assert "did not make any recommendations, so there is no action plan" in rendered.text
    assert "must have regard" not in rendered.text


def test_withdrawal_quotes_the_applicant_only() -> None:
    by_applicant = render_letter(LetterCode.WITHDRAWAL)
    assert "withdrawn your Community Trigger application and closed your case" in by_applicant.text
    assert "You told us:\n\nWe have moved house." in by_applicant.text
    assert "apply for a Community Trigger again" in by_applicant.text

    by_spoc = render_letter(
        LetterCode.WITHDRAWAL,
        withdrawal=as_json(Withdrawal(reason="Applicant phoned; internal note.", requested_by="spoc")),
    )
    assert "internal note" not in by_spoc.text
    assert "internal note" not in by_spoc.html
    assert "You told us" not in by_spoc.text
    assert "think we have made a mistake" in by_spoc.text


def test_appeal_received_explains_the_independent_chair() -> None:
    text = render_letter(LetterCode.APPEAL_RECEIVED).text
    assert "request for an appeal on 4 January 2027" in text
    assert "(Community Safety Team, Leicestershire County Council) to name a chair" in text
    assert "within 1 working day of the chair being named" in text
    assert "within 5 working days of getting the papers" in text
    assert "within 20 working days of that first letter" in text
    assert "The chair's decision is final." in text


# ---- Emails to agencies and staff ---------------------------------------------------------------


def information_request(
    purpose: str, agency_key: str, app: Application | None = None
) -> tuple[Rendered, Any]:
    """Rendered as `_create_requests` renders it: the agency's incidents chosen by `agencies_to_ask`."""
    app = app or application()
    case = case_row(app)
    agency, indexes = next(
        (agency, indexes)
        for agency, _name, indexes in agencies_to_ask(app, POLICY)
        if agency is not None and agency.key == agency_key
    )
    context = {
        **worker_context(case),
        "agency": agency,
        "purpose": purpose,
        "request": {
            "key": f"{purpose}:{agency.key}",
            "requested_on": dt.date(2026, 11, 23),
            "due_on": dt.date(2026, 11, 30),
        },
        "incidents": [app.incidents[i] for i in indexes],
        "link": {"url": "http://localhost:8000/agency/r/" + "x" * 43, "expires_on": dt.date(2026, 12, 21)},
        "resent": False,
        "generation": 0,
    }
    return RENDERER.render("emails/information-request.j2", context), agency


def test_information_request_lists_only_the_agencys_incidents() -> None:
    rendered, _ = information_request("threshold", "leicestershire-police")
    assert rendered.subject == (
        f"Community Trigger {REFERENCE}: information request (threshold check) due 30 November 2026"
    )
    text = rendered.text
    assert text.startswith("Blaby District Council\n")
    assert "Dear Leicestershire Police" in text
    assert "Blaby Community Safety Partnership" in text
    assert f"Applicant: {APPLICANT}" in text
    assert "Address: 12 Station Road\n  Narborough" in text
    assert "Postcode: LE19 2HT" in text
    assert "Loud music and shouting from number 14 until 3am." in text
    assert "Your reference: LP-2026-44120" in text
    assert "Eggs thrown at my front window." in text
    assert "Your reference: Not given" in text
    assert "Happened on: 30 October 2026" in text
    assert "Rubbish dumped" not in text and "EMH-7781" not in text
    assert "Please reply by 30 November 2026." in text
    assert (
        "Crime and Disorder Act 1998" in text and "Anti-social Behaviour, Crime and Policing Act 2014" in text
    )
    assert "share only what the review needs" in text
    assert f"quote our reference {REFERENCE} and the request key threshold:leicestershire-police" in text
    assert not TAG.search(text)
    assert not ENTITY.search(text)
    assert "Dear Leicestershire Police" in rendered.html
    assert "O&#39;Neill" in rendered.html


def test_information_request_to_an_agency_without_listed_reports() -> None:
    rendered, _ = information_request("review", "blaby-asb")
    assert "(case review)" in rendered.subject
    assert "The applicant did not list any reports to Blaby District Council ASB Team" in rendered.text
    assert "Please send us a full report" in rendered.text
    assert "whether the behaviour is still going on" in rendered.text
    assert "any risk to the victim" in rendered.text
    assert "Loud music" not in rendered.text


def test_information_request_escapes_the_description_in_html() -> None:
    app = application()
    app.incidents[0].description = "They wrote <script>alert('hi')</script> & <b>worse</b> on my door."
    rendered, _ = information_request("threshold", "leicestershire-police", app)
    assert "<script>" not in rendered.html and "<b>worse" not in rendered.html
    assert "&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt; &amp; &lt;b&gt;worse&lt;/b&gt;" in rendered.html
    # Plain text is not interpreted, so the applicant's words are shown as written.
    assert "They wrote <script>alert('hi')</script> & <b>worse</b> on my door." in rendered.text


def staff_email(kind: StaffNoticeKind, recipient: Any, sequence: int = 1) -> Rendered:
    """Rendered as `_record_notice` renders it."""
    case = case_row(application(), stage="threshold_check", threshold_decision_by=dt.date(2026, 12, 7))
    notice = StaffNotice(
        reference=REFERENCE,
        kind=kind,
        step="threshold_decision",
        due_on=dt.date(2026, 12, 7),
        sequence=sequence,
        dated=dt.date(2026, 12, 8),
    )
    return RENDERER.render(
        f"emails/{kind.value}.j2",
        {
            "case": CaseActivities._case_summary(case),
            "council": POLICY,
            "recipient": recipient,
            "notice": notice,
            "what": STEP_DESCRIPTIONS[notice.step],
            "case_url": CASE_URL,
            # What `_record_notice` adds for the notices about information requests.
            "requests": [
                {
                    "key": "threshold:leicestershire-police",
                    "agency_name": "Leicestershire Police",
                    "state": "answered",
                    "answered_on": dt.date(2026, 12, 1),
                    "waived_reason": None,
                }
            ],
            "request": {
                "key": "threshold:leicestershire-police",
                "purpose": "threshold",
                "agency_name": "Leicestershire Police",
                "agency_email": "asb.casereview@leicestershire-police.example",
                "requested_on": dt.date(2026, 11, 23),
                "due_on": dt.date(2026, 11, 30),
                "state": "requested",
                "delivery": "sent",
            },
        },
    )


def test_reminder_says_what_is_due_and_links_the_case() -> None:
    rendered = staff_email(StaffNoticeKind.REMINDER, POLICY.spoc)
    assert rendered.subject == f"Reminder: Community Trigger {REFERENCE} due 7 December 2026"
    assert "Dear Community Trigger SPOC, Community Safety Team" in rendered.text
    assert (
        "The threshold decision letter (Letter 2a or 2b) to the applicant is due by 7 December 2026."
        in rendered.text
    )
    assert f"Open the case: {CASE_URL}" in rendered.text
    assert f'<a href="{CASE_URL}"' in rendered.html
    assert not TAG.search(rendered.text)


@pytest.mark.parametrize("kind", list(StaffNoticeKind))
def test_staff_emails_hold_no_personal_data(kind: StaffNoticeKind) -> None:
    rendered = staff_email(kind, POLICY.manager)
    for part in (rendered.subject, rendered.text, rendered.html):
        for personal in ("Siobhán", "Neill", "Station Road", "LE19 2HT", "siobhan"):
            assert personal not in part
    assert REFERENCE in rendered.subject


def test_escalation_is_numbered_and_links_the_case() -> None:
    rendered = staff_email(StaffNoticeKind.ESCALATION, POLICY.manager, sequence=2)
    assert rendered.subject.startswith(f"Overdue: Community Trigger {REFERENCE}")
    assert "Dear Community Safety Manager" in rendered.text
    assert "was 7 December 2026. It has passed" in rendered.text
    assert "This is escalation 2. The applicant has been sent update letter 2" in rendered.text
    assert "Please act now: record the threshold decision" in rendered.text
    assert f"Open the case: {CASE_URL}" in rendered.text
    assert f'<a href="{CASE_URL}" style=' in rendered.html
    assert rendered.html.startswith('<!doctype html>\n<html lang="en">')
