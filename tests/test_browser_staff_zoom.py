"""Every staff page that test_browser_staff's journeys do not visit, in a real browser at 320 CSS px wide and
at 200% zoom (issue 11: "Every page passes axe-core with no serious or critical findings, keyboard only, at
320 px wide and at 200% zoom"). Headless Chromium (Playwright) against the app served over HTTP, with the
real case workflow on the time-skipping server, the SMTP sink and SQLite behind it (conftest's `service`,
`live_server` and `chromium`).

One browser context, one case. Each page is opened with GET and must answer 200 at its own address (not a
redirect to sign in), then pass `check_page` (tests/test_browser_staff.py): axe-core with no serious or
critical violation and nothing to scroll sideways to, at 320 x 640 CSS px and, resized in place, at
640 x 360 CSS px, the layout of a 1280 x 720 window at 200% zoom. What `check_page` finds is gathered and
failed on at the end, so that one run names every page that fails.

The pages: a new security code, asking for a password reset, accepting an invitation, setting a new
password (both from their links), inviting a user (an admin), the session timeout warning, recording an
application, the print queue and the failed mail page, sending an applicant's letter again (a second
case, whose applicant's address refuses mail); for a case at the threshold check, sending an
information request again and extending it (for one request, as the case page and the failed mail page
link to them), going ahead without one (a choice of the open requests), the withdrawal and an earlier
appeal's outcome; in the appeal window, the request for appeal; in appeal, waiting for its chair, the case
page and the nine appeal pages.

Staff are signed in as the sign-in page would leave them (a session row and its cookie, swapped in the one
context when another role is needed); the sign-in waiting for its code and the invitation and password
reset links are made by the functions the pages that start them call. The applicant asked for letters by
post (Letter 1 waits in the print queue) and the police's address refuses mail while the case opens (the
failed mail page and the case page list it), so those pages show their tables, not their empty states. The
JSON API takes the case from stage to stage.

Not here: downloads (a letter's PDF, the print queue's PDF, an attachment), which are not pages; pages that
answer only a POST (a password reset sent, a new API key, a form refused) or never 200 (not found,
forbidden, a link refused).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from api.staff.codes import SIGN_IN_COOKIE, start_code_sign_in
from api.staff.links import LinkPurpose, issue_link
from db.models import Case, Letter, StaffLocality, StaffUser
from tests.browser import new_page, path_of
from tests.support import CaseService, application
from tests.test_appeals import chair_asked_for, request_appeal
from tests.test_browser_staff import NARROW, POLICE, SPOC_EMAIL, add_staff, check_page, staff_cookie
from tests.test_staff_actions import APPEAL_PAGES

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLICE_KEY = "threshold:leicestershire-police"
UNREACHABLE = "moved.away@example.test"
POLICE_QUERY = "request=threshold%3Aleicestershire-police"


class Visits:
    """Opens staff pages in one browser page and checks each; what `check_page` finds wrong is kept, so that
    one run names every page that fails, not just the first (`assert_all_passed` at the end)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []

    async def __call__(self, path: str, lands_on: str | None = None) -> None:
        """Open `path` (GET): it must answer 200 at `lands_on` (its own address unless given); then
        `check_page`."""
        page = self.page
        response = await page.goto(path)
        assert response is not None and response.status == 200, (
            f"{path} answered {response and response.status} at {page.url}"
        )
        assert path_of(page.url) == (lands_on or path), f"{path} led to {page.url}"
        try:
            await check_page(page)
        except AssertionError as problem:
            self.problems.append(str(problem))

    def assert_all_passed(self) -> None:
        assert not self.problems, "\n\n".join(self.problems)


def invited_user(service: CaseService, now: dt.datetime) -> int:
    """A user an admin has invited, who has set no password yet."""
    with service.sessions.begin() as session:
        user = StaffUser(
            name="Kim Invited",
            email=f"kim.{uuid.uuid4().hex[:10]}@blaby.council.example",
            role="spoc",
            created_at=now,
            localities=[StaffLocality(locality="blaby")],
        )
        session.add(user)
        session.flush()
        return user.id


def link_for(service: CaseService, user_id: int, purpose: LinkPurpose, now: dt.datetime) -> str:
    """The token of a new invitation or password reset link for the user, as the email would carry it."""
    with service.sessions.begin() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        return issue_link(session, user, purpose, now)


def waiting_sign_in(service: CaseService, user_id: int, now: dt.datetime) -> str:
    """The cookie of a sign-in whose password was right, waiting for its security code. Only a user with a
    password may sign in: the user is given the development SPOC's (its hash, copied: hashing is slow)."""
    with service.sessions.begin() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        user.password_hash = session.scalar(
            select(StaffUser.password_hash).where(StaffUser.email == SPOC_EMAIL)
        )
        assert user.password_hash is not None
        started = start_code_sign_in(session, service.settings, user, next_path=None, now=now)
        assert started.token is not None
        return started.token


def posted_and_refused(case: dict[str, Any]) -> bool:
    """Letter 1 is waiting to be printed and the police's request could not be emailed."""
    return any(letter["code"] == "letter-1" for letter in case["letters"]) and any(
        r["request_key"] == POLICE_KEY and r["delivery"] == "failed" for r in case["information_requests"]
    )


