"""The applicant's own case page (issue 12, section 2), through a browser of its own (httpx and its cookie
jar) against the real API, the case workflow on the time-skipping server, a real SMTP sink and SQLite: the
link in Letter 1 as it arrived, the page, a letter, refused links, a new link by email, and the actions."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select, update

from db.models import ApplicantToken, AuditEntry, Case, Letter
from domain.links import hash_token
from tests.support import CaseService, application
from tests.test_appeals import appeal_stage, csrf_of, to_not_met
from tests.test_case_workflow import next_working_morning, to_review

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINK = re.compile(r"/case/r/([A-Za-z0-9_-]{43})")
INJECTION = "{{7*7}} <script>alert(1)</script>"


def links_in(service: CaseService, reference: str) -> list[str]:
    """The tokens of the links to the case page in the mails about the case, as they arrived."""
    tokens = []
    for message in service.mail_about(reference):
        body = message.get_body(("plain",))
        assert body is not None
        tokens += LINK.findall(body.get_content())
    return tokens


async def link_for(service: CaseService, reference: str, after: int = 0, timeout: float = 20.0) -> str:
    """The token of the latest link to the case page (once there are more than `after`)."""
    deadline = time.monotonic() + timeout
    while True:
        tokens = links_in(service, reference)
        if len(tokens) > after:
            return tokens[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no applicant link for {reference}")
        await asyncio.sleep(0.1)


def without_nonce(page: str) -> str:
    return re.sub(r'nonce="[^"]*"', "", page)


@contextlib.asynccontextmanager
async def opened(service: CaseService, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own that opened the link (and so holds the session cookie)."""
    async with service.browser() as browser:
        response = await browser.get(f"/case/r/{token}")
        assert response.status_code == 303 and response.headers["location"] == "/case", response.text
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/case" in cookie
        yield browser


async def test_letter_1_link_opens_the_case_page_with_letters(service: CaseService) -> None:
    name = f"Alex {INJECTION}"
    body = application(today=await next_working_morning(service))
    body["applicant"]["name"] = name
    reference = await service.open_case(body)
    token = await link_for(service, reference)
    # Only the hash is kept: not in the outbox's copy, nor in the letter as recorded.
    for message in service.outbox(reference, "letter-1"):
        assert token not in message.body_text and token not in message.body_html
    with service.sessions() as session:
        letter = session.scalar(select(Letter).where(Letter.code == "letter-1").order_by(Letter.id.desc()))
        assert letter is not None and token not in letter.body_text
        assert session.scalar(select(ApplicantToken).where(ApplicantToken.token_hash == hash_token(token)))
    async with opened(service, token) as browser:
        page = await browser.get("/case")
        assert page.status_code == 200, page.text
        assert reference in page.text
        assert "checking whether your case meets the threshold" in page.text
        case = service.case_row(reference)
        assert case.threshold_decision_by is not None
        day = case.threshold_decision_by
        assert f"{day.day} {day:%B %Y}" in page.text
        assert "community.trigger@blaby.council.example" in page.text
        letter_ids = re.findall(r'href="/case/letters/(\d+)"', page.text)
        assert letter_ids
        shown = await browser.get(f"/case/letters/{letter_ids[0]}")
        assert shown.status_code == 200 and "we have received your application" in shown.text
        assert (
            "{{7*7}}" in shown.text and "&lt;script&gt;" in shown.text and "<script>alert" not in shown.text
        )
    with service.sessions() as session:
        actions = {
            e.action
            for e in session.scalars(select(AuditEntry).where(AuditEntry.case_reference == reference))
        }
        details = [e.detail or "" for e in session.scalars(select(AuditEntry))]
    assert {"applicant_link_opened", "applicant_case_viewed", "applicant_letter_viewed"} <= actions
    assert not any(token in detail or "Alex" in detail for detail in details)


