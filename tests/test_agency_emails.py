"""Emails about agencies' information requests: the request with its secret link, the reminders to the
agency, and the notes to the SPOC (answer overdue, information complete, new link asked for, email not
delivered). Each is rendered in both forms with the context the worker gives it.

The last tests render every letter and every email and check that no subject names the applicant.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from markupsafe import escape

from activities.notices import STEP_DESCRIPTIONS
from activities.rendering import TEMPLATES, Rendered, Renderer
from core.config import PROJECT_ROOT
from core.localities import load_policies
from domain.agencies import agencies_to_ask
from domain.application import Application
from domain.policy import LocalityPolicy
from tests.test_letters import LETTER_CASES, ON_BEHALF, application, case_row, render_letter, worker_context
from workflows.models import LetterCode, StaffNotice, StaffNoticeKind

POLICY: LocalityPolicy = load_policies(PROJECT_ROOT / "localities")["blaby"]
RENDERER = Renderer()

REFERENCE = "CT-BLA-2026-0007"
CASE_URL = f"https://trigger.example/api/cases/{REFERENCE}"
LINK_URL = "https://trigger.example/agency/r/Xy3_q-9AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
REQUESTED_ON = dt.date(2026, 11, 23)
DUE_ON = dt.date(2026, 11, 30)
EXPIRES_ON = dt.date(2026, 12, 21)
AGENCY = POLICY.agencies[0]  # Leicestershire Police
SPOC_EMAIL = "community.trigger@blaby.council.example"
TAG = re.compile(r"</?[a-zA-Z][^>]*>")
ENTITY = re.compile(r"&(#\d+|[a-z]+);")

# The applicant's (and the victim's) details from tests/test_letters.py's application.
APPLICANT_EMAIL = "siobhan.oneill@example.org"
PERSONAL = (
    "Siobhán",
    "Neill",
    "Margaret",
    "Station Road",
    "Narborough",
    "LE19 2HT",
    "siobhan",
    "07700 900123",
)
# In a body, the council's own address mentions Narborough; everything else must not appear.
PERSONAL_IN_BODY = tuple(part for part in PERSONAL if part != "Narborough")
# What the applicant wrote about the incidents, which only the request email may carry.
INCIDENT_WORDS = ("Loud music", "LP-2026-44120", "Eggs thrown", "Rubbish dumped")


def base_context(app: Application | None = None, **columns: Any) -> dict[str, Any]:
    """What every template may use, as the worker builds it: case, council, case_url and the rest.

    The applicant's details are in it on purpose, so that a template that used them would show them.
    """
    case = case_row(
        app or application(on_behalf_of=ON_BEHALF),
        **{"threshold_decision_by": dt.date(2026, 12, 7), **columns},
    )
    return worker_context(case, POLICY)


def link() -> dict[str, Any]:
    return {"url": LINK_URL, "expires_on": EXPIRES_ON}


def request_summary(purpose: str = "threshold", **changes: Any) -> dict[str, Any]:
    """As `CaseActivities._request_summary` gives a request."""
    return {
        "key": f"{purpose}:{AGENCY.key}",
        "purpose": purpose,
        "agency_name": AGENCY.name,
        "agency_email": str(AGENCY.email),
        "requested_on": REQUESTED_ON,
        "due_on": DUE_ON,
        "state": "requested",
        "delivery": "sent",
        **changes,
    }


def render(name: str, context: dict[str, Any]) -> Rendered:
    return RENDERER.render(f"emails/{name}.j2", context)


# ---- Contexts, one builder per email template ---------------------------------------------------


def information_request_context(
    purpose: str = "threshold", *, resent: bool = False, app: Application | None = None
) -> dict[str, Any]:
    """As `_queue_request_email` builds it: the agency's incidents chosen by `agencies_to_ask`."""
    app = app or application(on_behalf_of=ON_BEHALF)
    indexes = next(
        indexes
        for agency, _name, indexes in agencies_to_ask(app, POLICY)
        if agency is not None and agency.key == AGENCY.key
    )
    return {
        **base_context(app),
        "agency": AGENCY,
        "purpose": purpose,
        "request": {"key": f"{purpose}:{AGENCY.key}", "requested_on": REQUESTED_ON, "due_on": DUE_ON},
        "incidents": [app.incidents[i] for i in indexes],
        "link": link(),
        "resent": resent,
        "generation": 1 if resent else 0,
    }


