"""The staff workspace in a real browser (issue 11, section 3): headless Chromium (Playwright) against the app
served over HTTP, with the real case workflows on the time-skipping server, the SMTP sink and SQLite behind
it (conftest's `service`, `live_server` and `chromium`).

A SPOC signs in with the seeded development account (password, then the security code read from the mail
sink), finds a new application on the dashboard and runs it to the appeal window entirely through the pages:
the agencies answer through their emailed links and the SPOC reads the answers on the case page, records the
threshold decision, an agency's answer given by phone, the review meeting, the impact statement and the
panel's decision with an action plan of two actions ("Add another action", no JavaScript), then reads
Letter 3 as it was sent. Every staff form is filled and sent with the keyboard alone (Tab, typing, the
arrow keys, Space and Enter; the agencies' reply page, tested so in test_browser_pages, is filled directly).
Then: a decision that does not fit the case's stage, shown with why and changing nothing; another
locality's case, not found; a session left idle, and a user an admin deactivates on the users page, each
sent to sign in.

Each distinct staff page (and state of one: a form showing its errors, a row added) is checked where it
stands by `check_page`: axe-core with no serious or critical violation, and nothing to scroll sideways to,
at 320 CSS px wide and at 200% zoom (the same page resized to 640 x 360 CSS px, the layout of a 1280 x 720
window at 200%; `check_page` says why that is the same layout). The dashboard is opened once more with a
real device scale factor of 2 (`check_zoomed`). Staff whose sign-in is not what a test is about are signed in
as the sign-in page would leave them: a session row and its cookie.

The staff pages checked so, and where:
- here: signing in (the password, the security code), the dashboard and its search results, the case page
  (threshold check; appeal window), recording an agency's answer (one request, from the case page's link),
  the threshold decision, the review meeting, the impact statement and the panel's decision (each with its
  errors or an added row), a letter as sent, the review meeting refused at the wrong stage, another
  locality's case not found, signed out for being idle, the users page and a user's page;
- test_browser_staff_zoom.py: every other staff page, one case taken through the stages they need: a new
  security code, asking for a password reset, accepting an invitation, setting a new password, inviting a
  user, the session timeout warning, recording an application, the print queue, the failed mail page,
  sending an information request again, extending it, going ahead without it (a choice of requests), the
  withdrawal, an earlier appeal's outcome, the request for appeal, the case page in appeal (with its
  appeal and an undelivered email) and every appeal page (consent, naming the chair, withdrawing the
  appeal, the chair's link sent again or extended, acknowledgement, the grounds, the panel, the outcome);
- test_print_queue.py also checks the print queue with JavaScript off, at 320 CSS px.
Downloads (PDFs, attachments) are not pages, and the figures pages are public, not staff pages.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from api.staff.passwords import DEVELOPMENT_PASSWORD
from api.staff.sessions import COOKIE_PATH, SESSION_COOKIE, open_session
from db.models import Case, Letter, StaffLocality, StaffUser
from db.staff_models import StaffSession
from domain.calendar import LONDON
from domain.links import hash_token
from tests.browser import (
    TIMEOUT_MS,
    assert_accessible,
    assert_no_horizontal_scrolling,
    choose_radio,
    new_page,
    path_of,
    tab_to,
)
from tests.staff_accounts import latest_code
from tests.staff_support import submissions
from tests.support import CaseService, application
from tests.test_case_workflow import next_working_morning

pytestmark = pytest.mark.asyncio(loop_scope="session")

# WCAG 1.4.10 (reflow): 320 CSS px wide. Every page of these tests is opened in a viewport this size.
NARROW: ViewportSize = {"width": 320, "height": 640}
# Browser zoom at 200% (WCAG 1.4.4): a 1280 x 720 window lays pages out in 640 x 360 CSS px, two device
# pixels to each CSS px. ZOOMED_LAYOUT is that layout's viewport; ZOOMED the whole of it, device pixels too.
ZOOMED_LAYOUT: ViewportSize = {"width": 640, "height": 360}
ZOOMED = {"viewport": ZOOMED_LAYOUT, "device_scale_factor": 2}
SPOC_EMAIL = "dev.spoc.blaby@community-trigger.invalid"
POLICE = "asb.casereview@leicestershire-police.example"
ASB_TEAM = "asb@blaby.council.example"
AGENCY_LINK = re.compile(r"https?://\S+/agency/r/[A-Za-z0-9_-]{43}")
SAVE = ".govuk-button-group button.govuk-button"


# ---- helpers -------------------------------------------------------------------------------------


async def check_page(page: Page) -> None:
    """The page as it stands (no reload: a form showing its errors stays so) passes axe-core with no serious
    or critical violation and has nothing to scroll sideways to, at 320 CSS px wide and at 200% zoom.

    The page is open at 320 x 640 CSS px (NARROW): checked there, then resized to 640 x 360 (ZOOMED_LAYOUT),
    checked again, and resized back to 320 x 640, in the same browser context. Resizing is 200% zoom of a
    1280 x 720 window as far as layout goes: zoom divides the window's size in CSS px by the zoom factor
    (media queries, percentages and the viewport units all see 640 x 360) and multiplies the device
    pixels per CSS px (devicePixelRatio) by it, which changes only how densely the same layout is
    rasterised. Only resolution media queries and srcset images could tell the two apart, and the staff
    pages have neither; `check_zoomed` opens one page with a real device scale factor of 2 as well.
    """
    assert page.viewport_size == NARROW, f"{page.url} is open at {page.viewport_size}, not {NARROW}"
    await assert_accessible(page)
    await assert_no_horizontal_scrolling(page)
    await page.set_viewport_size(ZOOMED_LAYOUT)
    try:
        await assert_accessible(page)
        await assert_no_horizontal_scrolling(page)
    finally:
        await page.set_viewport_size(NARROW)


async def type_into(page: Page, selector: str, text: str) -> None:
    """Tab to the field and type `text` over whatever it holds."""
    await tab_to(page, selector)
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.type(text)


async def press_enter_on(page: Page, selector: str) -> None:
    """Tab to a button or link and press Enter, waiting for the page it leads to."""
    await tab_to(page, selector)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def type_date(page: Page, prefix: str, day: dt.date) -> None:
    for part, value in (("day", day.day), ("month", day.month), ("year", day.year)):
        await type_into(page, f"#{prefix}-{part}", str(value))


async def heading(page: Page, text: str | re.Pattern[str]) -> None:
    await expect(page.get_by_role("heading", level=1)).to_have_text(text)


def police_only_application(today: dt.date) -> dict[str, Any]:
    """Blaby's application whose three incidents were all reported to the police: two agencies are asked
    (the police and the council's ASB team), so the test answers two requests at each stage."""
    body = application(today=today)
    body["applicant"]["name"] = "Robin Staff"
    body["incidents"] = [
        {**incident, "reported_to": "police", "organisation": "Leicestershire Police"}
        for incident in body["incidents"]
    ]
    return body


def agency_links(service: CaseService, reference: str) -> dict[str, list[str]]:
    """The reply links emailed about the case, by recipient, oldest first (paths, for the live server)."""
    links: dict[str, list[str]] = {}
    for message in service.mail_about(reference):
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        for found in AGENCY_LINK.findall(body.get_content()):
            links.setdefault(str(message["To"]), []).append(path_of(found))
    return links


async def agency_answers(browser: Browser, live_server: str, link: str, name: str, records: str) -> None:
    """An agency answers from its emailed link (the reply page itself is checked in test_browser_pages)."""
    async with new_page(browser, live_server) as page:
        await page.goto(link)
        await expect(page).to_have_url(re.compile(r"/agency/reply$"))
        await page.fill("#responder_name", name)
        await page.fill("#records_found", records)
        await page.check("input[name='behaviour_continues'][value='yes']")
        await page.check("input[name='supports_threshold'][value='yes']")
        await page.locator("form[action='/agency/reply'] button").click()
        await heading(page, "Answer sent")


def add_staff(
    service: CaseService, now: dt.datetime, role: str, locality: str | None
) -> tuple[int, str, str]:
    """A new member of staff signed in as the sign-in page would leave them: (their id, name, the session
    cookie's token)."""
    name = f"Sam {role.title()} {uuid.uuid4().hex[:6]}"
    with service.sessions() as session:
        user = StaffUser(
            name=name,
            email=f"sam.{uuid.uuid4().hex[:10]}@{locality or 'admin'}.council.example",
            role=role,
            created_at=now,
            localities=[StaffLocality(locality=locality)] if locality else [],
        )
        session.add(user)
        session.flush()
        token = open_session(session, user, now)
        session.commit()
        return user.id, name, token


def staff_cookie(token: str, name: str = SESSION_COOKIE) -> dict[str, Any]:
    """A staff cookie as the staff pages set it on the live server (HttpOnly, SameSite=Lax, path /staff):
    the session's by default. Added to a context that holds one already, it takes that one's place."""
    return {
        "name": name,
        "value": token,
        "domain": "127.0.0.1",
        "path": COOKIE_PATH,
        "httpOnly": True,
        "sameSite": "Lax",
    }


@asynccontextmanager
async def signed_in_page(
    browser: Browser, live_server: str, token: str, **options: Any
) -> AsyncIterator[Page]:
    """A browser of its own holding the staff session cookie `token` (HttpOnly, path /staff)."""
    async with new_page(browser, live_server, **options) as page:
        await page.context.add_cookies([staff_cookie(token)])  # type: ignore[list-item]  # the same keys
        yield page


async def check_zoomed(browser: Browser, live_server: str, page: Page) -> None:
    """The page open in `page` at real 200% zoom: in a browser with the same cookies whose 640 x 360 CSS px
    are 1280 x 720 device pixels (device_scale_factor 2), it reflows and passes axe.

    `check_page` checks every page at 200% zoom's layout by resizing; this adds what resizing leaves out,
    the device pixels, on one page. The staff pages share one layout and one set of stylesheets, none with
    a resolution media query, and no image with a srcset: nothing of their layout depends on the device
    pixel ratio, so one page (the dashboard) stands for all. Kept, not repeated: each page opened so costs
    a browser context, a page load and a run of axe."""
    twin = await browser.new_context(base_url=live_server, **ZOOMED)
    twin.set_default_timeout(TIMEOUT_MS)
    try:
        await twin.add_cookies(await page.context.cookies())  # type: ignore[arg-type]  # the same keys
        view = await twin.new_page()
        await view.goto(page.url)
        assert view.url == page.url, f"{page.url} led elsewhere ({view.url}) at 200% zoom"
        assert await view.evaluate("window.devicePixelRatio") == 2
        await assert_accessible(view)
        await assert_no_horizontal_scrolling(view)
    finally:
        await twin.close()


def letter_row(service: CaseService, reference: str, code: str) -> tuple[int, str]:
    """The id and subject of the case's letter `code` (the case page links to it by its id)."""
    with service.sessions() as session:
        row = session.execute(
            select(Letter.id, Letter.subject)
            .join(Case, Case.id == Letter.case_id)
            .where(Case.reference == reference, Letter.code == code)
        ).one()
        return int(row.id), str(row.subject)


def case_rows(service: CaseService, reference: str) -> tuple[str, int, Any, int]:
    """What a refused decision must leave alone: the case's stage, its chronology's length, its meeting, and
    the review meetings submitted for it (a refused one is not kept)."""
    case = service.case_row(reference)
    return (
        case.stage,
        len(case.chronology),
        case.review_meeting,
        submissions(service, reference, "review_meeting"),
    )


# ---- a case from application to the appeal window --------------------------------------------------


async def test_a_spoc_signs_in_and_runs_a_new_application_to_the_appeal_window_through_the_pages(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(police_only_application(today))
    case_path = f"/staff/cases/{reference}"

    async with new_page(chromium, live_server, viewport=NARROW) as page:
        # ---- signing in: the password, then the code from the email
        await page.goto("/staff")
        await expect(page).to_have_url(re.compile(r"/staff/sign-in\?next=/staff$"))
        await heading(page, "Sign in")
        await check_page(page)
        await type_into(page, "#email", SPOC_EMAIL)
        await type_into(page, "#password", DEVELOPMENT_PASSWORD)
        await press_enter_on(page, "form[action='/staff/sign-in'] button[type='submit']")
        await expect(page).to_have_url(re.compile(r"/staff/sign-in/code$"))
        await heading(page, "Check your email")
        await check_page(page)
        await type_into(page, "#code", latest_code(service.mail, SPOC_EMAIL))
        await press_enter_on(page, "form[action='/staff/sign-in/code'] button.govuk-button")

        # ---- the dashboard: find the new application
        await expect(page).to_have_url(re.compile(r"/staff$"))
        await heading(page, "Cases")
        await check_page(page)
        await check_zoomed(chromium, live_server, page)
        await type_into(page, "#search", reference)
        await press_enter_on(page, "form[action='/staff'] button.govuk-button")
        await expect(page.locator("#results")).to_have_text(re.compile(r"1 case found"))
        row = page.locator("tbody tr", has=page.locator(f"a[href='{case_path}']"))
        await expect(row).to_contain_text("Robin Staff")
        await expect(row).to_contain_text("Threshold check")
        await check_page(page)
        await press_enter_on(page, f"a[href='{case_path}']")

        # ---- the case page
        await expect(page).to_have_url(re.compile(rf"{case_path}$"))
        await heading(page, f"Case {reference}")
        await expect(page.locator("#stage")).to_have_text("Threshold check")
        await check_page(page)

        # ---- the agencies answer through their emailed links, and the SPOC reads their answers
        links = agency_links(service, reference)
        assert set(links) == {POLICE, ASB_TEAM}, links
        await agency_answers(chromium, live_server, links[POLICE][0], "Sam Officer", "Two reports, LP-1001.")
        await agency_answers(chromium, live_server, links[ASB_TEAM][0], "Jo Warden", "One visit, ASB-77.")
        await page.reload()
        await expect(page.locator("#answers")).to_have_text("Agencies' answers")
        for text in (
            "Two reports, LP-1001.",
            "Sam Officer",
            "One visit, ASB-77.",
            "Jo Warden",
            "(email link)",
        ):
            await expect(page.locator("main")).to_contain_text(text)
        await expect(page.locator("tr[data-request^='threshold:']")).to_have_count(2)
        for request in await page.locator("tr[data-request^='threshold:']").all():
            await expect(request).to_contain_text("Answered")

        # ---- the threshold decision: sent empty first, then decided
        await press_enter_on(page, f"#actions a[href='{case_path}/threshold-decision']")
        await heading(page, "Record the threshold decision")
        await check_page(page)
        await press_enter_on(page, SAVE)
        await expect(page.locator(".govuk-error-summary")).to_contain_text("Select the threshold decision")
        await expect(page.locator(".govuk-error-summary")).to_contain_text(
            "Enter the reasons for the decision"
        )
        await check_page(page)
        assert service.case_row(reference).threshold_decision is None
        await choose_radio(page, "outcome", "met")
        await type_into(
            page, "#reasons", "Three incidents reported to the police in time; both agencies agree."
        )
        await press_enter_on(page, SAVE)
        await expect(page).to_have_url(re.compile(rf"{case_path}\?done=threshold-decision$"))
        await expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
            "The threshold decision has been recorded."
        )
        await expect(page.locator("#stage")).to_have_text("Case review")

        # ---- the review's requests: the police answer through their link, the ASB team by phone
        await service.wait_for(
            reference,
            lambda c: (
                sum(r["purpose"] == "review" for r in c["information_requests"]) == 2
                and all(r["delivery"] != "pending" for r in c["information_requests"])
            ),
        )
        links = agency_links(service, reference)
        assert len(links[POLICE]) == 2 and len(links[ASB_TEAM]) == 2, links
        await agency_answers(
            chromium, live_server, links[POLICE][1], "Sam Officer", "A third report, LP-1102."
        )
        await page.reload()
        asb_request = page.locator("tr[data-request='review:blaby-asb']")
        await expect(asb_request).to_contain_text("Waiting for an answer")
        await press_enter_on(page, "tr[data-request='review:blaby-asb'] a[href*='/agency-response?']")
        await heading(page, "Record an agency's answer")
        await expect(page.locator("main")).to_contain_text("Blaby District Council ASB Team")
        await check_page(page)
        await choose_radio(page, "received_by", "phone")
        await type_into(page, "#responder_name", "Jo Warden")
        await type_into(page, "#records_found", "Two more visits since the threshold decision.")
        await choose_radio(page, "behaviour_continues", "yes")
        await choose_radio(page, "supports_threshold", "yes")
        await press_enter_on(page, SAVE)
        await expect(page).to_have_url(re.compile(rf"{case_path}\?done=agency-response$"))
        await expect(page.locator("main")).to_contain_text("Two more visits since the threshold decision.")

        # ---- the review meeting, held an hour ago, with two attendees ("Add another attendee")
        held = (await service.now()).astimezone(LONDON) - dt.timedelta(hours=1)
        await press_enter_on(page, f"#actions a[href='{case_path}/review-meeting']")
        await heading(page, "Arrange the review meeting")
        await check_page(page)
        await type_date(page, "meeting", held.date())
        await type_into(page, "#meeting-time", f"{held:%H:%M}")
        await type_into(page, "#location", "Council Offices, Narborough")
        await type_into(page, "#attendee-1-name", "Sam Officer")
        await type_into(page, "#attendee-1-organisation", "Leicestershire Police")
        await press_enter_on(page, "#add-attendee")
        await expect(page.locator("#attendee-2-name")).to_be_visible()
        await expect(page.locator("#attendee-1-name")).to_have_value("Sam Officer")
        await check_page(page)
        await type_into(page, "#attendee-2-name", "Jo Warden")
        await type_into(page, "#attendee-2-organisation", "Blaby District Council")
        await press_enter_on(page, SAVE)
        await expect(page).to_have_url(re.compile(rf"{case_path}\?done=review-meeting$"))

        # ---- the impact statement: in person
        await press_enter_on(page, f"#actions a[href='{case_path}/impact-statement']")
        await heading(page, "How the applicant will give their impact statement")
        await check_page(page)
        await choose_radio(page, "method", "in_person")
        await press_enter_on(page, SAVE)
        await expect(page).to_have_url(re.compile(rf"{case_path}\?done=impact-statement$"))

        # ---- the panel's decision with an action plan of two actions
        await press_enter_on(page, f"#actions a[href='{case_path}/panel-decision']")
        await heading(page, "Record the panel's decision")
        await check_page(page)
        await type_into(page, "#findings", "The agencies did not share the noise reports.")
        await type_into(page, "#plan-1-action", "Install noise monitoring equipment.")
        await type_into(page, "#plan-1-agency", "Blaby District Council ASB Team")
        await type_date(page, "plan-1-due", today + dt.timedelta(days=30))
        await press_enter_on(page, "#add-plan")
        await expect(page.locator("#plan-2-action")).to_be_visible()
        await expect(page.locator("#plan-1-action")).to_have_value("Install noise monitoring equipment.")
        await type_into(page, "#plan-2-action", "Review the tenancy and issue a warning.")
        await type_into(page, "#plan-2-agency", "Leicestershire Police")
        # Sent without the second action's date: said on the page, by the field, and nothing recorded.
        await press_enter_on(page, SAVE)
        await expect(page.locator(".govuk-error-summary a[href='#plan-2-due-day']")).to_have_text(
            "Enter the date action 2 is due by"
        )
        await expect(page.locator("#plan-2-due-error")).to_contain_text("Enter the date action 2 is due by")
        await expect(page.locator("#plan-2-action")).to_have_value("Review the tenancy and issue a warning.")
        await check_page(page)
        assert service.case_row(reference).panel_decision is None
        await type_date(page, "plan-2-due", today + dt.timedelta(days=60))
        await press_enter_on(page, SAVE)
        await expect(page).to_have_url(re.compile(rf"{case_path}\?done=panel-decision$"))
        await expect(page.locator("#stage")).to_have_text("Appeal window")
        plan = page.locator("table", has=page.locator("caption", has_text="The action plan"))
        await expect(plan.locator("tbody tr")).to_have_count(2)
        await expect(plan).to_contain_text("Install noise monitoring equipment.")
        await expect(plan).to_contain_text("Review the tenancy and issue a warning.")

        # ---- Letter 3, as it was sent
        case = await service.wait_for(
            reference, lambda c: bool(service.letters(c, "letter-3")) and bool(c["deadlines"]["appeal_by"])
        )
        assert case["stage"] == "appeal_window"
        letter_id, subject = letter_row(service, reference, "letter-3")
        await page.reload()
        await check_page(page)
        await press_enter_on(page, f"main a[href='{case_path}/letters/{letter_id}']")
        await heading(page, subject)
        await expect(page.locator("#letter-body")).to_contain_text("Install noise monitoring equipment.")
        await check_page(page)

    case = await service.case(reference)
    assert case["stage"] == "appeal_window"
    decisions = case["decisions"]
    assert decisions["threshold_decision"]["outcome"] == "met"
    assert [a["name"] for a in decisions["review_meeting"]["attendees"]] == ["Sam Officer", "Jo Warden"]
    assert decisions["impact_statement"]["method"] == "in_person"
    assert [r["action"] for r in decisions["panel_decision"]["recommendations"]] == [
        "Install noise monitoring equipment.",
        "Review the tenancy and issue a warning.",
    ]
    answered = {r["request_key"]: r for r in case["information_requests"]}
    assert answered["threshold:leicestershire-police"]["response"]["received_by"] == "email_link"
    assert answered["review:blaby-asb"]["response"]["received_by"] == "phone"
    actors = {entry["actor"] for entry in case["chronology"] if entry["event"].startswith("Panel decision")}
    assert any("Development SPOC" in actor for actor in actors), actors


# ---- refused: a decision that does not fit, another locality's case -----------------------------------


async def test_a_decision_that_does_not_fit_the_stage_says_why_and_another_localitys_case_is_not_found(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    reference = await service.open_case(application(today=await service.today()))
    case_path = f"/staff/cases/{reference}"
    now = await service.now()
    _, _, blaby = add_staff(service, now, "spoc", "blaby")
    _, _, derby = add_staff(service, now, "spoc", "derby")

    async with signed_in_page(chromium, live_server, blaby, viewport=NARROW) as page:
        await page.goto(case_path)
        await expect(page.locator("#stage")).to_have_text("Threshold check")
        # The case page offers only what fits: the review meeting is not among its actions yet.
        await expect(page.locator("#actions a[href$='/threshold-decision']")).to_have_count(1)
        await expect(page.locator("#actions a[href$='/review-meeting']")).to_have_count(0)
        before = case_rows(service, reference)
        assert before == ("threshold_check", before[1], None, 0)
        # A form kept open in a tab, or a bookmark: the review meeting, sent at the threshold check.
        await page.goto(f"{case_path}/review-meeting")
        held = (await service.now()).astimezone(LONDON)
        await type_date(page, "meeting", held.date())
        await type_into(page, "#meeting-time", "14:30")
        await type_into(page, "#location", "Council Offices, Narborough")
        await type_into(page, "#attendee-1-name", "Sam Officer")
        await type_into(page, "#attendee-1-organisation", "Leicestershire Police")
        await press_enter_on(page, SAVE)
        await expect(page).to_have_url(re.compile(rf"{case_path}/review-meeting$"))
        summary = page.locator(".govuk-error-summary")
        await expect(summary).to_contain_text("This has not been recorded")
        await expect(summary).to_contain_text(
            "The review meeting can only be recorded at the Case review stage; the case is at the Threshold"
            " check stage."
        )
        # What was typed is kept, to send once it fits.
        await expect(page.locator("#location")).to_have_value("Council Offices, Narborough")
        await expect(page).to_have_title(re.compile(r"^Error: "))
        await check_page(page)
        assert case_rows(service, reference) == before

    async with signed_in_page(chromium, live_server, derby, viewport=NARROW) as page:
        for path in (case_path, f"{case_path}/threshold-decision"):
            response = await page.goto(path)
            assert response is not None and response.status == 404, path
            await heading(page, "Page not found")
            await expect(page.locator("main")).not_to_contain_text("Alex Example")
        await check_page(page)
        # Searching for it on the dashboard finds nothing either.
        await page.goto("/staff")
        await type_into(page, "#search", reference)
        await press_enter_on(page, "form[action='/staff'] button.govuk-button")
        await expect(page.locator("#results")).to_have_text(re.compile(r"0 cases found"))
    assert case_rows(service, reference) == before
    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})


