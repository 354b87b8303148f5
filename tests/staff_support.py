"""What the staff page tests share: a member of staff's browser signed in as the sign-in page would leave it
(a session row and its cookie), the forms' hidden fields, and what a page answered with (its errors)."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Mapping

import httpx
from sqlalchemy import func, select

from api.staff.sessions import COOKIE_PATH, SESSION_COOKIE, open_session
from db.models import Case, StaffLocality, StaffUser, Submission
from tests.support import CaseService, application
from tests.test_case_workflow import next_working_morning


async def staff_browser(
    service: CaseService, locality: str = "blaby", role: str = "spoc"
) -> httpx.AsyncClient:
    """A browser signed in to the staff pages as a new member of staff of `locality`."""
    now = await service.now()
    with service.sessions() as session:
        user = StaffUser(
            name=f"Sam {role.title()}",
            email=f"sam.{uuid.uuid4().hex[:10]}@{locality}.council.example",
            role=role,
            created_at=now,
            localities=[StaffLocality(locality=locality)],
        )
        session.add(user)
        session.flush()
        token = open_session(session, user, now)
        session.commit()
    browser = service.browser()
    # As the sign-in page sets it (path /staff); Python's cookie jar files a dotless host as <host>.local.
    browser.cookies.set(SESSION_COOKIE, token, domain="testserver.local", path=COOKIE_PATH)
    return browser


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} on the page:\n{page}"
    return found.group(1)


async def open_form(browser: httpx.AsyncClient, reference: str, slug: str, query: str = "") -> dict[str, str]:
    """The form's hidden fields (CSRF token, key and any request key) as the page shows them."""
    page = await browser.get(f"/staff/cases/{reference}/{slug}{query}")
    assert page.status_code == 200, page.text
    fields = {"csrf": hidden(page.text, "csrf"), "form_key": hidden(page.text, "form_key")}
    if 'name="request_key" value="' in page.text:
        fields["request_key"] = hidden(page.text, "request_key")
    return fields


async def send(
    browser: httpx.AsyncClient, reference: str, slug: str, fields: Mapping[str, str]
) -> httpx.Response:
    return await browser.post(f"/staff/cases/{reference}/{slug}", data=dict(fields))


def submissions(service: CaseService, reference: str, kind: str) -> int:
    with service.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Submission)
                .join(Case, Case.id == Submission.case_id)
                .where(Case.reference == reference, Submission.kind == kind)
            )
            or 0
        )


def error_summary(page: str) -> str:
    found = re.search(r'<div class="govuk-error-summary".*?</div>\s*</div>', page, re.S)
    assert found, page
    return found.group(0)


def inline_errors(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", message).strip()
        for message in re.findall(
            r'<p[^>]*class="govuk-error-message"[^>]*>\s*'
            r'<span class="govuk-visually-hidden">Error:</span>(.*?)</p>',
            page,
            re.S,
        )
    ]


async def open_threshold_case(service: CaseService) -> str:
    today = await next_working_morning(service)
    reference = await service.open_case(application(today=today))
    return reference


def shows(page: httpx.Response, *messages: str) -> None:
    """The page is the form again (400) with each message in the error summary and by its field."""
    assert page.status_code == 400, page.text
    text = html.unescape(page.text)
    summary = error_summary(text)
    inline = inline_errors(text)
    assert text.count("<title>Error: ") == 1
    for message in messages:
        assert message in summary, (message, summary)
        assert message in inline, (message, inline)


def date_parts(prefix: str, day: dt.date) -> dict[str, str]:
    return {f"{prefix}-day": str(day.day), f"{prefix}-month": str(day.month), f"{prefix}-year": str(day.year)}