def agency_reminder_context(kind: str = "reminder", purpose: str = "threshold") -> dict[str, Any]:
    return {
        **base_context(),
        "agency": {"name": AGENCY.name, "email": str(AGENCY.email)},
        "request": request_summary(purpose),
        "chase": {"kind": kind},
        "link": link(),
    }


def agency_request_closed_context() -> dict[str, Any]:
    return {
        **base_context(),
        "agency": {"name": AGENCY.name, "email": str(AGENCY.email)},
        "request": request_summary("threshold"),
    }


def agency_overdue_context(delivery: str = "pending", **changes: Any) -> dict[str, Any]:
    return {
        **base_context(),
        "recipient": POLICY.spoc,
        "request": request_summary(delivery=delivery, **changes),
    }


def notice(kind: StaffNoticeKind, step: str, due_on: dt.date = DUE_ON, sequence: int = 1) -> StaffNotice:
    return StaffNotice(
        reference=REFERENCE,
        kind=kind,
        step=step,
        due_on=due_on,
        sequence=sequence,
        dated=dt.date(2026, 12, 1),
    )


def staff_context(staff_notice: StaffNotice, recipient: Any = None, **columns: Any) -> dict[str, Any]:
    """As `_record_notice` builds it (before the kind's own extra values)."""
    return {
        **base_context(**columns),
        "recipient": recipient or POLICY.spoc,
        "notice": staff_notice,
        "what": STEP_DESCRIPTIONS.get(staff_notice.step, staff_notice.step),
    }


ANSWERED = {
    "key": f"threshold:{AGENCY.key}",
    "agency_name": AGENCY.name,
    "state": "answered",
    "answered_on": dt.date(2026, 11, 27),
    "waived_reason": None,
}
WAIVED = {
    "key": "threshold:east-midlands-homes",
    "agency_name": "East Midlands Homes",
    "state": "waived",
    "answered_on": None,
    "waived_reason": "No answer after two phone calls.\nThe police records are enough.",
}


def information_complete_context(step: str = "threshold", requests: Any = None) -> dict[str, Any]:
    if requests is None:
        requests = [
            {**ANSWERED, "key": f"{step}:{AGENCY.key}"},
            {**WAIVED, "key": f"{step}:east-midlands-homes"},
        ]
    columns = {"stage": "review", "outcome_by": dt.date(2027, 1, 6)} if step == "review" else {}
    return {
        **staff_context(notice(StaffNoticeKind.INFORMATION_COMPLETE, step), **columns),
        "requests": requests,
    }


def new_link_context(**changes: Any) -> dict[str, Any]:
    request = request_summary(**changes)
    return {
        **staff_context(notice(StaffNoticeKind.NEW_LINK_REQUESTED, request["key"])),
        "request": request,
    }


def mail_failed_context(
    purpose: str = "letter-1", recipient: str = APPLICANT_EMAIL, **changes: Any
) -> dict[str, Any]:
    return {
        **base_context(),
        "recipient": POLICY.spoc,
        "failed": {
            "purpose": purpose,
            "recipient": recipient,
            "subject": f"Community Trigger {REFERENCE}: we have received your application",
            "error": f"the mail server refused the address {recipient}: SMTP 550",
            "created_at": dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC),
            **changes,
        },
    }


# Every email template, with a realistic context (a new template needs one here: see the test below).
EMAIL_CONTEXTS: dict[str, Callable[[], dict[str, Any]]] = {
    "information-request": information_request_context,
    "agency-reminder": agency_reminder_context,
    "agency-overdue": agency_overdue_context,
    "agency-request-closed": agency_request_closed_context,
    "information-complete": information_complete_context,
    "new-link-requested": new_link_context,
    "mail-failed": mail_failed_context,
    "reminder": lambda: staff_context(notice(StaffNoticeKind.REMINDER, "threshold_decision")),
    "escalation": lambda: staff_context(
        notice(StaffNoticeKind.ESCALATION, "threshold_decision", sequence=2), POLICY.manager
    ),
    "letter-copy": lambda: {
        **staff_context(notice(StaffNoticeKind.REMINDER, "appeal_decision")),
        "letter": {"code": "letter-4", "sent_on": dt.date(2027, 1, 11), "channel": "email"},
    },
    # The applicant added information from their case page (api.applicant.information): never what.
    "applicant-information": lambda: {**base_context(), "recipient": POLICY.spoc, "with_document": True},
}
# The appeal's emails and letters are rendered, for every route, in tests/test_appeal_letters.py.
APPEAL_EMAILS = {"appeal-bundle", "appeal-chair-request", "appeal-lessons", "appeal-consent-needed"}
# To the applicant (who may read their own name): rendered in tests/test_applicant_pages.py too.
APPLICANT_EMAILS = {"applicant-link"}


