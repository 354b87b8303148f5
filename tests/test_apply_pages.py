"""The online application (`/apply`) end to end through the real app: a browser's cookie jar, the pages and
their forms, the draft kept server side, and the case started as `POST /api/cases` starts it (the real
Temporal time-skipping server and worker, SQLite, the SMTP sink). No time travel: each test applies today.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from api.apply.drafts import COOKIE, hash_session
from api.rate_limits import SlidingWindowLimiter
from core.config import get_settings
from db.models import ApplicationDraft, Case
from tests.support import CaseService

pytestmark = pytest.mark.asyncio(loop_scope="session")

INJECTION = "{{7*7}} <script>alert(1)</script>\r\nline two"


# ---- helpers ---------------------------------------------------------------------------------


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def date_fields(prefix: str, day: dt.date) -> dict[str, str]:
    return {f"{prefix}-day": str(day.day), f"{prefix}-month": str(day.month), f"{prefix}-year": str(day.year)}


def incident(today: dt.date, days_ago: int, **overrides: str) -> dict[str, str]:
    fields = {
        **date_fields("occurred_on", today - dt.timedelta(days=days_ago)),
        **date_fields("reported_on", today - dt.timedelta(days=days_ago - 1)),
        "description": f"Loud music and shouting, {days_ago} days ago.",
        "reported_to": "police",
        "organisation": "Leicestershire Police",
        "reference": f"LP-{days_ago}",
    }
    fields.update(overrides)
    return fields


class Applicant:
    """One person's browser going through the form, keeping every Location it was sent to."""

    def __init__(self, service: CaseService) -> None:
        self.service = service
        self.browser: httpx.AsyncClient = service.browser()
        self.csrf = ""
        self.locations: list[str] = []

    async def start(self, locality: str = "blaby") -> None:
        page = await self.browser.get(f"/apply/{locality}")
        assert page.status_code == 200
        self.csrf = csrf_of(page.text)
        response = await self.browser.post(f"/apply/{locality}", data={"csrf_token": self.csrf})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/apply/who"

    async def post(self, path: str, fields: dict[str, str], expect: int = 303) -> httpx.Response:
        response = await self.browser.post(path, data={"csrf_token": self.csrf, **fields})
        assert response.status_code == expect, response.text
        if "location" in response.headers:
            self.locations.append(response.headers["location"])
        return response

    async def answer(self, path: str, fields: dict[str, str], then: str) -> None:
        response = await self.post(path, fields)
        assert response.headers["location"] == then

    async def send(self) -> str:
        response = await self.post("/apply/declaration", {"consent_to_share": "yes", "truthful": "yes"})
        assert response.headers["location"] == "/apply/confirmation"
        page = await self.browser.get("/apply/confirmation")
        assert page.status_code == 200
        match = re.search(r"CT-[A-Z]{3}-\d{4}-\d{4}", page.text)
        assert match, page.text
        return match.group(0)

    def draft(self) -> ApplicationDraft:
        with self.service.sessions() as session:
            row = session.scalar(
                select(ApplicationDraft).where(
                    ApplicationDraft.draft_hash == hash_session(self.browser.cookies[COOKIE])
                )
            )
            assert row is not None
            return row


async def fill_incidents(person: Applicant, today: dt.date, count: int = 3) -> None:
    for number in range(1, count + 1):
        await person.answer(
            f"/apply/incident/{number}", incident(today, 80 - 20 * number), "/apply/incidents"
        )
        last = number == count
        await person.answer(
            "/apply/incidents",
            {"add_another": "no" if last else "yes"},
            "/apply/hate-incident" if last else f"/apply/incident/{number + 1}",
        )


async def fill_the_rest(person: Applicant, hate: str = "no") -> None:
    await person.answer(
        "/apply/hate-incident",
        {"hate_incident": hate, "hate_incident_details": ""},
        "/apply/effective-action",
    )
    await person.answer("/apply/effective-action", {"effective_action": "no"}, "/apply/support")
    await person.answer("/apply/support", {"support_needs": "I use a wheelchair."}, "/apply/check")