async def test_bad_links_get_one_refusal_page_and_another_cases_letter_is_404(service: CaseService) -> None:
    today = await next_working_morning(service)
    first = await service.open_case(application(today=today))
    second = await service.open_case(application(today=today))
    token = await link_for(service, first)
    other = await link_for(service, second)
    async with service.browser() as stranger:
        tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
        for bad in (tampered, "nonsense", "x" * 43):
            refused = await stranger.get(f"/case/r/{bad}")
            assert refused.status_code == 404 and "This link cannot be used" in refused.text
            assert "Send me a new link" in refused.text
        assert (await stranger.get("/case")).status_code == 401
    with service.sessions.begin() as session:
        session.execute(
            update(ApplicantToken)
            .where(ApplicantToken.token_hash == hash_token(other))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    async with service.browser() as revoked:
        assert (await revoked.get(f"/case/r/{other}")).status_code == 404
    async with opened(service, token) as browser:
        with service.sessions() as session:
            case = session.scalar(select(Case).where(Case.reference == second))
            assert case is not None
            theirs = [letter.id for letter in case.letters]
        assert theirs
        assert (await browser.get(f"/case/letters/{theirs[0]}")).status_code == 404
        # Expired: the link's time is past.
        with service.sessions.begin() as session:
            session.execute(
                update(ApplicantToken)
                .where(ApplicantToken.token_hash == hash_token(token))
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            )
        async with service.browser() as later:
            assert (await later.get(f"/case/r/{token}")).status_code == 404


async def test_new_link_same_answer_and_mail_only_when_matching(service: CaseService) -> None:
    reference = await service.open_case(application(today=await next_working_morning(service)))
    await link_for(service, reference)
    async with service.browser() as browser:
        form = await browser.get("/case/new-link")
        csrf = csrf_of(form.text)
        before = len(links_in(service, reference))
        wrong = await browser.post(
            "/case/new-link",
            data={"csrf_token": csrf, "reference": reference, "email": "someone@example.test"},
        )
        right = await browser.post(
            "/case/new-link", data={"csrf_token": csrf, "reference": reference, "email": "ALEX@example.test"}
        )
        assert wrong.status_code == right.status_code == 200
        assert without_nonce(wrong.text) == without_nonce(right.text)
        token = await link_for(service, reference, after=before)
        assert len(links_in(service, reference)) == before + 1  # one mail: only for the matching pair
        for message in service.outbox(reference, "applicant-new-link"):
            assert token not in message.body_text
        no_csrf = await browser.post(
            "/case/new-link", data={"reference": reference, "email": "alex@example.test"}
        )
        assert no_csrf.status_code == 400
        empty = await browser.post("/case/new-link", data={"csrf_token": csrf, "reference": "", "email": ""})
        assert empty.status_code == 422 and "govuk-error-summary" in empty.text
    async with opened(service, token):
        pass


async def test_withdraw_with_confirmation_closes_the_case(service: CaseService) -> None:
    reference = await service.open_case(application(today=await next_working_morning(service)))
    token = await link_for(service, reference)
    async with opened(service, token) as browser:
        form = await browser.get("/case/withdraw")
        csrf = csrf_of(form.text)
        forged = await browser.post("/case/withdraw/confirm", data={"csrf_token": "nope", "reason": "x"})
        assert forged.status_code == 400
        check = await browser.post("/case/withdraw", data={"csrf_token": csrf, "reason": INJECTION})
        assert check.status_code == 200 and "Are you sure" in check.text
        assert "{{7*7}}" in check.text and "<script>alert" not in check.text
        assert service.case_row(reference).stage != "closed"
        done = await browser.post("/case/withdraw/confirm", data={"csrf_token": csrf, "reason": INJECTION})
        assert done.status_code == 303 and done.headers["location"] == "/case?done=withdrawn", done.text
    await service.result(reference)
    case = await service.wait_for(reference, lambda c: bool(service.letters(c, "withdrawal")))
    assert case["closed_reason"] == "withdrawn"
    entry = next(e for e in case["chronology"] if "withdrawn" in e["event"])
    assert entry["actor"] == "Alex Example (applicant)"


async def test_appeal_request_from_the_page_after_letter_2b(service: CaseService) -> None:
    reference = await to_not_met(service)
    token = await link_for(service, reference, after=1)
    async with opened(service, token) as browser:
        form = await browser.get("/case/appeal")
        assert form.status_code == 200
        csrf = csrf_of(form.text)
        bad = await browser.post("/case/appeal", data={"csrf_token": csrf, "explanation": ""})
        assert bad.status_code == 422 and "Select at least one reason" in bad.text
        assert "Explain why you are appealing" in bad.text
        sent = await browser.post(
            "/case/appeal",
            data={"csrf_token": csrf, "grounds": ["1", "2"], "explanation": "The ASB policy was ignored."},
        )
        assert sent.status_code == 303, sent.text
    case = await appeal_stage(service, reference, "appeal_chair_requested")
    assert [g["number"] for g in case["appeal"]["grounds"]] == [1, 2]
    assert any(e["actor"] == "Alex Example (applicant)" for e in case["chronology"])


async def test_impact_statement_choice_at_review(service: CaseService) -> None:
    reference, _ = await to_review(service)
    token = await link_for(service, reference)
    async with opened(service, token) as browser:
        page = await browser.get("/case")
        assert "Choose how to give your impact statement" in page.text
        form = await browser.get("/case/impact-statement")
        csrf = csrf_of(form.text)
        bad = await browser.post(
            "/case/impact-statement", data={"csrf_token": csrf, "method": "in_person", "minutes": "999"}
        )
        assert bad.status_code == 422 and "from 1 to 30" in bad.text
        chosen = await browser.post(
            "/case/impact-statement",
            data={
                "csrf_token": csrf,
                "method": "representative",
                "representative_name": INJECTION,
                "representative_consent": "yes",
            },
        )
        assert chosen.status_code == 303, chosen.text
        case = await service.wait_for(reference, lambda c: bool(c["decisions"]["impact_statement"]))
        assert any(e["actor"] == "Alex Example (applicant)" for e in case["chronology"])
        page = await browser.get("/case")
        assert "{{7*7}}" in page.text and "<script>alert" not in page.text