def assert_well_formed(rendered: Rendered) -> None:
    assert "\n" not in rendered.subject
    assert REFERENCE in rendered.subject
    text = rendered.text
    assert text.startswith("Blaby District Council\n")
    assert not TAG.search(text), TAG.search(text)
    assert not ENTITY.search(text), ENTITY.search(text)
    assert "\n\n\n" not in text
    html = rendered.html
    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert html.rstrip().endswith("</html>")
    for external in ("<img", "<script", "src=", "url("):
        assert external not in html


def assert_in_both(rendered: Rendered, *phrases: str) -> None:
    """Each phrase is in the text, and in the HTML as written or escaped (values are escaped, words in
    the template are not)."""
    for phrase in phrases:
        assert phrase in rendered.text, phrase
        assert phrase in rendered.html or str(escape(phrase)) in rendered.html, phrase


def assert_no_personal_data(rendered: Rendered) -> None:
    for part in (rendered.subject, rendered.text, rendered.html):
        for personal in PERSONAL_IN_BODY + INCIDENT_WORDS:
            assert personal not in part, personal


def assert_staff_sign_off(rendered: Rendered) -> None:
    assert "Dear Community Trigger SPOC, Community Safety Team" in rendered.text
    assert "sent automatically by the Community Trigger service" in rendered.text
    assert "does not include the applicant's details" in rendered.text
    assert f"Open the case: {CASE_URL}" in rendered.text
    assert f'<a href="{CASE_URL}"' in rendered.html


# ---- The information request -----------------------------------------------------------------------


def test_information_request_offers_the_link_near_the_top() -> None:
    rendered = render("information-request", information_request_context())
    assert_well_formed(rendered)
    assert rendered.subject == (
        f"Community Trigger {REFERENCE}: information request (threshold check) due 30 November 2026"
    )
    text = rendered.text
    assert text.index("Answer online\n-------------") < text.index("The case\n--------")
    assert f"Answer this request online:\n{LINK_URL}\n" in text
    assert "opens a secure page for this request only" in text
    assert "You do not need an account." in text
    assert "The link works until 21 December 2026." in text
    assert "Please do not forward this email outside Leicestershire Police" in text
    # Replying by email is still there, and so is everything the request carried before.
    assert f"reply to this email: your reply will come to us at {SPOC_EMAIL}" in text
    assert f"quote our reference {REFERENCE} and the request key threshold:leicestershire-police" in text
    assert "Applicant: Siobhán O'Neill" in text
    assert "Loud music and shouting from number 14 until 3am." in text
    assert "Please reply by 30 November 2026." in text
    assert "replaces" not in text and "no longer work" not in text

    html = rendered.html
    # A real link, with words saying what it does, styled as a button; the address is given too.
    assert f'<a href="{LINK_URL}" style="display:inline-block;' in html
    assert ">Answer this request online</a>" in html
    assert f">{LINK_URL}</a>" in html
    assert_in_both(rendered, "The link works until 21 December 2026.", "You do not need an account.")


def test_resent_information_request_says_it_replaces_the_earlier_one() -> None:
    rendered = render("information-request", information_request_context("review", resent=True))
    assert_well_formed(rendered)
    assert rendered.subject.startswith(f"Community Trigger {REFERENCE}: information request (case review)")
    assert "replaces our earlier email" in rendered.subject
    text = rendered.text
    notice_at = text.index("This email replaces our earlier request for information about this case.")
    assert notice_at < text.index("We are the Community Trigger single point of contact")
    assert "Links in earlier emails about it no longer work" in text
    assert_in_both(
        rendered,
        "This email replaces our earlier request for information about this case.",
        "no longer work: please use the link in this email.",
        LINK_URL,
    )
    assert "border-left:10px solid #b1b4b6" in rendered.html