# ---- signed out: an idle session, a deactivated user ---------------------------------------------------


async def test_an_idle_session_and_a_deactivated_user_are_sent_to_sign_in(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    now = await service.now()
    _, _, idle = add_staff(service, now, "spoc", "blaby")
    user_id, name, leaving = add_staff(service, now, "spoc", "blaby")
    _, _, admin = add_staff(service, now, "admin", None)

    # 30 minutes without a page: the next page says why the session ended, and leads to sign in.
    async with signed_in_page(chromium, live_server, idle, viewport=NARROW) as page:
        await page.goto("/staff")
        await heading(page, "Cases")
        with service.sessions.begin() as session:
            row = session.scalar(select(StaffSession).where(StaffSession.token_hash == hash_token(idle)))
            assert row is not None and row.ended_at is None
            row.last_seen_at -= dt.timedelta(minutes=31)
        await page.goto("/staff/failed-mail")
        await expect(page).to_have_url(re.compile(r"/staff/signed-out\?reason=idle&next=/staff/failed-mail$"))
        await heading(page, "You have been signed out")
        await expect(page.locator("main")).to_contain_text("had not used the staff pages for 30 minutes")
        await check_page(page)
        await press_enter_on(page, "main a[href='/staff/sign-in?next=/staff/failed-mail']")
        await heading(page, "Sign in")
        # The ended session does not come back: the cookie is gone, and the dashboard asks to sign in.
        assert SESSION_COOKIE not in {cookie["name"] for cookie in await page.context.cookies()}
        await page.goto("/staff")
        await expect(page).to_have_url(re.compile(r"/staff/sign-in\?next=/staff$"))

    # An admin deactivates a user on the users page: that user's next page is the sign-in page.
    async with (
        signed_in_page(chromium, live_server, leaving, viewport=NARROW) as user_page,
        signed_in_page(chromium, live_server, admin, viewport=NARROW) as admin_page,
    ):
        await user_page.goto("/staff")
        await heading(user_page, "Cases")

        await admin_page.goto("/staff")
        await expect(admin_page).to_have_url(re.compile(r"/staff/users$"))
        await heading(admin_page, "Users")
        await check_page(admin_page)
        await press_enter_on(admin_page, f"main a[href='/staff/users/{user_id}']")
        await heading(admin_page, name)
        await check_page(admin_page)
        await press_enter_on(admin_page, f"form[action='/staff/users/{user_id}/deactivate'] button")
        await expect(admin_page.locator(".govuk-notification-banner--success")).to_contain_text(
            "The user has been deactivated and signed out everywhere."
        )

        await user_page.goto("/staff")
        await expect(user_page).to_have_url(re.compile(r"/staff/sign-in\?next=/staff$"))
        await heading(user_page, "Sign in")
    with service.sessions() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None and not user.active
        ended = session.scalars(select(StaffSession.ended_reason).where(StaffSession.user_id == user_id))
        assert list(ended) == ["deactivated"]
