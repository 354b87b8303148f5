"""The appeal's letters and emails (templates/letters/letter-4..6, update-appeal, appeal-withdrawn,
appeal-received; templates/emails/appeal-*.j2, and reminder/escalation for the appeal steps), rendered in
both forms for each appeal route, with the context the worker builds (`CaseFiles._context`,
`AppealRecords._appeal_context`, `StaffNotices._record_notice`).

The four routes come from real policies: Blaby (an independent chair), Harborough (its own partnership's
chair), Derby (the Police and Crime Commissioner's office) and Tunbridge Wells (senior officers).
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace
from typing import Any

import pytest

from activities.case import CaseActivities
from activities.notices import STEP_DESCRIPTIONS
from activities.rendering import TEMPLATES, Rendered, Renderer
from core.config import PROJECT_ROOT
from core.localities import load_policies
from db.models import Appeal, Case
from domain.application import Application
from domain.decisions import (
    AppealCriteria,
    AppealDecision,
    AppealPanel,
    AppealRequest,
    AppealWithdrawal,
    PanelMember,
    Recommendation,
)
from domain.policy import AppealChair, LocalityPolicy
from workflows.models import LetterCode, StaffNotice, StaffNoticeKind

POLICIES = load_policies(PROJECT_ROOT / "localities")
ROUTES = {
    "blaby": "independent_chair",
    "harborough": "csp_chair",
    "derby": "pcc",
    "tunbridge-wells": "senior_officers",
}
CODES = {"blaby": "BLA", "harborough": "HAR", "derby": "DER", "tunbridge-wells": "TUN"}
RENDERER = Renderer()

APPLICANT = "Siobhán O'Neill"
VICTIM = "Margaret O'Neill"
EXPLANATION = "You ignored my noise diary. {{7*7}} <script>alert('x')</script>"
HOSTILE = "{{7*7}} <script>alert('x')</script> & more"
HOSTILE_HTML = "{{7*7}} &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"
# What must never be in an email to a chair, a contact or the partnership list.
PERSONAL = ("Siobhán", "Neill", "Station Road", "LE19 2HT", "siobhan", "07700", "noise diary")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")
ENTITY = re.compile(r"&(#\d+|[a-z]+);")

RECEIVED = dt.date(2027, 1, 4)
DECISION_BY = dt.date(2027, 2, 12)
ACKNOWLEDGE_BY = dt.date(2027, 1, 13)


CASE_PAGE_LINK = "https://trigger.example/case/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def reference(locality: str) -> str:
    return f"CT-{CODES[locality]}-2026-0007"


def application(locality: str, **changes: Any) -> Application:
    values: dict[str, Any] = {
        "locality": locality,
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
                "organisation": "The police",
                "reference": "P-44120",
                "description": "Loud music and shouting from number 14 until 3am.",
            },
        ],
        "no_effective_action": True,
        "consent_to_share": True,
    }
    values.update(changes)
    return Application.model_validate(values)


ON_BEHALF = {"victim_name": VICTIM, "relationship": "daughter", "victim_consent": True}


def as_json(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


def chair_of(policy: LocalityPolicy) -> AppealChair:
    return policy.eligible_appeal_chairs()[0]


def criteria(met: bool = False, reasons: str = "Your diary was considered at the review.") -> dict[str, Any]:
    return as_json(AppealCriteria(met=met, reasons=reasons, lessons="Share diaries with every agency."))


PANEL = as_json(
    AppealPanel(
        meeting_at=dt.datetime(2027, 2, 3, 10, 0, tzinfo=dt.UTC),
        location="Council Offices, Room 2",
        members=[PanelMember(name="A. Patel", role="SPOC")],
        victim_attends_minutes=20,
    )
)


def decision(upheld: bool = True, reasons: str = "The review did not read the noise log.") -> dict[str, Any]:
    return as_json(
        AppealDecision(
            upheld=upheld,
            reasons=reasons,
            recommendations=[
                Recommendation(
                    agency="The police", action="Visit the street weekly.", due_on=dt.date(2027, 3, 1)
                ),
                Recommendation(
                    agency="The housing provider", action="Fit a gate lock.", due_on=dt.date(2027, 3, 15)
                ),
            ],
            lessons="Agencies should read diaries the applicant sends.",
        )
    )


def case_row(
    locality: str,
    *,
    app: Application | None = None,
    named: bool = True,
    request: dict[str, Any] | None = None,
    **appeal_columns: Any,
) -> Case:
    policy = POLICIES[locality]
    app = app or application(locality)
    chair = chair_of(policy)
    grounds = [1, 2] if policy.appeal.grounds else []
    now = dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
    values: dict[str, Any] = {
        "stage": "appeal_acknowledged",
        "result": None,
        "route": policy.appeal.route.value,
        "received_on": RECEIVED,
        "grounds": grounds,
        "needs_consent": False,
        "chair_key": chair.key if named else None,
        "chair_name": chair.name if named else None,
        "chair_email": str(chair.email) if named else None,
        "chair_partnership": chair.partnership if named else None,
        "name_chair_by": dt.date(2027, 1, 6),
        "bundle_by": dt.date(2027, 1, 7),
        "acknowledge_by": ACKNOWLEDGE_BY,
        "decision_by": DECISION_BY,
        "bundle_sent_on": dt.date(2027, 1, 6),
        "criteria": None,
        "panel": None,
        "decision": None,
        "withdrawal": None,
        "created_at": now,
        "updated_at": now,
    }
    values.update(appeal_columns)
    appeal = Appeal(**values)
    if request is None:
        request = as_json(AppealRequest(received_on=RECEIVED, grounds=grounds, explanation=EXPLANATION))
    return Case(
        reference=reference(locality),
        locality=locality,
        stage="appeal",
        received_on=dt.date(2026, 11, 20),
        application=app.model_dump(mode="json"),
        assessment={},
        threshold_decision=None,
        review_meeting=None,
        impact_statement=None,
        panel_decision=None,
        appeal_request=request,
        appeal_outcome=None,
        withdrawal=None,
        acknowledge_by=dt.date(2026, 11, 27),
        threshold_decision_by=None,
        outcome_by=None,
        appeal_by=dt.date(2027, 1, 20),
        appeal=appeal,
    )


def activities() -> CaseActivities:
    built = CaseActivities.__new__(CaseActivities)
    built._settings = SimpleNamespace(public_base_url="https://trigger.example/")  # type: ignore[assignment]
    return built


def letter(
    code: LetterCode,
    locality: str,
    *,
    sequence: int = 1,
    next_update_by: dt.date | None = None,
    app: Application | None = None,
    **columns: Any,
) -> Rendered:
    """Rendered as `Letters._prepare_letter` renders it."""
    case = case_row(locality, app=app, **columns)
    policy = POLICIES[locality]
    context = {
        **activities()._context(case, policy, Application.model_validate(case.application)),
        "letter": {
            "code": code.value,
            "sequence": sequence,
            "dated": dt.date(2027, 1, 11),
            "next_update_by": next_update_by,
        },
        # As `Letters._case_page` gives it for an emailed letter.
        "case_page": {"link": CASE_PAGE_LINK, "ask_url": None},
    }
    return RENDERER.render(f"letters/{code.value}.j2", context)


# The letters of the appeal, each with the appeal as it is when the letter goes out.
APPEAL_LETTERS: dict[LetterCode, dict[str, Any]] = {
    LetterCode.APPEAL_RECEIVED: {"stage": "appeal_chair_requested", "named": False, "acknowledge_by": None},
    LetterCode.APPEAL_ACKNOWLEDGEMENT: {},
    LetterCode.APPEAL_CRITERIA_NOT_MET: {
        "stage": "appeal_decided",
        "result": "criteria_not_met",
        "criteria": criteria(),
    },
    LetterCode.APPEAL_OUTCOME: {
        "stage": "appeal_decided",
        "result": "upheld",
        "criteria": criteria(met=True),
        "panel": PANEL,
        "decision": decision(),
    },
    LetterCode.APPEAL_UPDATE: {"sequence": 2, "next_update_by": dt.date(2027, 3, 12)},
    LetterCode.APPEAL_WITHDRAWN: {
        "stage": "appeal_withdrawn",
        "result": "withdrawn",
        "withdrawal": as_json(AppealWithdrawal(reason="We have moved house.")),
    },
}


def render_letter(code: LetterCode, locality: str, **overrides: Any) -> Rendered:
    return letter(code, locality, **{**APPEAL_LETTERS[code], **overrides})


# ---- every appeal letter, every route -----------------------------------------------------------


def test_every_appeal_template_exists() -> None:
    for code in APPEAL_LETTERS:
        assert (TEMPLATES / "letters" / f"{code.value}.j2").is_file()
    for name in ("appeal-chair-request", "appeal-bundle", "appeal-lessons", "appeal-consent-needed"):
        assert (TEMPLATES / "emails" / f"{name}.j2").is_file()


def test_the_localities_have_the_four_routes() -> None:
    assert {key: POLICIES[key].appeal.route.value for key in ROUTES} == ROUTES


@pytest.mark.parametrize("locality", list(ROUTES))
@pytest.mark.parametrize("code", list(APPEAL_LETTERS))
def test_appeal_letter_renders_in_both_forms(code: LetterCode, locality: str) -> None:
    policy = POLICIES[locality]
    rendered = render_letter(code, locality, app=application(locality, on_behalf_of=ON_BEHALF))
    ref = reference(locality)

    assert rendered.subject.startswith(f"Community Trigger {ref}: ")
    assert "\n" not in rendered.subject
    for personal in ("Siobhán", "O'Neill", "Station Road"):
        assert personal not in rendered.subject

    text = rendered.text
    assert text.startswith(f"{policy.council}\n")
    assert f"Our reference: {ref}" in text
    assert "11 January 2027" in text
    assert f"Dear {APPLICANT}\n" in text
    assert "Yours sincerely" in text
    assert not TAG.search(text), TAG.search(text)
    assert not ENTITY.search(text), ENTITY.search(text)
    assert "\n\n\n" not in text
    assert "49" not in text
    # Route wording: an independent chair only where the policy says so.
    if locality != "blaby":
        assert "independent chair" not in text
    elif code not in (LetterCode.APPEAL_UPDATE, LetterCode.APPEAL_WITHDRAWN):
        assert "independent chair" in text

    html = rendered.html
    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert f"<title>{rendered.subject}</title>" in html
    assert "Dear Siobhán O&#39;Neill" in html
    assert "O'Neill" not in html
    for external in ("<img", "<link", "<script", "src=", "@import", "url("):
        assert external not in html
    assert html.rstrip().endswith("</html>")


# ---- letter by letter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locality", "who"),
    [
        (
            "blaby",
            "Your appeal is being heard by an independent chair from the Charnwood Community Safety "
            "Partnership. They are not part of the Blaby Community Safety Partnership.",
        ),
        (
            "harborough",
            "Your appeal is being heard by the chair of the Harborough Community Safety Partnership.",
        ),
        (
            "derby",
            "Your appeal is being heard by the Office of the Police and Crime Commissioner. The person "
            "dealing with it is Case Review Appeals Officer, Office of the Police and Crime Commissioner "
            "for Derbyshire.",
        ),
        (
            "tunbridge-wells",
            "Your appeal is a second review of your case by senior officers who were not involved in the "
            "first decision. It is led by Head of Community Safety, Tunbridge Wells Borough Council.",
        ),
    ],
)
def test_letter_4_says_who_hears_the_appeal_and_when_the_decision_is_due(locality: str, who: str) -> None:
    text = render_letter(LetterCode.APPEAL_ACKNOWLEDGEMENT, locality).text
    assert who in " ".join(text.split())
    assert "They have the papers for your case" in text
    assert "which we received on 4 January 2027" in text
    assert "You will get a letter with the decision by 12 February 2027." in text
    assert "at least every 20 working days" in text
    assert "appeal panel" in text
    assert "for a set time" in text
    assert "The decision on your appeal will be final." in text
    assert "Ombudsman" in text
    if POLICIES[locality].appeal.grounds:
        assert "meets the grounds for an appeal" in text
        assert "- The review failed to consider relevant factual information." in text
    else:
        assert "will check that it can go ahead" in text


def test_letter_4_for_someone_else_names_the_victim_at_the_panel() -> None:
    text = render_letter(
        LetterCode.APPEAL_ACKNOWLEDGEMENT, "blaby", app=application("blaby", on_behalf_of=ON_BEHALF)
    ).text
    assert f"You or {VICTIM} can come to the start of the panel meeting" in text


def test_letter_4_with_a_panel_already_set_gives_its_day_and_time_allowed() -> None:
    text = render_letter(LetterCode.APPEAL_ACKNOWLEDGEMENT, "blaby", panel=PANEL).text
    assert "planned to meet on 3 February 2027 at Council Offices, Room 2" in text
    assert "for up to 20 minutes" in text


def test_letter_4_before_the_decision_date_is_recorded_counts_working_days() -> None:
    text = render_letter(LetterCode.APPEAL_ACKNOWLEDGEMENT, "derby", decision_by=None).text
    assert "within 20 working days of the date of this letter" in text


@pytest.mark.parametrize("locality", list(ROUTES))
def test_letter_5_gives_the_reasons_and_is_final(locality: str) -> None:
    reasons = "Your diary was read at the review.\n\nNothing was missed."
    rendered = render_letter(LetterCode.APPEAL_CRITERIA_NOT_MET, locality, criteria=criteria(reasons=reasons))
    text = rendered.text
    if POLICIES[locality].appeal.grounds:
        assert "does not meet the grounds for an appeal, so it cannot go ahead" in text
    else:
        assert "They have decided that it cannot go ahead." in text
        assert "grounds" not in text
    assert "which we received on 4 January 2027" in text
    assert "Your appeal was " in text
    assert "Your diary was read at the review.\n\nNothing was missed." in text
    assert "This decision is final" in text
    assert "You cannot appeal against this decision." in text
    assert POLICIES[locality].report_asb in " ".join(text.split())
    assert "Ombudsman" in text and "Independent Office for Police Conduct" in text
    assert "Your diary was read at the review.</p>" in rendered.html


def test_letter_5_shows_the_reasons_literally() -> None:
    rendered = render_letter(LetterCode.APPEAL_CRITERIA_NOT_MET, "blaby", criteria=criteria(reasons=HOSTILE))
    assert HOSTILE in rendered.text
    assert HOSTILE_HTML in rendered.html
    assert "<script>" not in rendered.html


@pytest.mark.parametrize("locality", list(ROUTES))
def test_letter_6_upheld_lists_the_new_recommendations(locality: str) -> None:
    rendered = render_letter(LetterCode.APPEAL_OUTCOME, locality)
    text = rendered.text
    assert "Your appeal is upheld" in text
    assert "not upheld" not in text
    assert "after the appeal panel met on 3 February 2027" in text
    assert "The review did not read the noise log." in text
    assert "They have made 2 new recommendations:" in text
    assert "Organisation: The police\nAction: Visit the street weekly.\nBy: 1 March 2027\n" in text
    assert "Organisation: The housing provider\nAction: Fit a gate lock.\nBy: 15 March 2027\n" in text
    assert "This decision is final" in text and "There is no further appeal." in text
    assert "Ombudsman" in text
    html = rendered.html
    assert '<th scope="col"' in html
    assert ">Fit a gate lock.</td>" in html and ">15 March 2027</td>" in html


def test_letter_6_not_upheld_without_recommendations() -> None:
    outcome = {**decision(upheld=False), "recommendations": []}
    text = render_letter(LetterCode.APPEAL_OUTCOME, "harborough", result="not_upheld", decision=outcome).text
    assert "Your appeal is not upheld" in text
    assert "stays as it is" in text
    assert "They have not made any new recommendations." in text
    assert "Organisation:" not in text


def test_letter_6_shows_the_reasons_and_recommendations_literally() -> None:
    outcome = decision(reasons=HOSTILE)
    outcome["recommendations"][0]["action"] = HOSTILE
    rendered = render_letter(LetterCode.APPEAL_OUTCOME, "derby", decision=outcome)
    assert rendered.text.count(HOSTILE) == 2
    assert rendered.html.count(HOSTILE_HTML) == 2
    assert "<script>" not in rendered.html


@pytest.mark.parametrize("locality", list(ROUTES))
def test_update_letter_numbers_itself_and_says_when_next(locality: str) -> None:
    rendered = render_letter(LetterCode.APPEAL_UPDATE, locality)
    assert rendered.subject == f"Community Trigger {reference(locality)}: update 2 on your appeal"
    text = rendered.text
    assert "This is update 2." in text
    assert "We said you would have it by 12 February 2027." in text
    assert "sorry for the delay" in text
    assert "We now expect to send you the decision by 12 March 2027." in text
    assert "please contact our Community Trigger single point of contact (SPOC)" in " ".join(text.split())
    assert f"Email: {POLICIES[locality].spoc.email}" in text


def test_update_letter_without_a_next_date_counts_working_days() -> None:
    text = render_letter(LetterCode.APPEAL_UPDATE, "blaby", next_update_by=None).text
    assert "within 20 working days of the date of this letter" in text


def test_withdrawn_quotes_the_applicant_only() -> None:
    by_applicant = render_letter(LetterCode.APPEAL_WITHDRAWN, "blaby")
    assert "We have withdrawn your appeal and closed your case." in by_applicant.text
    assert "This is because you asked us to." in by_applicant.text
    assert "You told us:\n\nWe have moved house." in by_applicant.text

    hostile = render_letter(
        LetterCode.APPEAL_WITHDRAWN, "blaby", withdrawal=as_json(AppealWithdrawal(reason=HOSTILE))
    )
    assert HOSTILE in hostile.text and HOSTILE_HTML in hostile.html

    by_spoc = render_letter(
        LetterCode.APPEAL_WITHDRAWN,
        "harborough",
        withdrawal=as_json(AppealWithdrawal(reason="Internal note: no consent.", requested_by="spoc")),
    )
    assert "Internal note" not in by_spoc.text and "Internal note" not in by_spoc.html
    assert "think we have made a mistake" in by_spoc.text

    # A withdrawal recorded without its body still reads right.
    bare = render_letter(LetterCode.APPEAL_WITHDRAWN, "derby", withdrawal=None)
    assert "We have withdrawn your appeal and closed your case." in bare.text


def test_appeal_received_shows_the_named_grounds_and_asks_for_consent() -> None:
    app = application("blaby", on_behalf_of={**ON_BEHALF, "victim_consent": False})
    text = render_letter(LetterCode.APPEAL_RECEIVED, "blaby", app=app).text
    assert "request for an appeal on 4 January 2027" in text
    assert "You told us your appeal is made on these grounds:" in text
    assert "- The review failed to consider a relevant process, policy or protocol." in text
    assert f"As you are acting for {VICTIM}, please send us a letter signed by them" in text
    assert "cannot go ahead until we have it" in text
    # The applicant's explanation is theirs: it is not repeated back.
    assert "noise diary" not in text

    consented = {
        **as_json(AppealRequest(received_on=RECEIVED, grounds=[2], explanation="Diary.")),
        "consent_received": True,
    }
    text = render_letter(LetterCode.APPEAL_RECEIVED, "blaby", app=app, request=consented, grounds=[2]).text
    assert f"Thank you for sending the letter signed by {VICTIM}" in text
    assert "You told us your appeal is made on this ground:" in text


@pytest.mark.parametrize(
    ("locality", "expected"),
    [
        ("harborough", "The chair of the Harborough Community Safety Partnership will decide your appeal."),
        ("derby", "The Office of the Police and Crime Commissioner will decide your appeal."),
        ("tunbridge-wells", "Senior officers who were not involved in the first decision"),
    ],
)
def test_appeal_received_follows_the_route(locality: str, expected: str) -> None:
    text = render_letter(LetterCode.APPEAL_RECEIVED, locality).text
    assert expected in text
    assert "Once we know who will deal with your appeal" in text
    assert "The decision on your appeal will be final." in text


# ---- emails about the appeal ----------------------------------------------------------------------


def appeal_email(template: str, locality: str, **extra: Any) -> Rendered:
    """Rendered as `AppealRecords` renders it: `_appeal_context` and the email's own names."""
    policy = POLICIES[locality]
    case = case_row(locality, **extra.pop("columns", {}))
    return RENDERER.render(f"emails/{template}.j2", {**activities()._appeal_context(case, policy), **extra})