async def as_victim(person: Applicant, today: dt.date, name: str = "Alex Example") -> None:
    await person.start()
    await person.answer("/apply/who", {"who": "myself"}, "/apply/name")
    await person.answer("/apply/name", {"name": name}, "/apply/contact")
    await person.answer(
        "/apply/contact",
        {
            "contact_preference": "email",
            "email": "alex@example.test",
            "address": "",
            "postcode": "",
            "phone": "",
        },
        "/apply/incident/1",
    )
    await fill_incidents(person, today)
    await fill_the_rest(person)


def stored_application(service: CaseService, reference: str) -> dict[str, Any]:
    return service.case_row(reference).application


def cases_count(service: CaseService) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def no_personal_data_in(locations: list[str], *words: str) -> None:
    for location in locations:
        assert location.startswith("/apply")
        for word in words:
            assert word.lower() not in location.lower(), location


# ---- the start pages -------------------------------------------------------------------------


async def test_choose_council_lists_the_councils_and_leads_to_their_start_page(service: CaseService) -> None:
    browser = service.browser()
    page = await browser.get("/apply")
    assert page.status_code == 200
    assert "Blaby District Council" in page.text and "Tunbridge Wells Borough Council" in page.text
    chosen = await browser.get("/apply", params={"council": "blaby"})
    assert chosen.status_code == 303 and chosen.headers["location"] == "/apply/blaby"
    unknown = await browser.get("/apply", params={"council": "atlantis"})
    assert unknown.status_code == 422 and "There is a problem" in unknown.text
    assert (await browser.get("/apply/atlantis")).status_code == 404


async def test_start_page_gives_the_locality_threshold_deadlines_and_other_routes(
    service: CaseService,
) -> None:
    browser = service.browser()
    blaby = html.unescape((await browser.get("/apply/blaby")).text)
    assert "3 or more separate incidents of anti-social behaviour in the last 6 months" in blaby
    assert "you were the victim of a hate incident" in blaby
    assert "within 5 working days" in blaby and "Within 10 working days" in blaby
    assert "Ombudsman" in blaby and "999" in blaby and "Start now" in blaby
    assert "Leicestershire Police on 101" in blaby
    tunbridge = html.unescape((await browser.get("/apply/tunbridge-wells")).text)
    assert "a hate incident is not a separate route" in tunbridge
    assert "The incidents are the same behaviour, nuisance or problem happening again." in tunbridge
    assert "you were the victim of a hate incident" not in tunbridge
    assert "Kent Police on 101" in tunbridge
    cookie = (await browser.get("/apply/blaby")).headers.get("set-cookie", "")
    assert cookie == "" or "HttpOnly" in cookie  # set once, on the first visit
    first = await service.browser().get("/apply/blaby")
    set_cookie = first.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "Path=/apply" in set_cookie and "SameSite=lax" in set_cookie


# ---- whole journeys --------------------------------------------------------------------------