def letter_1_failed(case: dict[str, Any]) -> bool:
    return any(letter["code"] == "letter-1" and letter["status"] == "failed" for letter in case["letters"])


def letter_1_id(service: CaseService, reference: str) -> int:
    with service.sessions() as session:
        return int(
            session.scalar(
                select(Letter.id)
                .join(Case, Case.id == Letter.case_id)
                .where(Case.reference == reference, Letter.code == "letter-1")
            )
            or 0
        )


async def test_every_other_staff_page_passes_axe_and_reflows_at_320_px_and_at_200_percent_zoom(
    service: CaseService, live_server: str, chromium: Browser
) -> None:
    now = await service.now()
    spoc_id, _, spoc = add_staff(service, now, "spoc", "blaby")
    _, _, admin = add_staff(service, now, "admin", None)
    invited_id = invited_user(service, now)
    body = application(today=await service.today(), contact_preference="post")
    # Only while this case's first emails go: no other case sends to the police without time passing.
    service.mail.refuse |= {POLICE, UNREACHABLE}
    try:
        # Applied for; the workflow sends its emails while the pages that need no case are checked.
        applied = await service.apply(body, key=uuid.uuid4().hex)
        assert applied.status_code == 201, applied.text
        reference = applied.json()["reference"]
        case_path = f"/staff/cases/{reference}"
        # A second case, whose applicant's address refuses mail: its Letter 1 is to be sent again.
        unreachable = application(today=await service.today())
        unreachable["applicant"]["email"] = UNREACHABLE
        applied = await service.apply(unreachable, key=uuid.uuid4().hex)
        assert applied.status_code == 201, applied.text
        unreachable_reference = applied.json()["reference"]

        async with new_page(chromium, live_server, viewport=NARROW) as page:
            visit = Visits(page)
            # ---- signing in and the links emailed to staff (while the police's email fails)
            await page.context.add_cookies(
                [staff_cookie(waiting_sign_in(service, spoc_id, now), SIGN_IN_COOKIE)]  # type: ignore[list-item]
            )
            await visit("/staff/sign-in/new-code")
            await visit("/staff/password-reset")
            invitation = link_for(service, invited_id, LinkPurpose.INVITATION, now)
            await visit(f"/staff/invitation/{invitation}", lands_on="/staff/invitation")
            reset = link_for(service, spoc_id, LinkPurpose.PASSWORD_RESET, now)
            await visit(f"/staff/password-reset/{reset}", lands_on="/staff/new-password")

            # ---- an admin's page
            await page.context.add_cookies([staff_cookie(admin)])  # type: ignore[list-item]
            await visit("/staff/users/invite")

            # ---- a SPOC's pages
            await page.context.add_cookies([staff_cookie(spoc)])  # type: ignore[list-item]
            await visit("/staff/session-timeout-warning")
            await visit("/staff/applications/new")
            await service.wait_for(reference, posted_and_refused)
            await service.wait_for(unreachable_reference, letter_1_failed)
            service.mail.refuse -= {POLICE, UNREACHABLE}
            await visit("/staff/print-queue")
            await expect(page.locator(f"tbody a[href='{case_path}']")).not_to_have_count(0)  # Letter 1
            await visit("/staff/failed-mail")
            await expect(page.locator(f"tbody a[href='{case_path}/resend?{POLICE_QUERY}']")).to_have_count(1)
            await expect(page.locator("main")).to_contain_text(POLICE)
            letter_id = letter_1_id(service, unreachable_reference)
            await visit(f"/staff/cases/{unreachable_reference}/resend-letter?letter={letter_id}")

            # ---- the case at the threshold check: the information request pages (test_browser_staff
            # records an agency's answer from the case page's link, for one request: ?request=<key>)
            for slug in ("resend", "extend"):
                await visit(f"{case_path}/{slug}?{POLICE_QUERY}")
            await visit(f"{case_path}/waive")  # no request chosen: a choice of the open ones
            await visit(f"{case_path}/withdraw")
            await visit(f"{case_path}/appeal-outcome")

            # ---- the appeal window: the request for appeal
            await service.answer_requests(reference, "threshold")
            decided = await service.act(
                reference, "threshold-decision", {"outcome": "not_met", "reasons": "Two incidents only."}
            )
            assert decided.status_code == 200, decided.text
            await service.wait_for(reference, lambda c: c["deadlines"]["appeal_by"] is not None)
            await visit(f"{case_path}/appeal-request")

            # ---- the appeal, waiting for its chair: the case page (with its undelivered email and the
            # appeal) and the appeal's pages
            await request_appeal(service, reference)
            await chair_asked_for(service, reference)
            await visit(case_path)
            await expect(page.locator("#stage")).to_have_text("Appeal")
            await expect(page.locator("#appeal")).to_have_count(1)
            await expect(page.locator("#failed-mail")).to_have_count(1)
            for slug in APPEAL_PAGES:
                await visit(f"{case_path}/{slug}")
            visit.assert_all_passed()
    finally:
        service.mail.refuse -= {POLICE, UNREACHABLE}