def chair_request(locality: str, kind: str = "request", sequence: int = 1) -> Rendered:
    policy = POLICIES[locality]
    return appeal_email(
        "appeal-chair-request",
        locality,
        columns={
            "stage": "appeal_chair_requested",
            "named": False,
            "acknowledge_by": None,
            "decision_by": None,
        },
        naming={"kind": kind, "sequence": sequence},
        due_on=dt.date(2027, 1, 6),
        valid_until=dt.date(2027, 1, 27),
        link="https://trigger.example/appeal/l/" + "c" * 43,
        chairs=policy.eligible_appeal_chairs(),
        recipient=policy.appeal.contact,
    )


def bundle(locality: str, *, resent: bool = False, **columns: Any) -> Rendered:
    chair = chair_of(POLICIES[locality])
    return appeal_email(
        "appeal-bundle",
        locality,
        columns={"stage": "appeal_chair_named", "acknowledge_by": None, "decision_by": None, **columns},
        chair=chair,
        link="https://trigger.example/appeal/l/" + "b" * 43,
        valid_until=dt.date(2027, 2, 26),
        resent=resent,
        recipient=chair,
    )


def lessons(locality: str, result: str, **columns: Any) -> Rendered:
    return appeal_email(
        "appeal-lessons",
        locality,
        columns={"stage": "appeal_decided", "result": result, **columns},
        recipient="communitysafety@leics.council.example",
    )