def test_information_request_escapes_the_agency_and_applicant_in_html() -> None:
    app = application(on_behalf_of=ON_BEHALF)
    app.incidents[0].description = "They wrote <script>alert('hi')</script> & worse."
    context = information_request_context(app=app)
    context["agency"] = AGENCY.model_copy(update={"name": "Police & <Partners>"})
    rendered = render("information-request", context)
    assert "<script>" not in rendered.html and "<Partners>" not in rendered.html
    assert "&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt; &amp; worse." in rendered.html
    assert "do not forward this email outside Police &amp; &lt;Partners&gt;" in rendered.html
    assert "do not forward this email outside Police & <Partners>" in rendered.text


# ---- Reminders to the agency ----------------------------------------------------------------------


def test_agency_reminder_before_the_due_date() -> None:
    rendered = render("agency-reminder", agency_reminder_context("reminder"))
    assert_well_formed(rendered)
    assert rendered.subject == (
        f"Reminder: Community Trigger {REFERENCE} information request due 30 November 2026"
    )
    assert "Dear Leicestershire Police" in rendered.text
    assert "This is a friendly reminder." in rendered.text
    assert "Your answer is due by 30 November 2026." in rendered.text
    assert "due today" not in rendered.text
    assert_in_both(
        rendered,
        LINK_URL,
        "On 23 November 2026 we asked Leicestershire Police",
        "for the threshold check",
        "The link works until 21 December 2026.",
        "You do not need an account.",
        "The details of the request are on that page",
        "do not forward this email outside Leicestershire Police",
        "request key threshold:leicestershire-police",
    )
    assert f'<a href="{LINK_URL}" style="display:inline-block;' in rendered.html
    assert "Thank you\n\nCommunity Safety Team\nBlaby District Council\n" in rendered.text


def test_agency_reminder_on_the_due_date_asks_for_an_answer_today() -> None:
    rendered = render("agency-reminder", agency_reminder_context("due", purpose="review"))
    assert_well_formed(rendered)
    assert rendered.subject.startswith(f"Due today: Community Trigger {REFERENCE} information request")
    assert "30 November 2026" in rendered.subject
    assert_in_both(
        rendered,
        "Your answer is due today, 30 November 2026",
        "Please answer today.",
        "please tell us when you can",
        "We can give you more time.",
        "for the case review",
        LINK_URL,
    )
    assert "friendly reminder" not in rendered.text


@pytest.mark.parametrize("kind", ["reminder", "due"])
def test_agency_reminder_carries_no_personal_data_or_staff_link(kind: str) -> None:
    rendered = render("agency-reminder", agency_reminder_context(kind))
    assert_no_personal_data(rendered)
    assert "/api/cases/" not in rendered.text and "/api/cases/" not in rendered.html


# ---- The SPOC's note on the due date ----------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["pending", "sent"])
def test_agency_overdue_tells_the_spoc_what_they_can_do(delivery: str) -> None:
    rendered = render("agency-overdue", agency_overdue_context(delivery))
    assert_well_formed(rendered)
    assert rendered.subject == (
        f"Agency answer due today: Community Trigger {REFERENCE} (Leicestershire Police)"
    )
    assert_staff_sign_off(rendered)
    assert_no_personal_data(rendered)
    assert_in_both(
        rendered,
        "Leicestershire Police has not answered our information request for the threshold check yet.",
        "Its answer is due today, 30 November 2026.",
        "We have sent the agency a second reminder today, to asb.casereview@leicestershire-police.example",
        # What the SPOC can do on the case.
        "record the agency's answer, if it has given it to you by phone or email",
        "send the request again with a new link, to the same address or to another one at the agency",
        "links sent earlier will stop working",
        "give the agency more time by setting a later due date",
        "go ahead without this answer, giving your reasons",
        "The threshold decision waits until every information request for the threshold check has been "
        "answered or you have decided to go ahead without it.",
    )
    assert "could not be delivered" not in rendered.text


def test_agency_overdue_when_the_agency_address_fails() -> None:
    rendered = render("agency-overdue", agency_overdue_context("failed", purpose="review", key="review:x"))
    assert_well_formed(rendered)
    assert_in_both(
        rendered,
        "We have not sent the agency a second reminder",
        "emails to asb.casereview@leicestershire-police.example could not be delivered",
        "send the request again",
        "for the case review",
    )
    assert "The review panel's decision waits until every information request" in rendered.text
    assert "The review panel&#39;s decision waits until every information request" in rendered.html
    assert "Emails to the agency: not delivered" in rendered.text
    assert "second reminder today" not in rendered.text


def test_agency_overdue_without_an_address() -> None:
    rendered = render("agency-overdue", agency_overdue_context("pending", agency_email=None))
    assert "because we have no email address for it" in rendered.text
    assert "None" not in rendered.text


