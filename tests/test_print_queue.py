"""The staff print queue (api/routes/staff_print_queue.py): an applicant who asked for post gets Letter 1
queued with its PDF; a SPOC of the locality finds it, downloads it (alone, or with every letter waiting as
one PDF that starts each letter on a new sheet) and marks it posted on a date, which is checked, recorded on
the letter, in the chronology and in the audit log. Other localities' staff and roles without the duty do
not see it. Real worker, real database, real staff sessions, and the page in a real browser.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from urllib.parse import urlparse

import httpx
from playwright.async_api import Browser
from pypdf import PdfReader
from sqlalchemy import select

from activities.letter_pdf import combined_pdf
from activities.rendering import long_date
from api.staff.sessions import COOKIE_PATH, SESSION_COOKIE
from db.models import AuditEntry, Case, ChronologyEntry, Letter
from tests import browser as real_browser
from tests.staff_support import hidden, staff_browser
from tests.support import CaseService, application
from tests.test_case_workflow import next_working_morning
from tests.test_letter_pdfs import page_texts, rendered
from workflows.models import LetterCode


async def posted_case(service: CaseService) -> tuple[str, Letter]:
    """A case whose applicant asked for post, with its Letter 1 queued for printing."""
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today, contact_preference="post"))
    return reference, letter_of(service, reference)


def letter_of(service: CaseService, reference: str, code: str = "letter-1") -> Letter:
    with service.sessions() as session:
        letter = session.scalar(
            select(Letter)
            .join(Case, Case.id == Letter.case_id)
            .where(Case.reference == reference, Letter.code == code)
        )
        assert letter is not None
        assert letter.pdf is not None  # loaded (deferred) while the session is open
        return letter


def date_fields(day: dt.date) -> dict[str, str]:
    return {"posted-day": str(day.day), "posted-month": str(day.month), "posted-year": str(day.year)}


def waiting_ids(page: str) -> set[int]:
    return {int(found) for found in re.findall(r'name="letter" type="checkbox" value="(\d+)"', page)}


async def mark(browser: httpx.AsyncClient, csrf: str, ids: list[int], day: dt.date) -> httpx.Response:
    data: dict[str, str | list[str]] = {"csrf": csrf, "letter": [str(i) for i in ids], **date_fields(day)}
    return await browser.post("/staff/print-queue", data=data)


def unchanged(service: CaseService, reference: str) -> None:
    letter = letter_of(service, reference)
    assert (letter.posted_on, letter.posted_by, letter.status) == (None, None, "queued_for_printing")


async def test_a_posted_letter_is_printed_and_marked_posted(service: CaseService) -> None:
    reference, letter = await posted_case(service)
    assert (letter.channel, letter.status) == ("post", "queued_for_printing")
    assert not [m for m in service.mail_about(reference) if "received your application" in str(m["Subject"])]
    today = await service.today()

    browser = await staff_browser(service)
    page = await browser.get("/staff/print-queue")
    assert page.status_code == 200, page.text
    assert "<title>Print queue – Community Trigger staff</title>" in page.text
    assert letter.id in waiting_ids(page.text)
    row = re.search(rf'id="letter-{letter.id}".*?</tr>', page.text, re.S)
    assert row and " checked" in row.group(0)
    assert reference in row.group(0) and "Letter 1 (acknowledgement)" in row.group(0)
    assert long_date(letter.sent_on) in row.group(0)
    # The date defaults to today.
    for part, value in date_fields(today).items():
        field = re.search(rf'<input[^>]*name="{part}"[^>]*>', page.text)
        assert field and f'value="{value}"' in field.group(0), part

    # This letter alone: the PDF kept with the case.
    alone = await browser.get(f"/staff/cases/{reference}/letters/{letter.id}/pdf")
    assert alone.status_code == 200
    assert alone.headers["content-type"] == "application/pdf"
    assert alone.headers["content-disposition"] == f'attachment; filename="{reference}-letter-1.pdf"'
    assert alone.headers["cache-control"] == "no-store"
    assert alone.content == letter.pdf

    # Every letter the page listed, as one PDF: this letter's pages among them, each letter on new sheets.
    upto = re.search(r'href="/staff/print-queue/all\.pdf\?upto=(\d+)"', page.text)
    assert upto and int(upto.group(1)) >= letter.id
    everything = await browser.get(f"/staff/print-queue/all.pdf?upto={upto.group(1)}")
    assert everything.status_code == 200
    assert everything.headers["content-type"] == "application/pdf"
    pages = page_texts(everything.content)
    assert len(pages) % 2 == 0
    own = page_texts(letter.pdf or b"")
    start = pages.index(own[0])
    assert pages[start : start + len(own)] == own
    assert all(f"Our reference: {reference}" in text for text in own)

    csrf = hidden(page.text, "csrf")
    # Refused, and nothing recorded: a date in the future, one before the letter's date, no letter chosen,
    # no date, a form from another session.
    future = await mark(browser, csrf, [letter.id], today + dt.timedelta(days=1))
    assert future.status_code == 400
    assert "The date the letters were posted must be today or in the past" in future.text
    assert "<title>Error: Print queue" in future.text
    early = await mark(browser, csrf, [letter.id], letter.sent_on - dt.timedelta(days=1))
    assert early.status_code == 400
    dated = long_date(letter.sent_on)
    assert (
        f"Letter 1 of case {reference} is dated {dated}: the date it was posted cannot be before that"
        in html.unescape(early.text)
    )
    none_chosen = await mark(browser, csrf, [], today)
    assert none_chosen.status_code == 400 and "Select the letters you have posted" in none_chosen.text
    no_date = await browser.post("/staff/print-queue", data={"csrf": csrf, "letter": str(letter.id)})
    assert no_date.status_code == 400 and "Enter the date the letters were posted" in no_date.text
    forged = await mark(browser, "not-the-token", [letter.id], today)
    assert forged.status_code == 400 and "Your form could not be sent" in forged.text
    unchanged(service, reference)

    # Posted today.
    done = await mark(browser, csrf, [letter.id], today)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/staff/print-queue?posted=1"
    after = await browser.get(done.headers["location"])
    assert "1 letter marked as posted." in after.text
    assert letter.id not in waiting_ids(after.text)
    recent = after.text[after.text.index("Posted recently") :]
    assert reference in recent and long_date(today) in recent and "Sam Spoc" in recent

    posted = letter_of(service, reference)
    assert posted.posted_on == today
    assert posted.status == "posted"
    assert posted.posted_by is not None and posted.posted_by.startswith("Sam Spoc (spoc, staff #")
    with service.sessions() as session:
        case_id = session.scalar(select(Case.id).where(Case.reference == reference))
        events = list(
            session.scalars(select(ChronologyEntry.event).where(ChronologyEntry.case_id == case_id))
        )
        audits = list(
            session.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.case_reference == reference, AuditEntry.action == "mark_letter_posted"
                )
            )
        )
    assert f"Letter 1 posted on {long_date(today)}." in events
    assert audits == [f"letter #{letter.id} posted on {today.isoformat()}"]

    # Marking it again changes nothing.
    again = await mark(browser, csrf, [letter.id], today)
    assert again.status_code == 400 and "already been marked as posted" in again.text
    assert letter_of(service, reference).posted_on == today


async def test_only_the_localitys_spocs_and_managers_use_the_queue(service: CaseService) -> None:
    reference, letter = await posted_case(service)
    today = await service.today()

    other = await staff_browser(service, locality="charnwood")
    page = await other.get("/staff/print-queue")
    assert page.status_code == 200
    assert letter.id not in waiting_ids(page.text) and reference not in page.text
    assert (await other.get(f"/staff/cases/{reference}/letters/{letter.id}/pdf")).status_code == 404
    refused = await mark(other, hidden(page.text, "csrf"), [letter.id], today)
    assert refused.status_code == 400 and "already been marked as posted" in refused.text
    unchanged(service, reference)

    # A panel member reads the case (and its letters) but does not post letters.
    panel = await staff_browser(service, role="panel")
    assert (await panel.get("/staff/print-queue")).status_code == 403
    assert (await panel.get("/staff/print-queue/all.pdf")).status_code == 403
    pdf = await panel.get(f"/staff/cases/{reference}/letters/{letter.id}/pdf")
    assert pdf.status_code == 200 and pdf.content == letter.pdf

    # The county team sees a case only once it is appealed.
    county = await staff_browser(service, role="county_team")
    assert (await county.get(f"/staff/cases/{reference}/letters/{letter.id}/pdf")).status_code == 404

    manager = await staff_browser(service, role="manager")
    assert letter.id in waiting_ids((await manager.get("/staff/print-queue")).text)


async def test_print_queue_works_without_javascript_and_is_accessible(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    reference, letter = await posted_case(service)
    signed_in = await staff_browser(service)
    token = signed_in.cookies.get(SESSION_COOKIE)
    assert token
    cookie = {
        "name": SESSION_COOKIE,
        "value": token,
        "domain": urlparse(live_server).hostname,
        "path": COOKIE_PATH,
    }

    async with real_browser.new_page(
        chromium, live_server, java_script_enabled=False, viewport={"width": 320, "height": 640}
    ) as page:
        await page.context.add_cookies([cookie])  # type: ignore[list-item]
        await page.goto("/staff/print-queue")
        await real_browser.accessible_with_javascript(page)
        # Only this test's letter: others' letters may be waiting too.
        for box in await page.locator('input[name="letter"]').all():
            if await box.get_attribute("value") != str(letter.id):
                await box.uncheck()
        await page.get_by_role("button", name="Mark as posted").click()
        await page.wait_for_url("**/staff/print-queue?posted=1")
        assert "1 letter marked as posted." in await page.content()
        await real_browser.accessible_with_javascript(page)
    assert letter_of(service, reference).posted_on == await service.today()


def test_combined_pdf_starts_each_letter_on_a_new_sheet() -> None:
    _, three = rendered(LetterCode.THRESHOLD_NOT_MET)
    _, two = rendered(LetterCode.ACKNOWLEDGEMENT)
    assert (three.pages, two.pages) == (3, 2)
    combined = combined_pdf([three.content, two.content, three.content])
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(combined)).pages]
    first, second = page_texts(three), page_texts(two)
    assert pages == [*first, "", *second, *first, ""]