def assert_no_personal_data(rendered: Rendered) -> None:
    for part in (rendered.subject, rendered.text, rendered.html):
        for personal in PERSONAL:
            assert personal not in part, personal


def assert_email_form(rendered: Rendered, locality: str) -> None:
    assert reference(locality) in rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.text.startswith(f"{POLICIES[locality].council}\n")
    assert not TAG.search(rendered.text), TAG.search(rendered.text)
    assert not ENTITY.search(rendered.text), ENTITY.search(rendered.text)
    assert rendered.html.startswith('<!doctype html>\n<html lang="en">')
    assert rendered.html.rstrip().endswith("</html>")


@pytest.mark.parametrize("locality", list(ROUTES))
@pytest.mark.parametrize("kind", ["request", "reminder", "overdue"])
def test_chair_request_asks_the_contact_to_name_someone(locality: str, kind: str) -> None:
    policy = POLICIES[locality]
    rendered = chair_request(locality, kind, sequence=2 if kind == "overdue" else 1)
    assert_email_form(rendered, locality)
    assert_no_personal_data(rendered)
    text = " ".join(rendered.text.split())
    assert f"Dear {policy.appeal.contact.name}" in text
    assert "6 January 2027" in rendered.subject
    assert "https://trigger.example/appeal/l/" + "c" * 43 in text
    assert "The link works until 27 January 2027" in text
    assert f'<a href="https://trigger.example/appeal/l/{"c" * 43}"' in rendered.html
    for chair in policy.eligible_appeal_chairs():
        assert chair.name in text
    if kind == "overdue":
        assert rendered.subject.startswith("Overdue: ")
        assert "This is chase 2." in text and "We have told the Community Trigger SPOC" in text
    elif kind == "reminder":
        assert rendered.subject.startswith("Reminder: ")
        assert "This is a reminder." in text
    else:
        assert "Please do so by 6 January 2027." in text