def test_agency_overdue_escapes_the_agency_name() -> None:
    rendered = render("agency-overdue", agency_overdue_context(agency_name="O'Hare & <Sons> Homes"))
    assert rendered.subject.endswith("(O'Hare & <Sons> Homes)")
    assert "<Sons>" not in rendered.html
    assert "<title>Agency answer due today: Community Trigger" in rendered.html
    assert "O&#39;Hare &amp; &lt;Sons&gt; Homes has not answered" in rendered.html


# ---- Information complete ------------------------------------------------------------------------------


def test_information_complete_lists_the_requests_for_the_threshold_check() -> None:
    rendered = render("information-complete", information_complete_context("threshold"))
    assert_well_formed(rendered)
    assert rendered.subject == f"Information complete: Community Trigger {REFERENCE} (threshold check)"
    assert_staff_sign_off(rendered)
    assert_no_personal_data(rendered)
    text = rendered.text
    assert "Every information request for the threshold check has now been answered" in text
    assert "Agency: Leicestershire Police\nResult: Answered on 27 November 2026\n" in text
    assert (
        "Agency: East Midlands Homes\nResult: Going ahead without it: No answer after two phone calls.\n"
        "  The police records are enough.\n" in text
    )
    assert "record the threshold decision" in text
    assert "It is due by 7 December 2026." in text
    html = rendered.html
    assert '<th scope="col"' in html
    assert ">Leicestershire Police</td><td" in html
    assert ">Answered on 27 November 2026</td>" in html
    assert ">East Midlands Homes</td>" in html


def test_information_complete_for_the_case_review() -> None:
    rendered = render("information-complete", information_complete_context("review"))
    assert rendered.subject == f"Information complete: Community Trigger {REFERENCE} (case review)"
    assert_in_both(
        rendered,
        "Every information request for the case review has now been answered",
        "hold the review meeting if it has not taken place yet",
        "record the review panel",
        "Letter 3",
        "It is due by 6 January 2027.",
    )
    assert "threshold decision" not in rendered.text


def test_information_complete_escapes_the_waiver_reasons() -> None:
    waived = {**WAIVED, "waived_reason": "Not needed <b>at all</b> & closed."}
    rendered = render("information-complete", information_complete_context("threshold", [ANSWERED, waived]))
    assert "<b>at all" not in rendered.html
    assert "Not needed &lt;b&gt;at all&lt;/b&gt; &amp; closed." in rendered.html
    assert "Not needed <b>at all</b> & closed." in rendered.text


def test_information_complete_when_an_answer_has_no_date() -> None:
    answered = {**ANSWERED, "answered_on": None}
    waived = {**WAIVED, "waived_reason": None}
    rendered = render("information-complete", information_complete_context("threshold", [answered, waived]))
    assert "Result: Answered\n" in rendered.text
    assert "Result: Going ahead without it\n" in rendered.text


# ---- A new link asked for ---------------------------------------------------------------------------


def test_new_link_requested_asks_the_spoc_to_check_and_resend() -> None:
    rendered = render("new-link-requested", new_link_context())
    assert_well_formed(rendered)
    assert rendered.subject == f"New link asked for: Community Trigger {REFERENCE}"
    assert_staff_sign_off(rendered)
    assert_no_personal_data(rendered)
    assert_in_both(
        rendered,
        "the information request to Leicestershire Police",
        "it had expired, or a newer email had replaced it",
        "We have not sent a new link.",
        "not from an email address we have checked",
        "Check that the request is genuine",
        "send the request again from the case",
        "links sent earlier stop working",
        "asb.casereview@leicestershire-police.example",
        "30 November 2026",
    )
    assert "already answered" not in rendered.text


def test_new_link_requested_after_an_answer_says_so() -> None:
    rendered = render("new-link-requested", new_link_context(state="answered"))
    assert "The agency has already answered this request" in rendered.text
    assert "Request status: answered" in rendered.text


# ---- An email not delivered ------------------------------------------------------------------------


