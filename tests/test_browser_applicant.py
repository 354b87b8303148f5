"""The applicant's journey in a real browser (issue 12, section 3): headless Chromium (Playwright) against
the app served over HTTP, with the real workflows, the SMTP sink and SQLite behind it.

Applying, for each kind of applicant: the victim applies in tests/test_browser_pages.py (every apply page
with axe at 320 px); here someone applies for the victim with the keyboard alone, and a business applies
with JavaScript off, each adding incidents one by one ("add another") and changing an answer from check
your answers. The business sends its application twice at the same moment (a double click and a second
tab), then posts the form again later: one case starts.

Then the applicant follows one case from the link in Letter 1, as it arrived in the mail sink, to an appeal:
the case page, the impact statement, the appeal request after the panel's decision (recorded by the SPOC
through the JSON API), the withdraw confirmation, an expired session, a new link by email and a tampered
one; the forms sent with the keyboard alone (Tab, typing, the arrow keys, Space and Enter). Last, the 429
pages of the applicant, an appeal, an agency and applying.

Each distinct page is checked with axe-core (no serious or critical violation) and for reflow, all at 320
CSS px wide. Pages shown with JavaScript off are checked in a context with it on (axe needs it), with the
same cookies (`accessible_with_javascript`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import uuid

import pytest
from playwright.async_api import Browser, Locator, Page, Route, expect
from playwright.async_api import Error as PlaywrightError
from sqlalchemy import func, select, update

from api.deps import get_settings
from api.rate_limits import SlidingWindowLimiter
from db.models import ApplicantToken, Case
from domain.links import ApplicantTokenPurpose
from tests.browser import (
    TIMEOUT_MS,
    accessible_with_javascript,
    assert_accessible,
    assert_no_horizontal_scrolling,
    choose_radio,
    new_page,
    tab_to,
)
from tests.support import CaseService, application
from tests.test_applicant_pages import link_for, links_in
from tests.test_case_workflow import PANEL, decide, held_meeting, next_working_morning

pytestmark = pytest.mark.asyncio(loop_scope="session")

NARROW = {"width": 320, "height": 640}
BUTTON = "main button.govuk-button, main a.govuk-button"


# ---- helpers -------------------------------------------------------------------------------------


async def check_page(page: Page) -> None:
    """axe-core passes, and the page reflows in its viewport (320 CSS px in these tests)."""
    await assert_accessible(page)
    await assert_no_horizontal_scrolling(page)


async def type_into(page: Page, selector: str, text: str) -> None:
    """Tab to the field and type `text` over whatever it holds."""
    await tab_to(page, selector)
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.type(text)


async def tick(page: Page, name: str, value: str = "yes") -> None:
    """Tab to a checkbox and tick it with Space."""
    selector = f'input[type="checkbox"][name="{name}"][value="{value}"]'
    await tab_to(page, selector)
    await page.keyboard.press("Space")
    assert await page.locator(selector).is_checked()


async def press_enter_on(page: Page, selector: str = BUTTON) -> None:
    """Tab to a button or link and press Enter, waiting for the page it leads to."""
    await tab_to(page, selector)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


def date_parts(day: dt.date) -> dict[str, str]:
    return {"day": str(day.day), "month": str(day.month), "year": str(day.year)}


async def keyboard_incident(page: Page, happened: dt.date, what: str, organisation: str) -> None:
    """Fill in one incident page with the keyboard and save it."""
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Incident \d"))
    for part, value in date_parts(happened).items():
        await type_into(page, f"#occurred_on-{part}", value)
    await type_into(page, "#description", what)
    await choose_radio(page, "reported_to", "police")
    await type_into(page, "#organisation", organisation)
    for part, value in date_parts(happened + dt.timedelta(days=1)).items():
        await type_into(page, f"#reported_on-{part}", value)
    await press_enter_on(page)


async def fill_incident(page: Page, happened: dt.date, what: str, organisation: str) -> None:
    """Fill in one incident page (JavaScript off: no keyboard needed to prove anything here) and save it."""
    for prefix, day in (("occurred_on", happened), ("reported_on", happened + dt.timedelta(days=1))):
        for part, value in date_parts(day).items():
            await page.fill(f"#{prefix}-{part}", value)
    await page.fill("#description", what)
    await page.check("input[name='reported_to'][value='council']")
    await page.fill("#organisation", organisation)
    await page.locator(BUTTON).click()


def summary_value(page: Page, key: str) -> Locator:
    """The value cell of the check-your-answers row `key`."""
    row = page.locator(".govuk-summary-list__row", has=page.locator(".govuk-summary-list__key", has_text=key))
    return row.locator(".govuk-summary-list__value")


def case_count(service: CaseService) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def reference_on(content: str) -> str:
    found = re.search(r"CT-BLA-\d{4}-\d{4}", content)
    assert found, "no case reference on the confirmation page"
    return found.group(0)


# ---- applying --------------------------------------------------------------------------------------


async def test_someone_applies_for_the_victim_with_the_keyboard_alone_and_changes_an_answer(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    today = await service.today()
    async with new_page(chromium, live_server, viewport=NARROW) as page:
        await page.goto("/apply")
        await choose_radio(page, "council", "blaby")
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/apply/blaby$"))
        await press_enter_on(page)  # Start now
        await choose_radio(page, "who", "someone_else")
        await press_enter_on(page)

        await expect(page).to_have_url(re.compile(r"/apply/victim$"))
        await check_page(page)
        await type_into(page, "#victim_name", "Robin Victim")
        await type_into(page, "#relationship", "Daughter")
        await tick(page, "victim_consent")
        await press_enter_on(page)
        await expect(page.get_by_role("heading", level=1)).to_have_text("What is your name?")
        await type_into(page, "#name", "Sam Helper")
        await press_enter_on(page)
        await choose_radio(page, "contact_preference", "email")
        await type_into(page, "#email", "sam.helper@example.test")
        await press_enter_on(page)

        for number in (1, 2):
            happened = today - dt.timedelta(days=80 - 20 * number)
            await keyboard_incident(page, happened, f"Shouting in the street, time {number}.", "Leics Police")
            await expect(page.get_by_role("heading", level=1)).to_have_text(
                f"You have added {number} incident{'s' if number > 1 else ''}"
            )
            await choose_radio(page, "add_another", "no" if number == 2 else "yes")
            await press_enter_on(page)
        await choose_radio(page, "hate_incident", "no")
        await press_enter_on(page)
        await choose_radio(page, "effective_action", "no")
        await press_enter_on(page)
        await press_enter_on(page)  # nothing that makes the victim vulnerable: optional

        await expect(page).to_have_url(re.compile(r"/apply/check$"))
        await check_page(page)
        assert await summary_value(page, "Victim's name").inner_text() == "Robin Victim"
        incident_rows = page.locator(".govuk-summary-list__key", has_text=re.compile(r"^\s*Incident \d\s*$"))
        await expect(incident_rows).to_have_count(2)
        # Change the victim's name: the page comes back to check your answers, with the change.
        await press_enter_on(page, "a[href='/apply/victim?return=check']")
        await expect(page).to_have_url(re.compile(r"/apply/victim\?return=check$"))
        await expect(page.locator("#victim_name")).to_have_value("Robin Victim")
        await type_into(page, "#victim_name", "Robin Victim-Jones")
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/apply/check$"))
        await expect(summary_value(page, "Victim's name")).to_have_text("Robin Victim-Jones")

        await press_enter_on(page)  # Continue: how the answers compare with the threshold
        await expect(page).to_have_url(re.compile(r"/apply/threshold$"))
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/apply/declaration$"))
        await tick(page, "consent_to_share")
        await tick(page, "truthful")
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/apply/confirmation$"))
        reference = reference_on(await page.content())

    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    assert case["application"]["applicant"]["name"] == "Sam Helper"
    assert case["application"]["on_behalf_of"]["victim_name"] == "Robin Victim-Jones"
    assert case["application"]["on_behalf_of"]["relationship"] == "Daughter"
    assert [i["description"] for i in case["application"]["incidents"]] == [
        f"Shouting in the street, time {n}." for n in (1, 2)
    ]


class HeldTogether:
    """A route that holds the browser's POSTs until `count` have been sent, then sends them on to the server
    at the same moment: a double submit whose requests reach the server together, which is where one could
    slip past the other. `answers` are the server's statuses, in the order they came."""

    def __init__(self, count: int = 2) -> None:
        self.count = count
        self.held: list[Route] = []
        self.first = asyncio.Event()
        self.all = asyncio.Event()
        self.answered = asyncio.Event()
        self.answers: list[int] = []

    async def __call__(self, route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        self.held.append(route)
        self.first.set()
        if len(self.held) >= self.count:
            self.all.set()
        await asyncio.wait_for(self.all.wait(), TIMEOUT_MS / 1000)
        answer = await route.fetch(max_redirects=0)
        self.answers.append(answer.status)
        if len(self.answers) >= self.count:
            self.answered.set()
        with contextlib.suppress(
            PlaywrightError
        ):  # a request the browser has given up since (a tab moved on)
            await route.fulfill(response=answer)


async def test_a_business_applies_without_javascript_and_sending_twice_makes_one_case(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    today = await service.today()
    async with new_page(chromium, live_server, viewport=NARROW, java_script_enabled=False) as page:
        await page.goto("/apply/blaby")
        await page.locator(BUTTON).click()  # Start now
        await page.check("input[name='who'][value='organisation']")
        await page.locator(BUTTON).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "What is the name of the business or group?"
        )
        await accessible_with_javascript(page)
        await page.fill("#name", "Narborough Traders")
        await page.locator(BUTTON).click()
        await page.check("input[name='contact_preference'][value='email']")
        await page.fill("#email", "traders@example.test")
        await page.locator(BUTTON).click()
        for number in (1, 2):
            happened = today - dt.timedelta(days=70 - 20 * number)
            await fill_incident(page, happened, f"Windows broken, time {number}.", "Blaby District Council")
            await page.check(f"input[name='add_another'][value='{'no' if number == 2 else 'yes'}']")
            await page.locator(BUTTON).click()
        await page.check("input[name='hate_incident'][value='no']")
        await page.locator(BUTTON).click()
        await page.check("input[name='effective_action'][value='no']")
        await page.locator(BUTTON).click()
        await page.locator(BUTTON).click()
        await expect(page).to_have_url(re.compile(r"/apply/check$"))
        await accessible_with_javascript(page)
        await expect(summary_value(page, "Name of the business or group")).to_have_text("Narborough Traders")

        # Change incident 2 from check your answers: its page, then straight back, the change shown.
        await page.locator("a[href='/apply/incident/2?return=check']").click()
        await expect(page.locator("#description")).to_have_value("Windows broken, time 2.")
        await page.fill("#description", "Windows broken and a fire started in the bin store.")
        await page.locator(BUTTON).click()
        await expect(page).to_have_url(re.compile(r"/apply/check$"))
        await expect(summary_value(page, "Incident 2")).to_contain_text("a fire started in the bin store")

        await page.locator(BUTTON).click()  # the threshold page
        await page.locator(BUTTON).click()
        await expect(page).to_have_url(re.compile(r"/apply/declaration$"))
        await page.check("input[name='consent_to_share'][value='yes']")
        await page.check("input[name='truthful'][value='yes']")
        form: dict[str, str | float | bool] = {
            "csrf_token": await page.locator("input[name='csrf_token']").input_value(),
            "consent_to_share": "yes",
            "truthful": "yes",
        }
        before = case_count(service)
        # The same draft sent twice at the same moment: a double click on its button (Chromium itself sends
        # one request for it) and the same page open in a second tab, both held until both are sent, then
        # sent on to the server together.
        other_tab = await page.context.new_page()
        await other_tab.goto("/apply/declaration")
        await other_tab.check("input[name='consent_to_share'][value='yes']")
        await other_tab.check("input[name='truthful'][value='yes']")
        held = HeldTogether()
        await page.context.route("**/apply/declaration", held)
        send = "form[action='/apply/declaration'] button"
        await page.locator(send).dblclick(no_wait_after=True)
        await asyncio.wait_for(held.first.wait(), TIMEOUT_MS / 1000)
        await other_tab.locator(send).click(no_wait_after=True)
        await asyncio.wait_for(held.answered.wait(), TIMEOUT_MS / 1000)
        await page.context.unroute("**/apply/declaration")
        assert held.answers[:2] == [303, 303]  # both sent on, both answered with the confirmation
        for tab in (page, other_tab):
            await expect(tab).to_have_url(re.compile(r"/apply/confirmation$"))
        reference = reference_on(await page.content())
        assert reference_on(await other_tab.content()) == reference

        # The form posted again later (a resubmitted page, a retry): the same confirmation, no new case.
        again = await page.request.post("/apply/declaration", form=form)
        assert again.ok and again.url.endswith("/apply/confirmation")
        assert reference_on(await again.text()) == reference
        await page.go_back()  # and the declaration page again leads to the confirmation
        await expect(page).to_have_url(re.compile(r"/apply/confirmation$"))

    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-1")))
    assert case_count(service) == before + 1
    applicant = case["application"]["applicant"]
    assert applicant["name"] == "Narborough Traders" and applicant["is_business"] is True
    assert case["application"]["on_behalf_of"] is None
    assert len(case["application"]["incidents"]) == 2
    assert "fire started" in case["application"]["incidents"][1]["description"]
    assert len(service.letters(case, "letter-1")) == 1


# ---- following the case -----------------------------------------------------------------------------


async def test_the_applicant_follows_the_case_from_letter_1_to_an_appeal(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    reference = await service.open_case(application(today=await next_working_morning(service)))
    first_link = await link_for(service, reference)  # the link in Letter 1, as it arrived
    async with new_page(chromium, live_server, viewport=NARROW) as page:
        await page.goto(f"/case/r/{first_link}")
        await expect(page).to_have_url(re.compile(r"/case$"))  # the token has left the address bar
        await expect(page.get_by_text(reference).first).to_be_visible()
        await expect(page.get_by_text("checking whether your case meets the threshold")).to_be_visible()
        await check_page(page)

        # The SPOC decides the threshold is met: the impact statement can be chosen.
        await decide(service, reference, "met")
        await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-2a")))
        await page.reload()
        await press_enter_on(page, "a[href='/case/impact-statement']")
        await expect(page).to_have_url(re.compile(r"/case/impact-statement$"))
        await check_page(page)
        await choose_radio(page, "method", "written")
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/case\?done=impact$"))
        await expect(
            page.get_by_text("Your choice about the impact statement has been recorded")
        ).to_be_visible()
        case = await service.wait_for(reference, lambda c: bool(c["decisions"]["impact_statement"]))
        assert case["decisions"]["impact_statement"]["method"] == "written"

        # More information for the SPOC, typed with the keyboard; the staff's view of the case has it.
        await press_enter_on(page, "a[href='/case/add-information']")
        await expect(page).to_have_url(re.compile(r"/case/add-information$"))
        await check_page(page)
        await type_into(page, "#information", "The noise started again last night at 2am.")
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/case\?done=information$"))
        added = (await service.case(reference))["applicant_information"]
        assert [item["text"] for item in added] == ["The noise started again last night at 2am."]

        # The meeting, the agencies' reports and the panel's decision, through the API: Letter 3.
        meeting = await service.act(reference, "review-meeting", await held_meeting(service))
        assert meeting.status_code == 200, meeting.text
        await service.answer_requests(reference, "review")
        panel = await service.act(reference, "panel-decision", PANEL)
        assert panel.status_code == 200, panel.text
        await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-3")))

        response = await page.goto("/case")  # with the action plan on it
        assert response is not None and response.status == 200, (
            f"/case answered {response and response.status}"
        )
        await expect(page.get_by_text("Install noise monitoring equipment.")).to_be_visible()
        await press_enter_on(page, "a[href='/case/appeal']")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Ask for an appeal")
        await check_page(page)
        await tick(page, "grounds", "1")
        await type_into(page, "#explanation", "The panel did not look at the noise diary I kept.")
        await press_enter_on(page)
        await expect(page).to_have_url(re.compile(r"/case\?done=appeal$"))
        await check_page(page)
        # The appeal's record and the case's stage are written apart: the withdraw page follows the stage.
        case = await service.wait_for(reference, lambda c: bool(c["appeal"]) and c["stage"] == "appeal")
        assert [ground["number"] for ground in case["appeal"]["grounds"]] == [1]
        assert any(e["actor"] == "Alex Example (applicant)" for e in case["chronology"])

        # Withdrawing asks first; going back changes nothing.
        await page.goto("/case")
        await press_enter_on(page, "a[href='/case/withdraw']")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw your appeal")
        await check_page(page)
        await press_enter_on(page)
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Are you sure you want to withdraw your appeal?"
        )
        await check_page(page)
        await press_enter_on(page, "main a[href='/case']")
        await expect(page).to_have_url(re.compile(r"/case$"))

        # The session expires: the page says to open the link again, and offers a new one by email.
        case_id, expired = service.case_row(reference).id, await service.now() - dt.timedelta(minutes=1)
        with service.sessions.begin() as session:
            session.execute(
                update(ApplicantToken)
                .where(ApplicantToken.purpose == ApplicantTokenPurpose.APPLICANT_SESSION.value)
                .where(ApplicantToken.case_id == case_id)
                .values(expires_at=expired)
            )
        response = await page.reload()
        assert response is not None and response.status == 401
        await expect(page.get_by_role("heading", level=1)).to_have_text("Open your case page from your link")
        await expect(page.locator("a[href^='/case/letters/']")).to_have_count(0)  # nothing of the case
        await check_page(page)
        links_before = len(links_in(service, reference))
        await type_into(page, "#reference", reference)
        await type_into(page, "#email", "alex@example.test")
        await press_enter_on(page)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        await check_page(page)
        new_link = await link_for(service, reference, after=links_before)

    async with new_page(chromium, live_server, viewport=NARROW) as stranger:
        # A tampered link: the one refusal page, with the form to ask for a new link.
        tampered = new_link[:-1] + ("A" if new_link[-1] != "A" else "B")
        response = await stranger.goto(f"/case/r/{tampered}")
        assert response is not None and response.status == 404
        await expect(stranger.get_by_role("heading", level=1)).to_have_text("This link cannot be used")
        await expect(stranger.get_by_role("button", name="Send me a new link")).to_be_visible()
        await check_page(stranger)

    async with new_page(chromium, live_server, viewport=NARROW) as page:
        await page.goto(f"/case/r/{new_link}")
        await expect(page).to_have_url(re.compile(r"/case$"))
        await expect(page.get_by_text(reference).first).to_be_visible()
        await expect(page.locator("a[href='/case/withdraw']")).to_have_text("Withdraw your appeal")
    assert service.case_row(reference).stage == "appeal"


# ---- too many requests ------------------------------------------------------------------------------


async def test_each_429_page_passes_axe_at_320_px(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    limited = service.settings.model_copy(
        update={
            "rate_limits_enabled": True,
            "rate_limit_agency_link_per_hour": 1,
            "rate_limit_apply_per_hour": 1,
        }
    )
    service.app.dependency_overrides[get_settings] = lambda: limited
    service.app.state.rate_limiter = SlidingWindowLimiter()
    try:
        async with new_page(chromium, live_server, viewport=NARROW) as page:
            await page.goto(f"/case/r/{uuid.uuid4().hex}")  # the one try of the hour at opening links
            for path, service_name in (
                ("/case/r/", "Community Trigger"),
                ("/appeal/r/", "Community Trigger appeal"),
                ("/agency/r/", "Community Trigger"),
            ):
                response = await page.goto(f"{path}{uuid.uuid4().hex}")
                assert response is not None and response.status == 429
                assert int(await response.header_value("retry-after") or 0) > 0
                await expect(page).to_have_title(f"You have tried too many times – {service_name}")
                await check_page(page)

            # Applying: the hour's one application went through the API (the limit counts both), so
            # sending the form gets the page. The first question's form is pointed at the declaration, as a
            # draft's declaration would post.
            await page.request.post("/api/cases", data={})
            await page.goto("/apply/blaby")
            await page.locator(BUTTON).click()
            await page.locator("main form").evaluate("form => form.action = '/apply/declaration'")
            async with page.expect_response("**/apply/declaration") as sent:
                await page.locator(BUTTON).click()
            assert (await sent.value).status == 429
            await expect(page).to_have_title(
                "You have tried to send too many times – Apply for a Community Trigger"
            )
            await check_page(page)
    finally:
        service.app.dependency_overrides[get_settings] = lambda: service.settings
        service.app.state.rate_limiter = SlidingWindowLimiter()