def test_chair_request_for_an_independent_chair_leaves_out_the_areas_own_chair() -> None:
    text = " ".join(chair_request("blaby").text.split())
    assert "never the chair of the Blaby Community Safety Partnership" in text
    assert "Chair, Charnwood Community Safety Partnership" in text
    assert "Chair, Blaby Community Safety Partnership" not in text


@pytest.mark.parametrize(
    ("locality", "route_words"),
    [
        ("harborough", "heard by the chair of the Harborough Community Safety Partnership"),
        ("derby", "heard by the Office of the Police and Crime Commissioner"),
        ("tunbridge-wells", "Please name the senior officer who will lead it."),
    ],
)
def test_chair_request_follows_the_route(locality: str, route_words: str) -> None:
    text = " ".join(chair_request(locality).text.split())
    assert route_words in text
    assert "independent chair" not in text


@pytest.mark.parametrize("locality", list(ROUTES))
def test_bundle_gives_the_chair_their_link_and_the_steps(locality: str) -> None:
    policy = POLICIES[locality]
    chair = chair_of(policy)
    rendered = bundle(locality)
    assert_email_form(rendered, locality)
    assert_no_personal_data(rendered)
    assert (
        rendered.subject == f"Community Trigger {reference(locality)}: you have been named to hear an appeal"
    )
    text = " ".join(rendered.text.split())
    assert f"Dear {chair.name}" in text
    assert "https://trigger.example/appeal/l/" + "b" * 43 in text
    assert "The link works until 26 February 2027." in text
    assert "the chronology of the case" in text
    assert "the applicant's request for an appeal" in text
    assert "within 5 working days of getting this email" in text
    assert "(Letter 4)" in text and "(Letter 5)" in text and "(Letter 6)" in text
    assert "within 20 working days of Letter 4" in text
    assert "Your decision is final." in text
    assert "relevant factual information" in text if policy.appeal.grounds else "does not set grounds" in text
    assert "Links in earlier emails" not in text