def test_mail_failed_for_a_letter_hides_the_applicants_address() -> None:
    rendered = render("mail-failed", mail_failed_context("letter-1"))
    assert_well_formed(rendered)
    assert rendered.subject == f"Email not delivered: Community Trigger {REFERENCE}"
    assert_staff_sign_off(rendered)
    assert_no_personal_data(rendered)
    assert_in_both(
        rendered,
        "could not be delivered",
        "we will not try to send it again",
        "the applicant (their email address is on the case)",
        f"Community Trigger {REFERENCE}: we have received your application",
        "SMTP 550",
        "23 November 2026",
        "contact them another way",
        "send the letter by post",
    )
    assert "What went wrong: the mail server refused the address [the applicant's address]: SMTP 550" in (
        rendered.text
    )


@pytest.mark.parametrize("purpose", ["information-request", "agency-reminder"])
def test_mail_failed_for_an_agency_email_says_to_resend(purpose: str) -> None:
    address = "old.mailbox@leicestershire-police.example"
    rendered = render("mail-failed", mail_failed_context(purpose, address))
    assert_well_formed(rendered)
    assert_no_personal_data(rendered)
    assert_in_both(
        rendered,
        address,
        "information request to an agency",
        "send the request again from the case, to that address",
        "links sent earlier will stop working",
    )
    assert f"Sent to: {address}" in rendered.text
    assert "by post" not in rendered.text


def test_mail_failed_for_a_staff_email() -> None:
    rendered = render(
        "mail-failed", mail_failed_context("escalation", "community.safety.manager@blaby.example")
    )
    assert "Sent to: community.safety.manager@blaby.example" in rendered.text
    assert "This was a message to staff about the case." in rendered.text


def test_mail_failed_escapes_the_error_in_html() -> None:
    context = mail_failed_context("information-request", "x@agency.example", error="550 <b>no</b> & 'gone'")
    rendered = render("mail-failed", context)
    assert "<b>no</b>" not in rendered.html
    assert "550 &lt;b&gt;no&lt;/b&gt; &amp; &#39;gone&#39;" in rendered.html
    assert "What went wrong: 550 <b>no</b> & 'gone'" in rendered.text


# ---- Every letter and email ----------------------------------------------------------------------------


def test_every_email_template_has_a_context_here() -> None:
    assert {path.stem for path in (TEMPLATES / "emails").glob("*.j2")} == (
        set(EMAIL_CONTEXTS)
        | APPEAL_EMAILS
        | APPLICANT_EMAILS
        | {"yearly-figures"}  # tests/test_figures.py
        # Sent to staff signing in, invited or resetting a password: tests/test_staff_sign_in.py and
        # tests/test_staff_users.py read them from the mail sink.
        | {"staff-security-code", "staff-invitation", "staff-password-reset"}
    )


def test_applicant_link_email_carries_the_link_and_names_no_one_in_its_subject() -> None:
    link = "https://trigger.example/case/r/" + "A" * 43
    rendered = render(
        "applicant-link",
        {
            "case": {"reference": REFERENCE},
            "council": POLICY,
            "recipient": {"name": "Alex {{7*7}}"},
            "link": link,
        },
    )
    assert_well_formed(rendered)
    assert rendered.subject == f"Community Trigger {REFERENCE}: your link to your case page"
    assert link in rendered.text and link in rendered.html
    assert "Dear Alex {{7*7}}" in rendered.text


@pytest.mark.parametrize("name", sorted(EMAIL_CONTEXTS))
def test_email_subject_names_no_one(name: str) -> None:
    rendered = render(name, EMAIL_CONTEXTS[name]())
    assert_well_formed(rendered)
    for personal in PERSONAL:
        assert personal not in rendered.subject, (name, personal)


@pytest.mark.parametrize("name", sorted(set(EMAIL_CONTEXTS) - {"information-request"}))
def test_only_the_request_email_carries_the_applicants_details(name: str) -> None:
    assert_no_personal_data(render(name, EMAIL_CONTEXTS[name]()))


@pytest.mark.parametrize("stem", sorted(code.value for code in LETTER_CASES))
def test_letter_subject_names_no_one(stem: str) -> None:
    rendered = render_letter(LetterCode(stem), app=application(on_behalf_of=ON_BEHALF))
    assert REFERENCE in rendered.subject
    assert "\n" not in rendered.subject
    for personal in PERSONAL:
        assert personal not in rendered.subject, (stem, personal)


def test_request_closed_email_says_no_answer_is_needed_and_holds_no_personal_data() -> None:
    rendered = render("agency-request-closed", agency_request_closed_context())
    assert rendered.subject.startswith("No answer needed") and REFERENCE in rendered.subject
    assert "no longer need your answer" in " ".join(rendered.text.split())
    assert_no_personal_data(rendered)
