"""The pages reached from emailed links, in a real browser: headless Chromium (Playwright) against the app
served over HTTP, with the real workflows behind it. Each page is checked with axe-core (no serious or
critical violation), and its form is filled and sent with the keyboard alone: Tab to move, typing, the arrow
keys within a radio group, Space to select and Enter to send; no mouse click anywhere.

Emailed links carry the test settings' public address (http://testserver); the browser opens the same path
on the live server (tests/browser.py `path_of`). The fixtures are in conftest.py: `live_server` (the app over
HTTP, one per test process) and `chromium` (one browser per process; each test opens its own contexts).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import (
    assert_accessible,
    assert_no_horizontal_scrolling,
    choose_radio,
    new_page,
    path_of,
    tab_to,
)
from tests.support import CaseService, application
from tests.test_appeals import chair_asked_for, link_in, request_appeal, to_not_met

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLICE = "threshold:leicestershire-police"
POLICE_EMAIL = "asb.casereview@leicestershire-police.example"
COUNTY_TEAM = "communitysafety@leics.council.example"
MELTON_CHAIR = "csp.chair@melton.council.example"
RECORDS = "Two reports: 12 May (ref LP-1001) and 2 June (ref LP-1044)."


async def agency_link(service: CaseService, reference: str, recipient: str = POLICE_EMAIL) -> str:
    """The path of the reply link in the information request emailed to `recipient`."""
    for _ in range(100):
        for message in service.mail_about(reference):
            if str(message["To"]) == recipient:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                found = re.search(r"https?://\S+/agency/r/[A-Za-z0-9_-]{43}", body.get_content())
                assert found, f"the request email to {recipient} carries no link:\n{body.get_content()}"
                return path_of(found.group(0))
        await asyncio.sleep(0.1)
    raise AssertionError(f"no request email to {recipient} about {reference}")


async def open_reply_page(page: Page, service: CaseService) -> str:
    """A new case, and its police reply page opened from the link in the request email; the case reference."""
    reference = await service.open_case(application(today=await service.today()))
    await page.goto(await agency_link(service, reference))
    await expect(page).to_have_url(re.compile(r"/agency/reply$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("what your records show")
    return reference


def request_of(case: dict[str, Any], key: str) -> dict[str, Any]:
    return next(r for r in case["information_requests"] if r["request_key"] == key)


async def test_an_agency_answers_from_its_email_link_with_the_keyboard_alone(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    async with new_page(chromium, live_server) as page:
        reference = await open_reply_page(page, service)
        await assert_accessible(page)

        await tab_to(page, "#responder_name")
        await page.keyboard.type("Sam Officer")
        await tab_to(page, "#records_found")
        await page.keyboard.type(RECORDS)
        await choose_radio(page, "behaviour_continues", "yes")
        await choose_radio(page, "supports_threshold", "no")
        await tab_to(page, "form[action='/agency/reply'] button")
        await page.keyboard.press("Enter")

        await expect(page.get_by_role("heading", level=1)).to_have_text("Answer sent")
        await expect(page).to_have_url(re.compile(r"/agency/reply/confirmation$"))
        await assert_accessible(page)

    police = request_of(await service.case(reference), POLICE)
    assert police["state"] == "answered"
    response = police["response"]
    assert response["received_by"] == "email_link" and response["responder_name"] == "Sam Officer"
    assert response["records_found"] == RECORDS
    assert response["behaviour_continues"] is True and response["supports_threshold"] is False


async def test_the_reply_page_reflows_at_320_css_pixels_and_200_percent_zoom(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    # Browser zoom lays a page out in a viewport of the window's width divided by the zoom, with as many
    # more device pixels per CSS pixel: a 1280 x 720 window at 200% is a 640 x 360 CSS px viewport at a
    # device scale factor of 2, which is what is set here (not CSS `zoom`). 320 CSS px wide is WCAG 1.4.10's
    # reflow width (a 1280 px window at 400%).
    async with new_page(
        chromium, live_server, viewport={"width": 640, "height": 360}, device_scale_factor=2
    ) as page:
        await open_reply_page(page, service)
        await assert_no_horizontal_scrolling(page)
        await assert_accessible(page)

        await page.set_viewport_size({"width": 320, "height": 640})
        await assert_no_horizontal_scrolling(page)
        await assert_accessible(page)


async def test_the_county_team_names_a_chair_and_the_chair_acknowledges_with_the_keyboard(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    reference = await to_not_met(service)
    await request_appeal(service, reference)
    await chair_asked_for(service, reference)

    async with new_page(chromium, live_server) as contact:
        await contact.goto(path_of(link_in(service, reference, COUNTY_TEAM)))
        await expect(contact).to_have_url(re.compile(r"/appeal/name-chair$"))
        await assert_accessible(contact)
        await contact.set_viewport_size({"width": 320, "height": 640})
        await assert_no_horizontal_scrolling(contact)
        await contact.set_viewport_size({"width": 1280, "height": 720})
        await choose_radio(contact, "chair", "melton-csp-chair")
        await tab_to(contact, "form[action='/appeal/name-chair'] button")
        await contact.keyboard.press("Enter")
        await expect(contact.get_by_role("heading", level=1)).to_have_text("Chair named")
        await assert_accessible(contact)

    await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    async with new_page(chromium, live_server) as chair:
        await chair.goto(path_of(link_in(service, reference, MELTON_CHAIR)))
        await expect(chair).to_have_url(re.compile(r"/appeal/chair$"))
        await expect(chair.get_by_text("Alex Example").first).to_be_visible()
        await assert_accessible(chair)
        # The bundle's wide tables scroll in their own regions: the page itself reflows at 320 px.
        await chair.set_viewport_size({"width": 320, "height": 640})
        await assert_no_horizontal_scrolling(chair)
        await assert_accessible(chair)
        await chair.set_viewport_size({"width": 1280, "height": 720})
        await tab_to(chair, "#note")
        await chair.keyboard.type("Papers received.")
        await tab_to(chair, "form[action='/appeal/chair/acknowledge'] button")
        await chair.keyboard.press("Enter")
        await expect(chair.locator(".govuk-notification-banner--success")).to_be_visible()

    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "letter-4")))
    assert case["appeal"]["chair"] == "Chair, Melton Community Safety Partnership"
    assert any("(appeal chair)" in e["actor"] for e in case["appeal"]["chronology"])


async def test_a_victim_applies_in_the_browser_and_every_page_passes_axe_at_320_px(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    today = await service.today()
    async with new_page(chromium, live_server, viewport={"width": 320, "height": 640}) as page:

        async def check_and_continue() -> None:
            await assert_accessible(page)
            await assert_no_horizontal_scrolling(page)
            await page.locator("main .govuk-button").last.click()

        await page.goto("/apply")
        await page.check("input[name='council'][value='blaby']")
        await check_and_continue()
        await expect(page).to_have_url(re.compile(r"/apply/blaby$"))
        await check_and_continue()  # the start page: Start now
        await page.check("input[name='who'][value='myself']")
        await check_and_continue()
        await page.fill("input[name='name']", "Alex Example")
        await check_and_continue()
        await page.check("input[name='contact_preference'][value='email']")
        await page.fill("input[name='email']", "alex@example.test")
        await check_and_continue()
        for number in range(1, 4):
            happened = today - dt.timedelta(days=80 - 20 * number)
            reported = happened + dt.timedelta(days=1)
            for prefix, day in (("occurred_on", happened), ("reported_on", reported)):
                await page.fill(f"input[name='{prefix}-day']", str(day.day))
                await page.fill(f"input[name='{prefix}-month']", str(day.month))
                await page.fill(f"input[name='{prefix}-year']", str(day.year))
            await page.fill("textarea[name='description']", f"Loud music, incident {number}.")
            await page.check("input[name='reported_to'][value='police']")
            await page.fill("input[name='organisation']", "Leicestershire Police")
            await check_and_continue()
            await page.check(f"input[name='add_another'][value='{'no' if number == 3 else 'yes'}']")
            await check_and_continue()
        await page.check("input[name='hate_incident'][value='no']")
        await check_and_continue()
        await page.check("input[name='effective_action'][value='no']")
        await check_and_continue()
        await check_and_continue()  # nothing that makes them vulnerable: optional
        await expect(page).to_have_url(re.compile(r"/apply/check$"))
        await check_and_continue()  # check your answers
        await check_and_continue()  # how the answers compare with the threshold
        await page.check("input[name='consent_to_share'][value='yes']")
        await page.check("input[name='truthful'][value='yes']")
        await check_and_continue()
        await expect(page).to_have_url(re.compile(r"/apply/confirmation$"))
        await assert_accessible(page)
        await assert_no_horizontal_scrolling(page)
        reference = re.search(r"CT-BLA-\d{4}-\d{4}", await page.content())
    assert reference is not None
    case = await service.wait_for(reference.group(0), lambda c: bool(service.letters(c, "letter-1")))
    assert case["application"]["applicant"]["name"] == "Alex Example"
    assert len(case["application"]["incidents"]) == 3