def test_bundle_with_known_dates_and_a_new_link() -> None:
    rendered = bundle("blaby", resent=True, acknowledge_by=ACKNOWLEDGE_BY, decision_by=DECISION_BY)
    assert rendered.subject.startswith("New link: ")
    text = " ".join(rendered.text.split())
    assert "Links in earlier emails about it no longer work" in text
    assert "acknowledge the appeal on the page by 13 January 2027." in text
    assert "It is due by 12 February 2027." in text
    assert "Acknowledge by: 13 January 2027" in rendered.text
    assert "an independent chair: the appeal comes from the Blaby Community Safety Partnership" in text


@pytest.mark.parametrize(
    ("result", "line"),
    [
        ("criteria_not_met", "Result: the appeal did not meet the grounds for an appeal"),
        ("upheld", "Result: the appeal was upheld."),
        ("not_upheld", "Result: the appeal was not upheld."),
    ],
)
def test_lessons_go_to_the_partnership_without_personal_data(result: str, line: str) -> None:
    columns: dict[str, Any] = {"criteria": criteria(met=result != "criteria_not_met")}
    if result != "criteria_not_met":
        columns["decision"] = decision(upheld=result == "upheld")
    rendered = lessons("blaby", result, **columns)
    assert_email_form(rendered, "blaby")
    assert_no_personal_data(rendered)
    text = " ".join(rendered.text.split())
    assert "Dear colleague" in text
    assert line in text
    expected = "Share diaries with every agency." if result == "criteria_not_met" else "Agencies should read"
    assert expected in text