async def test_victim_applies_and_the_case_starts_with_letter_1(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await as_victim(person, today, name="Sam Victim")
    check = await person.browser.get("/apply/check")
    assert check.status_code == 200 and "Sam Victim" in check.text and "Incident 3" in check.text
    threshold = html.unescape((await person.browser.get("/apply/threshold")).text)
    assert "appear to meet the threshold" in threshold and "This is not a decision" in threshold
    assert (await person.browser.get("/apply/declaration")).status_code == 200
    reference = await person.send()

    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    assert case["locality"] == "blaby"
    application = stored_application(service, reference)
    assert application["applicant"]["name"] == "Sam Victim"
    assert application["applicant"]["is_business"] is False
    assert application["channel"] == "online"
    assert application["on_behalf_of"] is None
    assert len(application["incidents"]) == 3
    assert application["no_effective_action"] is True and application["consent_to_share"] is True
    assert application["support_needs"] == "I use a wheelchair."
    assert case["assessment"]["met"] is True
    no_personal_data_in(person.locations, "Sam", "Victim", "alex@", "Leicestershire", "wheelchair")
    # Sent: the draft keeps the reference, not the answers.
    assert person.draft().submitted_reference == reference
    assert person.draft().answers == {"contact_preference": "email"}


async def test_someone_for_the_victim_applies_with_consent_by_post(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await person.start()
    await person.answer("/apply/who", {"who": "someone_else"}, "/apply/victim")
    refused = await person.post(
        "/apply/victim", {"victim_name": "Pat Victim", "relationship": "Daughter"}, expect=422
    )
    assert "Confirm the victim has agreed to you applying on their behalf" in refused.text
    await person.answer(
        "/apply/victim",
        {"victim_name": "Pat Victim", "relationship": "Daughter", "victim_consent": "yes"},
        "/apply/name",
    )
    await person.answer("/apply/name", {"name": "Jo Helper"}, "/apply/contact")
    no_address = await person.post("/apply/contact", {"contact_preference": "post"}, expect=422)
    assert "Enter a postal address, or choose a different way to be contacted" in no_address.text
    await person.answer(
        "/apply/contact",
        {"contact_preference": "post", "address": "2 Mill Lane\nNarborough", "postcode": "le19 2aa"},
        "/apply/incident/1",
    )
    await fill_incidents(person, today, count=1)
    await fill_the_rest(person, hate="yes")
    threshold = html.unescape((await person.browser.get("/apply/threshold")).text)
    assert "hate incident route is met" in threshold
    reference = await person.send()
    confirmation = (await person.browser.get("/apply/confirmation")).text
    assert "post you a letter" in confirmation

    await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    application = stored_application(service, reference)
    assert application["on_behalf_of"] == {
        "victim_name": "Pat Victim",
        "relationship": "Daughter",
        "victim_consent": True,
    }
    assert application["contact_preference"] == "post"
    assert application["applicant"]["address"] == "2 Mill Lane\nNarborough"
    assert application["applicant"]["postcode"] == "LE19 2AA"
    assert application["hate_incident"] is True
    no_personal_data_in(person.locations, "Pat", "Jo", "Mill", "Daughter")


async def test_business_or_community_group_applies(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await person.start()
    await person.answer("/apply/who", {"who": "organisation"}, "/apply/name")
    name_page = (await person.browser.get("/apply/name")).text
    assert "What is the name of the business or group?" in name_page
    await person.answer("/apply/name", {"name": "Narborough Allotment Society"}, "/apply/contact")
    await person.answer(
        "/apply/contact",
        {"contact_preference": "email", "email": "secretary@allotments.example.test"},
        "/apply/incident/1",
    )
    await fill_incidents(person, today)
    await fill_the_rest(person)
    reference = await person.send()
    await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    application = stored_application(service, reference)
    assert application["applicant"]["is_business"] is True
    assert application["applicant"]["name"] == "Narborough Allotment Society"


# ---- add another, remove, change ----------------------------------------------------------------


async def test_add_another_incident_then_remove_one(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await person.start()
    await person.answer("/apply/who", {"who": "myself"}, "/apply/name")
    await person.answer("/apply/name", {"name": "Alex"}, "/apply/contact")
    await person.answer(
        "/apply/contact", {"contact_preference": "email", "email": "alex@example.test"}, "/apply/incident/1"
    )
    await person.answer(
        "/apply/incident/1", incident(today, 50, organisation="First Org"), "/apply/incidents"
    )
    await person.answer("/apply/incidents", {"add_another": "yes"}, "/apply/incident/2")
    await person.answer(
        "/apply/incident/2", incident(today, 30, organisation="Second Org"), "/apply/incidents"
    )
    listed = (await person.browser.get("/apply/incidents")).text
    assert "You have added 2 incidents" in listed and "First Org" in listed and "Second Org" in listed
    confirm = await person.browser.get("/apply/incident/1/remove")
    assert confirm.status_code == 200 and "remove incident 1" in confirm.text
    await person.answer("/apply/incident/1/remove", {}, "/apply/incidents")
    listed = (await person.browser.get("/apply/incidents")).text
    assert "You have added 1 incident" in listed and "First Org" not in listed and "Second Org" in listed
    # Back in the browser: the incident page shows what was saved.
    again = (await person.browser.get("/apply/incident/1")).text
    assert 'value="Second Org"' in again


async def test_change_from_check_your_answers_comes_back_to_it(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await as_victim(person, today)
    check = (await person.browser.get("/apply/check")).text
    assert 'href="/apply/name?return=check"' in check
    assert 'href="/apply/incident/2?return=check"' in check
    await person.answer("/apply/name?return=check", {"name": "Alexandra Example"}, "/apply/check")
    await person.answer(
        "/apply/incident/2?return=check", incident(today, 40, organisation="Changed Org"), "/apply/check"
    )
    # Changing who applies asks the new question first, then comes back.
    await person.answer("/apply/who?return=check", {"who": "someone_else"}, "/apply/victim")
    await person.answer(
        "/apply/victim?return=check",
        {"victim_name": "Pat", "relationship": "Son", "victim_consent": "yes"},
        "/apply/check",
    )
    check = (await person.browser.get("/apply/check")).text
    assert "Alexandra Example" in check and "Changed Org" in check and "Pat" in check
    reference = await person.send()
    application = stored_application(service, reference)
    assert application["applicant"]["name"] == "Alexandra Example"
    assert application["incidents"][1]["organisation"] == "Changed Org"
    assert application["on_behalf_of"]["victim_name"] == "Pat"


# ---- bad input, double submit, expiry, CSRF, injection ------------------------------------------


async def test_bad_input_shows_the_error_summary_and_writes_nothing(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await person.start()
    await person.answer("/apply/who", {"who": "myself"}, "/apply/name")
    before = person.draft().answers
    empty = await person.post("/apply/name", {"name": "   "}, expect=422)
    assert "There is a problem" in empty.text and 'href="#name"' in empty.text
    assert "Error: What is your name?" in empty.text
    bad_email = await person.post(
        "/apply/contact",
        {"contact_preference": "email", "email": "a@example.test, b@example.test"},
        expect=422,
    )
    assert "Enter one email address only" in bad_email.text
    future = today + dt.timedelta(days=3)
    bad_dates = await person.post(
        "/apply/incident/1",
        {
            **date_fields("occurred_on", future),
            "reported_on-day": "31",
            "reported_on-month": "2",
            "reported_on-year": "2026",
        },
        expect=422,
    )
    text = html.unescape(bad_dates.text)
    assert "Date the incident happened must be today or in the past" in text
    assert "Date reported must be a real date" in text
    assert "Enter what happened" in text and 'href="#occurred_on-day"' in text
    assert person.draft().answers == before
    nothing_chosen = await person.post("/apply/who", {"who": "everyone"}, expect=422)
    assert "Select who is applying" in nothing_chosen.text
    cases = cases_count(service)
    # The declaration without its boxes ticked sends nothing.
    await person.answer("/apply/name", {"name": "Alex"}, "/apply/contact")
    await person.answer(
        "/apply/contact", {"contact_preference": "email", "email": "alex@example.test"}, "/apply/incident/1"
    )
    await fill_incidents(person, today, count=1)
    await fill_the_rest(person)
    unticked = await person.post("/apply/declaration", {}, expect=422)
    assert "Confirm you agree to your information being shared" in unticked.text
    assert cases_count(service) == cases


async def test_double_submit_makes_one_case(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await as_victim(person, today)
    cases = cases_count(service)
    first = await person.send()
    second = await person.send()  # a refresh, or the button clicked again
    assert first == second
    assert cases_count(service) == cases + 1
    # Back to a question page after sending: the confirmation.
    back = await person.browser.get("/apply/check")
    assert back.status_code == 303 and back.headers["location"] == "/apply/confirmation"


async def test_expired_or_missing_draft_gets_a_page_to_start_again(service: CaseService) -> None:
    person = Applicant(service)
    await person.start()
    with service.sessions.begin() as session:
        session.execute(
            update(ApplicationDraft)
            .where(ApplicationDraft.draft_hash == hash_session(person.browser.cookies[COOKIE]))
            .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        )
    expired = await person.browser.get("/apply/who")
    assert expired.status_code == 410 and "Your answers are no longer available" in expired.text
    assert 'href="/apply"' in expired.text
    refused = await person.browser.post("/apply/who", data={"csrf_token": person.csrf, "who": "myself"})
    assert refused.status_code == 410
    stranger = await service.browser().get("/apply/check")
    assert stranger.status_code == 410


async def test_a_post_without_the_session_csrf_token_is_refused(service: CaseService) -> None:
    person = Applicant(service)
    await person.start()
    before = person.draft().answers
    for token in ("", "0" * 64):
        response = await person.browser.post("/apply/who", data={"csrf_token": token, "who": "myself"})
        assert response.status_code == 400 and "could not be saved" in response.text
    other = Applicant(service)
    await other.start()
    stolen = await person.browser.post("/apply/who", data={"csrf_token": other.csrf, "who": "myself"})
    assert stolen.status_code == 400
    assert person.draft().answers == before
    start = await service.browser().post("/apply/blaby", data={"csrf_token": person.csrf})
    assert start.status_code == 410  # no session cookie: no draft


async def test_sending_over_the_apply_rate_limit_gets_a_page(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await as_victim(person, today)
    settings = service.settings.model_copy(
        update={"rate_limits_enabled": True, "rate_limit_apply_per_hour": 1}
    )
    service.app.dependency_overrides[get_settings] = lambda: settings
    service.app.state.rate_limiter = SlidingWindowLimiter()
    try:
        await person.post("/apply/declaration", {}, expect=422)  # counted, though nothing was sent
        refused = await person.post(
            "/apply/declaration", {"consent_to_share": "yes", "truthful": "yes"}, expect=429
        )
        assert "You have tried to send too many times" in refused.text
        assert int(refused.headers["retry-after"]) > 0
        assert person.draft().submitted_reference is None
    finally:
        service.app.dependency_overrides[get_settings] = lambda: service.settings
        service.app.state.rate_limiter = SlidingWindowLimiter()


async def test_injection_strings_appear_literally(service: CaseService) -> None:
    today = await service.today()
    person = Applicant(service)
    await person.start()
    await person.answer("/apply/who", {"who": "someone_else"}, "/apply/victim")
    await person.answer(
        "/apply/victim",
        {"victim_name": INJECTION, "relationship": "{{7*7}}", "victim_consent": "yes"},
        "/apply/name",
    )
    await person.answer("/apply/name", {"name": INJECTION}, "/apply/contact")
    await person.answer(
        "/apply/contact",
        {"contact_preference": "post", "address": INJECTION, "postcode": ""},
        "/apply/incident/1",
    )
    await person.answer(
        "/apply/incident/1",
        incident(today, 30, description=INJECTION, organisation=INJECTION),
        "/apply/incidents",
    )
    await person.answer("/apply/incidents", {"add_another": "no"}, "/apply/hate-incident")
    await person.answer(
        "/apply/hate-incident",
        {"hate_incident": "yes", "hate_incident_details": INJECTION},
        "/apply/effective-action",
    )
    await person.answer("/apply/effective-action", {"effective_action": "no"}, "/apply/support")
    await person.answer("/apply/support", {"support_needs": INJECTION}, "/apply/check")
    pages = [
        (await person.browser.get(path)).text
        for path in ("/apply/check", "/apply/victim", "/apply/name", "/apply/incident/1", "/apply/support")
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "{{7*7}} &lt;script&gt;alert(1)&lt;/script&gt;" in page
    check = pages[0]
    assert not re.search(r"\b49\b", check)  # never evaluated as a template
    assert "line two" in check
    # An invalid page sent back shows what was typed, escaped, too.
    back = await person.post("/apply/name", {"name": INJECTION + "x" * 300}, expect=422)
    assert "&lt;script&gt;" in back.text and "<script>alert" not in back.text
    reference = await person.send()
    assert (
        stored_application(service, reference)["applicant"]["name"]
        == "{{7*7}} <script>alert(1)</script>\nline two"
    )