def test_lessons_are_shown_literally() -> None:
    rendered = lessons("harborough", "upheld", decision={**decision(), "lessons": HOSTILE})
    assert HOSTILE in rendered.text
    assert HOSTILE_HTML in rendered.html


# ---- staff notices about the appeal --------------------------------------------------------------


def staff_notice(
    kind: StaffNoticeKind,
    step: str,
    recipient: Any,
    *,
    locality: str = "blaby",
    to_chair: bool = True,
    sequence: int = 1,
    tell_template: bool = True,
) -> Rendered:
    """Rendered as `StaffNotices._record_notice` renders it."""
    policy = POLICIES[locality]
    case = case_row(locality)
    notice = StaffNotice(
        reference=case.reference,
        kind=kind,
        step=step,
        due_on=dt.date(2027, 1, 13),
        sequence=sequence,
        dated=dt.date(2027, 1, 11),
        to_chair=to_chair,
    )
    context = {
        "case": CaseActivities._case_summary(case),
        "council": policy,
        "recipient": recipient,
        "notice": notice,
        "what": STEP_DESCRIPTIONS.get(step, step),
        "case_url": f"https://trigger.example/api/cases/{case.reference}",
    }
    if tell_template:
        context["to_the_chair"] = isinstance(recipient, AppealChair)
    return RENDERER.render(f"emails/{kind.value}.j2", context)


@pytest.mark.parametrize("sequence", [1, 3])
def test_consent_needed_tells_the_spoc_how_to_record_it(sequence: int) -> None:
    policy = POLICIES["harborough"]
    rendered = staff_notice(
        StaffNoticeKind.APPEAL_CONSENT_NEEDED,
        "appeal_consent",
        policy.spoc,
        locality="harborough",
        to_chair=False,
        sequence=sequence,
    )
    assert_email_form(rendered, "harborough")
    assert_no_personal_data(rendered)
    text = " ".join(rendered.text.split())
    assert "POST /api/cases/CT-HAR-2026-0007/appeal/consent" in text
    assert "on hold" in text
    assert "we will remind you again" in text and "13 January 2027" in text
    assert "Open the case: https://trigger.example/api/cases/CT-HAR-2026-0007" in text
    if sequence > 1:
        assert rendered.subject.startswith("Still on hold: ")
        assert "This is chase 3." in text
    else:
        assert rendered.subject.startswith("Consent needed: ")
        assert "did not come with the request" in text


@pytest.mark.parametrize("tell_template", [True, False])
@pytest.mark.parametrize("kind", [StaffNoticeKind.REMINDER, StaffNoticeKind.ESCALATION])
@pytest.mark.parametrize("step", ["appeal_acknowledge", "appeal_decision"])
def test_notices_to_the_chair_point_to_their_link(
    step: str, kind: StaffNoticeKind, tell_template: bool
) -> None:
    chair = chair_of(POLICIES["blaby"])
    rendered = staff_notice(kind, step, chair, tell_template=tell_template)
    assert_no_personal_data(rendered)
    text = " ".join(rendered.text.split())
    assert f"Dear {chair.name}" in text
    assert "Open the case" not in text and "/api/cases/" not in text and "/api/cases/" not in rendered.html
    assert "use the link in the email that sent you the appeal papers" in text
    assert "ask the Community Trigger SPOC for a new one at community.trigger@blaby.council.example" in text
    assert "they are on your appeal page" in text
    letter_claimed = "update letter" in text or "the applicant will get a letter saying it is late" in text
    assert letter_claimed == (step == "appeal_decision")
    if kind == StaffNoticeKind.ESCALATION:
        assert "This email goes to you, as the person hearing the appeal" in text
        assert (
            "Please act now: " + ("acknowledge the appeal" if step == "appeal_acknowledge" else "record your")
            in text
        )
    else:
        assert "You are hearing the appeal on this case." in text
        assert "you, the SPOC and the community safety manager will be told" in text


@pytest.mark.parametrize("kind", [StaffNoticeKind.REMINDER, StaffNoticeKind.ESCALATION])
@pytest.mark.parametrize("step", ["appeal_acknowledge", "appeal_decision"])
def test_notices_to_the_spoc_about_the_chairs_steps(step: str, kind: StaffNoticeKind) -> None:
    policy = POLICIES["blaby"]
    rendered = staff_notice(kind, step, policy.manager if kind == StaffNoticeKind.ESCALATION else policy.spoc)
    assert_no_personal_data(rendered)
    text = " ".join(rendered.text.split())
    assert "Open the case: https://trigger.example/api/cases/CT-BLA-2026-0007" in text
    assert "your appeal page" not in text
    letter_claimed = "update letter" in text or "the applicant will get a letter saying it is late" in text
    assert letter_claimed == (step == "appeal_decision")
    if kind == StaffNoticeKind.ESCALATION:
        assert "This email goes to the person hearing the appeal, the Community Trigger SPOC" in text
        assert "ask the person hearing the appeal to" in text
    else:
        assert "The person hearing the appeal has been sent this reminder too." in text


def test_escalation_about_naming_the_chair_goes_to_staff_only() -> None:
    policy = POLICIES["blaby"]
    rendered = staff_notice(
        StaffNoticeKind.ESCALATION, "appeal_chair", policy.spoc, to_chair=False, sequence=2
    )
    text = " ".join(rendered.text.split())
    assert "This is escalation 2." in text
    assert "We have emailed Community Safety Team, Leicestershire County Council again" in text
    assert "The applicant does not get a letter about this delay." in text
    assert "update letter" not in text
    assert "name the person yourself on the case" in text
    assert "This email goes to the Community Trigger SPOC and the community safety manager" in text
