"""The appeal pages without an appeal workflow: the contact's and the chair's links, the sessions they are
exchanged for, the pages, the forms' checks, and every way a link, session or form is refused.

The real API app on a SQLite database of its own: each test makes its case, appeal and links straight in the
database, as the appeal workflow's activities would, so that it controls the appeal's stage and the links'
expiry, revocation and chair. Where a step reaches the workflow, either Temporal's test server answers (there
is no workflow: the appeal counts as ended) or `execute_workflow_update` is replaced to record what was sent.
The steps with a real workflow are tested end to end elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import api.case_updates as case_updates
from api.appeal.sessions import _RedactAppealLinks
from api.deps import now_utc, today_in_london
from api.main import create_app
from core.config import PROJECT_ROOT, Settings, get_settings
from core.localities import load_policies
from db.models import Appeal, AppealToken, AuditEntry, Case, ChronologyEntry, Letter, Submission
from db.session import engine_for, migrate, session_factory
from domain.calendar import LONDON, london_date
from domain.links import AppealTokenPurpose, hash_token
from workflows.appeal import AppealWorkflow
from workflows.appeal_models import (
    AcknowledgementRecord,
    AppealDecisionRecord,
    AppealPanelRecord,
    ChairRecord,
    CriteriaRecord,
)
from workflows.models import Actor

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHAIR = "charnwood-csp-chair"
CHAIR_NAME = "Chair, Charnwood Community Safety Partnership"
OTHER_CHAIR = "melton-csp-chair"
OWN_CHAIR = "blaby-csp-chair"
CONTACT_NAME = "Community Safety Team, Leicestershire County Council"
SPOC_EMAIL = "community.trigger@blaby.council.example"
GROUND_2 = "The review failed to consider relevant factual information."
# What only the chair may see.
PERSONAL = ("Alex Example", "alex@example.test", "1 High Street, Narborough", "LE19 2AA", "07700 900123")
EXPLANATION = "The panel never looked at the noise diary I kept."


# ---- the service under test ------------------------------------------------------------------


@dataclass
class Pages:
    app: Any
    sessions: Any
    settings: Settings
    clock: list[dt.datetime]

    @property
    def now(self) -> dt.datetime:
        return self.clock[0]

    def browser(self) -> httpx.AsyncClient:
        """A fresh client with its own cookie jar, as a separate person's browser would be."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")


def settings_for(directory: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "development",
        "database_url": f"sqlite:///{directory / 'appeals.db'}",
        "public_base_url": "http://testserver",
        "localities_dir": PROJECT_ROOT / "localities",
        "temporal_task_queue": f"appeals-{uuid.uuid4().hex[:8]}",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, temporal_env: WorkflowEnvironment) -> Iterator[Pages]:
    settings = settings_for(tmp_path_factory.mktemp("appeal-pages"))
    migrate(settings.database_url)
    app = create_app()
    clock = [dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)]
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[now_utc] = lambda: clock[0]
    app.dependency_overrides[today_in_london] = lambda: london_date(clock[0])
    app.state.policies = load_policies(settings.localities_dir)
    app.state.engine = engine_for(settings.database_url)
    # A real Temporal client, but no appeal workflow runs: a step that reaches it finds none.
    app.state.temporal = SimpleNamespace(client=temporal_env.client, last_error=None)
    yield Pages(app=app, sessions=session_factory(settings.database_url), settings=settings, clock=clock)


@pytest.fixture
def recorded_updates(monkeypatch: pytest.MonkeyPatch, pages: Pages) -> list[dict[str, Any]]:
    """Updates the pages send, recorded instead of sent (the workflow takes each)."""
    sent: list[dict[str, Any]] = []

    async def execute(client: Any, workflow_id: str, update: Any, *, args: Any, update_id: str) -> Any:
        sent.append(
            {"workflow_id": workflow_id, "update": update, "args": list(args), "update_id": update_id}
        )
        return None

    monkeypatch.setattr(case_updates, "execute_workflow_update", execute)
    return sent


# ---- making appeals and links as the activities would ----------------------------------------


def application() -> dict[str, Any]:
    return {
        "locality": "blaby",
        "received_on": "2026-07-01",
        "applicant": {
            "name": "Alex Example",
            "email": "alex@example.test",
            "phone": "07700 900123",
            "address": "1 High Street, Narborough",
            "postcode": "LE19 2AA",
            "is_business": False,
        },
        "on_behalf_of": None,
        "incidents": [
            {
                "occurred_on": "2026-06-01",
                "reported_on": "2026-06-02",
                "reported_to": "police",
                "organisation": "Leicestershire Police",
                "reference": "REF-60",
                "description": "Loud music and shouting late at night.",
            }
        ],
        "hate_incident": True,
        "hate_incident_details": "Shouted abuse at the bus stop.",
        "no_effective_action": True,
        "consent_to_share": True,
        "contact_preference": "email",
    }


def make_appeal(
    pages: Pages,
    *,
    stage: str = "appeal_chair_named",
    chair_key: str | None = CHAIR,
    **appeal_values: Any,
) -> tuple[str, int]:
    """A case with its review done and an appeal at `stage`: (its reference, the appeal's id)."""
    reference = f"CT-BLA-2026-{uuid.uuid4().hex[:6].upper()}"
    now = pages.now
    policy = pages.app.state.policies["blaby"]
    chair = policy.appeal.chair(chair_key) if chair_key else None
    with pages.sessions.begin() as session:
        case = Case(
            reference=reference,
            locality="blaby",
            stage=stage,
            received_on=dt.date(2026, 7, 1),
            application=application(),
            assessment={"met": True, "route": "three_incidents", "reasons": []},
            threshold_decision={"outcome": "met", "reasons": "Three incidents within six months."},
            review_meeting={
                "meeting_at": "2026-08-20T10:00:00+01:00",
                "location": "Council Offices, Narborough",
                "attendees": [{"name": "Pat Officer", "organisation": "Leicestershire Police"}],
                "youth_offending_service_invited": False,
            },
            panel_decision={
                "findings": "Agencies did not share the noise diary.",
                "recommendations": [
                    {
                        "agency": "Blaby District Council ASB Team",
                        "action": "Install noise monitoring.",
                        "due_on": "2026-10-01",
                    }
                ],
            },
            appeal_request={
                "received_on": "2026-10-20",
                "grounds": [2],
                "explanation": EXPLANATION,
                "consent_received": False,
            },
            created_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()
        session.add(
            Letter(
                case_id=case.id,
                code="letter-3",
                sequence=1,
                sent_on=dt.date(2026, 9, 1),
                channel="email",
                status="sent",
                subject=f"The outcome of your case review {reference}",
                body_text=(
                    "Dear Alex Example\n\nThe panel met on 20 August 2026.\nIt recommends noise monitoring."
                ),
                created_at=now,
            )
        )
        session.add(
            ChronologyEntry(
                case_id=case.id,
                event_key="e1",
                at=now - dt.timedelta(days=60),
                actor="system",
                event="Letter 3 sent.",
            )
        )
        values: dict[str, Any] = {
            "case_id": case.id,
            "stage": stage,
            "route": "independent_chair",
            "received_on": dt.date(2026, 10, 20),
            "grounds": [2],
            "needs_consent": False,
            "chair_key": chair.key if chair else None,
            "chair_name": chair.name if chair else None,
            "chair_email": str(chair.email) if chair else None,
            "chair_partnership": chair.partnership if chair else None,
            "name_chair_by": dt.date(2026, 11, 24),
            "bundle_by": dt.date(2026, 11, 25) if chair else None,
            "acknowledge_by": dt.date(2026, 12, 2) if chair else None,
            "bundle_sent_on": dt.date(2026, 11, 20) if chair else None,
            "created_at": now,
            "updated_at": now,
        }
        values.update(appeal_values)
        appeal = Appeal(**values)
        session.add(appeal)
        session.flush()
        return reference, appeal.id


def issue(
    pages: Pages,
    appeal_id: int,
    purpose: AppealTokenPurpose,
    *,
    chair_key: str | None = CHAIR,
    expires_at: dt.datetime | None = None,
) -> str:
    """A link (or any token) for the appeal, stored hashed, as the activities issue them."""
    with pages.sessions.begin() as session:
        token, row = AppealToken.issue(
            purpose.value,
            appeal_id=appeal_id,
            chair_key=chair_key if purpose.value.startswith("chair") else None,
            issued_at=pages.now,
            expires_at=expires_at or pages.now + dt.timedelta(days=30),
        )
        session.add(row)
    return token


def chair_link(pages: Pages, appeal_id: int, **kwargs: Any) -> str:
    return issue(pages, appeal_id, AppealTokenPurpose.CHAIR_LINK, **kwargs)


def contact_link(pages: Pages, appeal_id: int, **kwargs: Any) -> str:
    return issue(pages, appeal_id, AppealTokenPurpose.CONTACT_LINK, **kwargs)


def token_row(pages: Pages, token: str) -> AppealToken:
    with pages.sessions() as session:
        row = session.scalar(select(AppealToken).where(AppealToken.token_hash == hash_token(token)))
        assert row is not None
        return row


def change_token(pages: Pages, token: str, **values: Any) -> None:
    with pages.sessions.begin() as session:
        row = session.scalar(select(AppealToken).where(AppealToken.token_hash == hash_token(token)))
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def change_appeal(pages: Pages, appeal_id: int, **values: Any) -> None:
    with pages.sessions.begin() as session:
        appeal = session.get(Appeal, appeal_id)
        assert appeal is not None
        for name, value in values.items():
            setattr(appeal, name, value)


def submissions_of(pages: Pages, reference: str) -> list[Submission]:
    with pages.sessions() as session:
        return list(
            session.scalars(
                select(Submission)
                .join(Case, Case.id == Submission.case_id)
                .where(Case.reference == reference)
            )
        )


def audit_of(pages: Pages, reference: str | None = None) -> list[AuditEntry]:
    with pages.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action.like("appeal_%")).order_by(AuditEntry.id)
        if reference is not None:
            query = query.where(AuditEntry.case_reference == reference)
        return list(session.scalars(query))


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def main_content(html: str) -> str:
    match = re.search(r'<main class="govuk-main-wrapper" id="main-content">(.*)</main>', html, re.S)
    assert match
    return match.group(1)


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self' 'nonce-" in csp
    assert "unsafe-inline" not in csp


def assert_link_refused(response: httpx.Response, reference: str) -> None:
    assert response.status_code == 404
    assert_page_headers(response)
    assert "This link cannot be used" in response.text
    for secret in (reference, *PERSONAL, "Blaby", "Charnwood"):
        assert secret not in response.text
    assert "appeal_session" not in response.headers.get("set-cookie", "")


def assert_session_refused(response: httpx.Response, reference: str) -> None:
    assert response.status_code == 401, response.text
    assert_page_headers(response)
    assert "Open the link in your email again" in response.text
    for secret in (reference, *PERSONAL):
        assert secret not in response.text


async def open_as(browser: httpx.AsyncClient, token: str, home: str) -> None:
    response = await browser.get(f"/appeal/r/{token}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == home


@asynccontextmanager
async def chair_browser(pages: Pages, appeal_id: int) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with a session from a new link of the appeal's chair."""
    async with pages.browser() as browser:
        await open_as(browser, chair_link(pages, appeal_id), "/appeal/chair")
        yield browser


async def csrf_of(browser: httpx.AsyncClient, path: str) -> str:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


def refusals(pages: Pages, reference: str, action: str) -> list[str | None]:
    return [entry.detail for entry in audit_of(pages, reference) if entry.action == action]


# ---- opening links ---------------------------------------------------------------------------


async def test_chair_link_is_exchanged_for_a_session_cookie(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    token = chair_link(pages, appeal_id)
    async with pages.browser() as browser:
        response = await browser.get(f"/appeal/r/{token}")
        assert response.status_code == 303 and response.headers["location"] == "/appeal/chair"
        assert_page_headers(response)
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("appeal_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/appeal" in cookie
        assert "Secure" not in cookie  # the test service's public address is http
        session_token = browser.cookies["appeal_session"]
        assert session_token != token and token not in cookie

    link = token_row(pages, token)
    assert link.use_count == 1 and link.first_used_at == pages.now
    session_row = token_row(pages, session_token)
    assert session_row.purpose == "chair_session" and session_row.link_id == link.id
    assert session_row.chair_key == CHAIR and session_row.appeal_id == appeal_id
    assert pages.now < session_row.expires_at <= pages.now + dt.timedelta(hours=4)

    # Links stay usable (mail scanners open them first): a second opening gives another session.
    async with pages.browser() as other:
        await open_as(other, token, "/appeal/chair")
        assert other.cookies["appeal_session"] != session_token
    assert token_row(pages, token).use_count == 2
    opened = [e for e in audit_of(pages, reference) if e.action == "appeal_link_opened"]
    assert [(e.actor, e.detail) for e in opened] == [
        (f"appeal chair: {CHAIR_NAME}", "chair link; use 1"),
        (f"appeal chair: {CHAIR_NAME}", "chair link; use 2"),
    ]


async def test_contact_link_opens_the_name_chair_page(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    token = contact_link(pages, appeal_id)
    async with pages.browser() as browser:
        await open_as(browser, token, "/appeal/name-chair")
        session_row = token_row(pages, browser.cookies["appeal_session"])
    assert session_row.purpose == "contact_session" and session_row.chair_key is None
    assert [e.actor for e in audit_of(pages, reference) if e.action == "appeal_link_opened"] == [
        f"appeal contact: {CONTACT_NAME}"
    ]


async def test_the_cookie_is_secure_on_https(pages: Pages) -> None:
    _, appeal_id = make_appeal(pages)
    secure = pages.settings.model_copy(update={"public_base_url": "https://appeals.example"})
    pages.app.dependency_overrides[get_settings] = lambda: secure
    try:
        async with pages.browser() as browser:
            response = await browser.get(f"/appeal/r/{chair_link(pages, appeal_id)}")
    finally:
        pages.app.dependency_overrides[get_settings] = lambda: pages.settings
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


async def test_tampered_and_malformed_links_are_refused_alike_and_counted(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    token = chair_link(pages, appeal_id)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    async with pages.browser() as browser:
        bodies = []
        for path in (
            f"/appeal/r/{tampered}",
            "/appeal/r/short",
            "/appeal/r/a/b",
            "/appeal/r/",
            "/appeal/r/%3Cscript%3E",
        ):
            response = await browser.get(path)
            assert_link_refused(response, reference)
            assert "<script>" not in main_content(response.text)
            bodies.append(main_content(response.text))
        assert "appeal_session" not in browser.cookies
    assert len(set(bodies)) == 1
    assert token_row(pages, token).use_count == 0
    # Made-up links are counted in one entry a day, not logged one by one.
    unknown = [e for e in audit_of(pages) if e.actor == "unknown appeal link"]
    assert len(unknown) == 1 and unknown[0].action == "appeal_link_refused" and unknown[0].detail == "unknown"
    assert unknown[0].occurrences >= 5


async def test_expired_and_revoked_links_are_refused(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    expired = chair_link(pages, appeal_id, expires_at=pages.now - dt.timedelta(minutes=1))
    revoked = chair_link(pages, appeal_id)
    change_token(pages, revoked, revoked_at=pages.now, revoked_reason="resent")
    async with pages.browser() as browser:
        assert_link_refused(await browser.get(f"/appeal/r/{expired}"), reference)
        assert_link_refused(await browser.get(f"/appeal/r/{revoked}"), reference)
    assert refusals(pages, reference, "appeal_link_refused") == ["expired", "revoked"]


async def test_a_resend_ends_the_sessions_of_earlier_links(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    token = chair_link(pages, appeal_id)
    async with pages.browser() as browser:
        await open_as(browser, token, "/appeal/chair")
        csrf = await csrf_of(browser, "/appeal/chair")
        # As a resend does: the link and its sessions are revoked.
        change_token(pages, token, revoked_at=pages.now, revoked_reason="resent")
        page = await browser.get("/appeal/chair")
        assert_session_refused(page, reference)
        assert 'appeal_session=""' in page.headers["set-cookie"]
        posted = await browser.post("/appeal/chair/acknowledge", data={"csrf_token": csrf, "note": ""})
        assert_session_refused(posted, reference)
    assert submissions_of(pages, reference) == []
    # The first refusal removed the cookie: the post came without one.
    assert refusals(pages, reference, "appeal_session_refused") == ["revoked"]


async def test_a_chairs_link_works_only_while_they_are_the_chair(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    token = chair_link(pages, appeal_id)
    async with pages.browser() as browser:
        await open_as(browser, token, "/appeal/chair")
        # Someone else is named (the SPOC corrected the chair): the first chair's link and session stop.
        change_appeal(
            pages, appeal_id, chair_key=OTHER_CHAIR, chair_name="Chair, Melton Community Safety Partnership"
        )
        assert_session_refused(await browser.get("/appeal/chair"), reference)
    async with pages.browser() as browser:
        assert_link_refused(await browser.get(f"/appeal/r/{token}"), reference)
    # The refusals name the chair the link was sent to.
    entries = [e for e in audit_of(pages, reference) if e.action.endswith("_refused")]
    assert [(e.action, e.actor, e.detail) for e in entries] == [
        ("appeal_session_refused", f"appeal chair: {CHAIR_NAME}", "not_the_chair"),
        ("appeal_link_refused", f"appeal chair: {CHAIR_NAME}", "not_the_chair"),
    ]
    # A link bound to the new chair opens their page.
    async with pages.browser() as browser:
        await open_as(browser, chair_link(pages, appeal_id, chair_key=OTHER_CHAIR), "/appeal/chair")
        assert (await browser.get("/appeal/chair")).status_code == 200


async def test_tokens_are_not_accepted_for_another_purpose(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    chair = chair_link(pages, appeal_id)
    contact = contact_link(pages, appeal_id)
    async with pages.browser() as browser:
        await open_as(browser, chair, "/appeal/chair")
        chair_session = browser.cookies["appeal_session"]
        # A chair's session is not the contact's.
        assert_session_refused(await browser.get("/appeal/name-chair"), reference)
    async with pages.browser() as browser:
        await open_as(browser, contact, "/appeal/name-chair")
        contact_session = browser.cookies["appeal_session"]
        # The contact's session does not open the chair's page (nor the bundle).
        assert_session_refused(await browser.get("/appeal/chair"), reference)
    async with pages.browser() as browser:
        # Session tokens used as links.
        assert_link_refused(await browser.get(f"/appeal/r/{chair_session}"), reference)
        assert_link_refused(await browser.get(f"/appeal/r/{contact_session}"), reference)
        # A link's token as the session cookie.
        for token, path in ((chair, "/appeal/chair"), (contact, "/appeal/name-chair")):
            page = await browser.get(path, headers={"Cookie": f"appeal_session={token}"})
            assert_session_refused(page, reference)
        # No cookie at all.
        assert_session_refused(await browser.get("/appeal/chair"), reference)
    assert refusals(pages, reference, "appeal_session_refused") == ["wrong_purpose"] * 4
    assert refusals(pages, reference, "appeal_link_refused") == ["wrong_purpose"] * 2
    missing = [e for e in audit_of(pages) if e.actor == "unknown appeal session" and e.detail == "missing"]
    assert missing and missing[0].action == "appeal_session_refused"


async def test_an_idle_session_expires(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as browser:
        change_token(pages, browser.cookies["appeal_session"], expires_at=pages.now - dt.timedelta(seconds=1))
        page = await browser.get("/appeal/chair")
        assert_session_refused(page, reference)
        assert 'appeal_session=""' in page.headers["set-cookie"]
    assert refusals(pages, reference, "appeal_session_refused") == ["expired"]


async def test_after_the_appeal_ends_a_session_shows_only_that_it_has_ended(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    token = chair_link(pages, appeal_id)
    async with pages.browser() as browser:
        await open_as(browser, token, "/appeal/chair")
        csrf = await csrf_of(browser, "/appeal/chair")
        change_appeal(pages, appeal_id, stage="appeal_withdrawn", result="withdrawn")
        for response in (
            await browser.get("/appeal/chair"),
            await browser.post("/appeal/chair/acknowledge", data={"csrf_token": csrf, "note": ""}),
        ):
            assert response.status_code == 410
            assert_page_headers(response)
            assert "This appeal has ended" in response.text and reference in response.text
            assert SPOC_EMAIL in response.text
            for secret in (*PERSONAL, EXPLANATION, "noise diary", GROUND_2):
                assert secret not in response.text
    # The link itself is refused like any other.
    async with pages.browser() as browser:
        assert_link_refused(await browser.get(f"/appeal/r/{token}"), reference)
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_session_refused") == ["ended", "ended"]
    assert refusals(pages, reference, "appeal_link_refused") == ["ended"]

    # A decided appeal too, for the contact.
    reference, appeal_id = make_appeal(pages, stage="appeal_decided", result="upheld")
    async with pages.browser() as browser:
        assert_link_refused(await browser.get(f"/appeal/r/{contact_link(pages, appeal_id)}"), reference)


# ---- the contact names the chair ---------------------------------------------------------------


@asynccontextmanager
async def contact_browser(pages: Pages, appeal_id: int) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with a session from a new link of the appeal's contact."""
    async with pages.browser() as browser:
        await open_as(browser, contact_link(pages, appeal_id), "/appeal/name-chair")
        yield browser


async def test_name_chair_page_lists_whom_the_contact_may_name_and_nothing_about_the_applicant(
    pages: Pages,
) -> None:
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    async with contact_browser(pages, appeal_id) as browser:
        page = await browser.get("/appeal/name-chair")
    assert page.status_code == 200
    assert_page_headers(page)
    html = main_content(page.text)
    assert reference in html and "Blaby District Council" in html
    assert "independent chair" in html and "24 November 2026" in html
    # The eligible chairs as GOV.UK radios: name, with the partnership as hint; never Blaby's own.
    assert 'type="radio"' in html and f'value="{CHAIR}"' in html and CHAIR_NAME in html
    assert "Charnwood Community Safety Partnership" in html
    assert f'value="{OWN_CHAIR}"' not in html
    assert "applicant&#39;s own partnership" in html or "applicant's own partnership" in html
    assert 'name="csrf_token"' in html
    # Nothing about the applicant or their appeal's words.
    for secret in (*PERSONAL, EXPLANATION, "noise diary", "REF-60", "Loud music", GROUND_2):
        assert secret not in page.text
    assert [e.detail for e in audit_of(pages, reference) if e.action == "appeal_name_chair_viewed"] == [
        "form shown"
    ]


async def test_naming_an_unknown_or_ineligible_chair_is_refused_and_nothing_is_written(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    async with contact_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/name-chair")
        for chair, message in (
            (None, "Select who will hear the appeal"),
            ("nobody-we-know", "Select someone from the list"),
            ("<script>", "Select someone from the list"),
            (OWN_CHAIR, "own partnership"),
        ):
            body = {"csrf_token": csrf} | ({"chair": chair} if chair is not None else {})
            response = await browser.post("/appeal/name-chair", data=body)
            assert response.status_code == 422, response.text
            assert_page_headers(response)
            assert "There is a problem" in response.text and 'href="#chair"' in response.text
            assert message in response.text and "<script>" not in main_content(response.text)
            assert "govuk-radios" in response.text  # the form again
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_chair_naming_refused") == ["invalid"] * 4


async def test_naming_a_chair_sends_the_update_and_confirms(
    pages: Pages, recorded_updates: list[dict[str, Any]]
) -> None:
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    async with contact_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/name-chair")
        # No confirmation before a chair is named.
        early = await browser.get("/appeal/name-chair/confirmation")
        assert early.status_code == 303 and early.headers["location"] == "/appeal/name-chair"
        sent = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
        assert sent.status_code == 303 and sent.headers["location"] == "/appeal/name-chair/confirmation"
        # The same form again is the same update (Temporal applies it once).
        again = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
        assert again.status_code == 303

        assert (
            len(recorded_updates) == 2
            and recorded_updates[0]["update_id"] == recorded_updates[1]["update_id"]
        )
        update = recorded_updates[0]
        assert (
            update["workflow_id"] == f"Appeal:{reference}" and update["update"] == AppealWorkflow.name_chair
        )
        [submission] = submissions_of(pages, reference)
        assert update["args"] == [
            Actor(role="appeal_contact"),
            ChairRecord(chair_key=CHAIR, submission_id=submission.id),
        ]
        assert submission.kind == "appeal_chair" and submission.body == {"chair": CHAIR}
        assert submission.submitted_by == f"{CONTACT_NAME} (appeal contact)"
        assert submission.submission_key == update["update_id"]

        # The workflow's activity records the chair; the contact's pages then say who it is.
        policy = pages.app.state.policies["blaby"]
        chair = policy.appeal.chair(CHAIR)
        change_appeal(
            pages,
            appeal_id,
            stage="appeal_chair_named",
            chair_key=CHAIR,
            chair_name=chair.name,
            chair_partnership=chair.partnership,
        )
        confirmation = await browser.get("/appeal/name-chair/confirmation")
        assert confirmation.status_code == 200 and "govuk-panel--confirmation" in confirmation.text
        assert CHAIR_NAME in confirmation.text and reference in confirmation.text
        done = await browser.get("/appeal/name-chair")
        assert done.status_code == 200 and "A chair has been named" in done.text and CHAIR_NAME in done.text
        assert 'type="radio"' not in done.text
        # Naming again changes nothing.
        late = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": OTHER_CHAIR})
        assert late.status_code == 200 and "A chair has been named" in late.text
    assert len(recorded_updates) == 2
    entries = audit_of(pages, reference)
    assert ("appeal_chair_named", f"chair {CHAIR}") in [(e.action, e.detail) for e in entries]
    assert refusals(pages, reference, "appeal_chair_naming_refused") == ["already named"]


async def test_a_naming_the_appeal_refuses_is_not_kept_and_says_why(
    pages: Pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise WorkflowUpdateFailedError(
            ApplicationError("The appeal waits for the victim's signed consent.", type="StageConflict")
        )

    monkeypatch.setattr(case_updates, "execute_workflow_update", refuse)
    async with contact_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/name-chair")
        response = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
    assert response.status_code == 409
    assert "The appeal waits for the victim&#39;s signed consent." in response.text
    assert "Nothing was changed" in response.text
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_chair_naming_refused") == ["refused"]


async def test_naming_a_chair_when_the_service_is_down_or_slow_asks_to_try_again(
    pages: Pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    async with contact_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/name-chair")
        temporal = pages.app.state.temporal
        pages.app.state.temporal = SimpleNamespace(client=None, last_error="down")
        try:
            down = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
        finally:
            pages.app.state.temporal = temporal
        assert down.status_code == 503 and "has not been recorded yet" in down.text
        assert "checked" in down.text  # the choice is kept
        assert submissions_of(pages, reference) == []

        async def slow(*args: Any, **kwargs: Any) -> Any:
            raise WorkflowUpdateRPCTimeoutOrCancelledError()

        monkeypatch.setattr(case_updates, "execute_workflow_update", slow)
        timed_out = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
        assert timed_out.status_code == 503
        assert "send the form again" in timed_out.text
    # After a timeout the naming may still be applied: its submission stays for it.
    assert len(submissions_of(pages, reference)) == 1
    assert refusals(pages, reference, "appeal_chair_naming_refused") == ["unavailable", "uncertain"]


async def test_a_step_for_an_appeal_whose_workflow_has_finished_is_not_kept(pages: Pages) -> None:
    """The real Temporal test server: no workflow `Appeal:<reference>` runs, as after the appeal ended."""
    reference, appeal_id = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    async with contact_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/name-chair")
        response = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
    assert response.status_code == 410 and "This appeal has ended" in response.text
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_chair_naming_refused") == ["ended"]


# ---- the chair's page ----------------------------------------------------------------------------


async def test_the_chairs_page_shows_the_bundle_and_the_acknowledgement_form(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as browser:
        page = await browser.get("/appeal/chair")
    assert page.status_code == 200, page.text
    assert_page_headers(page)
    html = main_content(page.text)
    for section in (
        "The request for appeal",
        "The application",
        "The threshold decision",
        "The case review meeting",
        "The outcome report and action plan",
        "Letters sent to the applicant",
        "Chronology",
        "Your next step",
    ):
        assert section in html, section
    for shown in (
        reference,
        f"Ground 2: {GROUND_2}",
        EXPLANATION,
        *PERSONAL[:4],
        "REF-60",
        "Loud music and shouting late at night.",
        "Shouted abuse at the bus stop.",
        "Three incidents within six months.",
        "Council Offices, Narborough",
        "20 August 2026 at 10:00",
        "Pat Officer",
        "Agencies did not share the noise diary.",
        "Install noise monitoring.",
        "1 October 2026",
        f"The outcome of your case review {reference}",
        "The panel met on 20 August 2026.<br>It recommends noise monitoring.",
        "Letter 3 sent.",
        "2 December 2026",  # acknowledge by
        CHAIR_NAME,
    ):
        assert shown in html, shown
    # The acknowledgement form, and no other.
    assert 'action="/appeal/chair/acknowledge"' in html and 'name="csrf_token"' in html
    for other in ("criteria", "panel", "outcome"):
        assert f'action="/appeal/chair/{other}"' not in html
    assert "govuk-notification-banner" not in html
    # A council service, not GOV.UK.
    assert "govuk-generic-header" in page.text and "govuk-header__logotype" not in page.text
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text
    assert [
        (e.action, e.actor, e.detail)
        for e in audit_of(pages, reference)
        if e.action == "appeal_bundle_viewed"
    ] == [
        (
            "appeal_bundle_viewed",
            f"appeal chair: {CHAIR_NAME}",
            "stage appeal_chair_named; acknowledge form shown",
        )
    ]


async def test_the_form_follows_the_appeal(pages: Pages) -> None:
    _, appeal_id = make_appeal(pages)

    async def forms() -> list[str]:
        async with chair_browser(pages, appeal_id) as browser:
            page = await browser.get("/appeal/chair")
        assert page.status_code == 200, page.text
        return re.findall(r'action="/appeal/chair/([a-z]+)"', page.text)

    assert await forms() == ["acknowledge"]
    # Acknowledged: the form goes while the workflow moves on.
    change_appeal(pages, appeal_id, acknowledgement={"note": ""})
    assert await forms() == []
    change_appeal(pages, appeal_id, stage="appeal_acknowledged", decision_by=dt.date(2026, 12, 30))
    assert await forms() == ["criteria"]
    change_appeal(
        pages,
        appeal_id,
        criteria={"met": True, "reasons": "Grounds met.", "lessons": ""},
        stage="appeal_panel",
    )
    assert await forms() == ["panel"]
    # The panel meets later: it can be changed; its outcome waits for the meeting.
    panel = {
        "meeting_at": (pages.now + dt.timedelta(days=7)).isoformat(),
        "location": "County Hall, Glenfield",
        "members": [{"name": "Sam Chair", "role": "Chair"}],
        "victim_attends_minutes": 20,
    }
    change_appeal(pages, appeal_id, panel=panel)
    async with chair_browser(pages, appeal_id) as browser:
        page = await browser.get("/appeal/chair")
    assert re.findall(r'action="/appeal/chair/([a-z]+)"', page.text) == ["panel"]
    assert "27 November 2026 at 10:00" in page.text and "Come back after the meeting" in page.text
    # The panel form is filled in with the panel as recorded.
    assert 'value="County Hall, Glenfield"' in page.text and 'value="Sam Chair"' in page.text
    # Once it has met: its outcome (and the panel can still be corrected).
    change_appeal(
        pages, appeal_id, panel=panel | {"meeting_at": (pages.now - dt.timedelta(hours=1)).isoformat()}
    )
    assert await forms() == ["outcome", "panel"]
    change_appeal(
        pages, appeal_id, decision={"upheld": False, "reasons": "No.", "recommendations": [], "lessons": ""}
    )
    assert await forms() == []


async def test_the_chairs_forms_refuse_what_needs_correcting_and_write_nothing(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/chair")
        too_long = await browser.post(
            "/appeal/chair/acknowledge", data={"csrf_token": csrf, "note": "x" * 2001}
        )
        assert too_long.status_code == 422
        assert (
            "The note must be 2,000 characters or fewer" in too_long.text and 'href="#note"' in too_long.text
        )

        change_appeal(pages, appeal_id, stage="appeal_acknowledged", acknowledgement={"note": ""})
        missing = await browser.post(
            "/appeal/chair/criteria", data={"csrf_token": csrf, "met": "perhaps", "lessons": "Share diaries."}
        )
        assert missing.status_code == 422
        assert_page_headers(missing)
        for message, anchor in (
            ("Select whether the appeal meets the grounds", "#met"),
            ("Enter the reasons for your decision", "#reasons"),
        ):
            assert message in missing.text and f'href="{anchor}"' in missing.text
        assert "Share diaries." in missing.text  # kept to correct
        assert "govuk-form-group--error" in missing.text

        change_appeal(
            pages, appeal_id, stage="appeal_panel", criteria={"met": True, "reasons": "Met.", "lessons": ""}
        )
        panel = await browser.post(
            "/appeal/chair/panel",
            data={
                "csrf_token": csrf,
                "meeting-day": "31",
                "meeting-month": "2",
                "meeting-year": "2027",
                "meeting-time": "25:00",
                "location": "",
                "member-1-name": "Sam Chair",
                "member-2-role": "Police inspector",
                "victim_minutes": "500",
            },
        )
        assert panel.status_code == 422
        for message, anchor in (
            ("The date of the panel meeting must be a real date", "#meeting-day"),
            ("Enter the time of the panel meeting, like 14:30 or 2:30pm", "#meeting-time"),
            ("Enter where the panel meets", "#location"),
            ("Enter the role of panel member 1", "#member-1-role"),
            ("Enter the name of panel member 2", "#member-2-name"),
            ("from 5 to 120 minutes", "#victim_minutes"),
        ):
            assert message in panel.text and f'href="{anchor}"' in panel.text, message
        assert 'value="Sam Chair"' in panel.text and 'value="Police inspector"' in panel.text
        nobody = await browser.post(
            "/appeal/chair/panel",
            data={
                "csrf_token": csrf,
                "meeting-day": "1",
                "meeting-month": "12",
                "meeting-year": "2026",
                "meeting-time": "2pm",
                "location": "County Hall",
            },
        )
        assert nobody.status_code == 422
        assert "Enter the name and role of at least one panel member" in nobody.text

        change_appeal(
            pages,
            appeal_id,
            panel={
                "meeting_at": (pages.now - dt.timedelta(days=1)).isoformat(),
                "location": "County Hall",
                "members": [{"name": "Sam Chair", "role": "Chair"}],
            },
        )
        outcome = await browser.post(
            "/appeal/chair/outcome",
            data={
                "csrf_token": csrf,
                "upheld": "",
                "reasons": "",
                "rec-1-agency": "Leicestershire Police",
                "rec-3-action": "Visit weekly.",
                "rec-3-due-day": "1",
            },
        )
        assert outcome.status_code == 422
        for message, anchor in (
            ("Select whether the appeal is upheld", "#upheld"),
            ("Enter the reasons for the outcome", "#reasons"),
            ("Enter the action for recommendation 1", "#rec-1-action"),
            ("Enter the date recommendation 1 is due", "#rec-1-due-day"),
            ("Enter the agency for recommendation 3", "#rec-3-agency"),
            ("The date recommendation 3 is due must include a month and year", "#rec-3-due-day"),
        ):
            assert message in outcome.text and f'href="{anchor}"' in outcome.text, message
        # The rows beyond the first two open when they hold something.
        assert '<details class="govuk-details" open>' in outcome.text or " open>" in outcome.text
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_chair_step_refused") == [
        "acknowledge: invalid",
        "criteria: invalid",
        "panel: invalid",
        "panel: invalid",
        "outcome: invalid",
    ]


async def test_a_step_the_appeal_is_not_at_is_refused(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/chair")
        for path, body in (
            ("/appeal/chair/criteria", {"met": "no", "reasons": "Not met."}),
            ("/appeal/chair/panel", {}),
            ("/appeal/chair/outcome", {"upheld": "yes", "reasons": "Upheld."}),
        ):
            response = await browser.post(path, data={"csrf_token": csrf} | body)
            assert response.status_code == 409
            assert "This has not been recorded" in response.text and 'href="/appeal/chair"' in response.text
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_chair_step_refused") == [
        "criteria: not open",
        "panel: not open",
        "outcome: not open",
    ]


async def test_forms_without_our_csrf_token_are_refused(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/chair")
        async with chair_browser(pages, appeal_id) as other:
            stolen = await csrf_of(other, "/appeal/chair")
        for body in (
            {},
            {"csrf_token": "0" * 64},
            {"csrf_token": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")},
            {"csrf_token": stolen},
        ):
            refused = await browser.post("/appeal/chair/acknowledge", data=body | {"note": ""})
            assert refused.status_code == 400 and "could not be sent" in refused.text
            assert_page_headers(refused)
        # A form with a file is not one of ours either.
        with_file = await browser.post(
            "/appeal/chair/acknowledge",
            data={"csrf_token": csrf},
            files={"note": ("a.txt", b"x", "text/plain")},
        )
        assert with_file.status_code == 400
    contact_reference, contact_appeal = make_appeal(pages, stage="appeal_chair_requested", chair_key=None)
    async with contact_browser(pages, contact_appeal) as browser:
        # The chair's session's token is not the contact's.
        refused = await browser.post("/appeal/name-chair", data={"csrf_token": csrf, "chair": CHAIR})
        assert refused.status_code == 400
    assert submissions_of(pages, reference) == [] and submissions_of(pages, contact_reference) == []
    assert refusals(pages, reference, "appeal_chair_step_refused") == ["acknowledge: csrf"] * 4 + [
        "acknowledge: malformed"
    ]
    assert refusals(pages, contact_reference, "appeal_chair_naming_refused") == ["csrf"]


async def test_the_chairs_steps_go_to_the_workflow_once_each(
    pages: Pages, recorded_updates: list[dict[str, Any]]
) -> None:
    reference, appeal_id = make_appeal(pages)
    chair_actor = Actor(role="appeal_chair")
    async with chair_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/chair")
        sent = await browser.post(
            "/appeal/chair/acknowledge", data={"csrf_token": csrf, "note": "Papers received."}
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/appeal/chair?done=acknowledge"
        banner = await browser.get(sent.headers["location"])
        assert "govuk-notification-banner--success" in banner.text and "Letter 4" in banner.text

        change_appeal(
            pages, appeal_id, stage="appeal_acknowledged", acknowledgement={"note": "Papers received."}
        )
        sent = await browser.post(
            "/appeal/chair/criteria",
            data={
                "csrf_token": csrf,
                "met": "yes",
                "reasons": "The diary was missed.",
                "lessons": "Share diaries.",
            },
        )
        assert sent.status_code == 303

        change_appeal(
            pages, appeal_id, stage="appeal_panel", criteria={"met": True, "reasons": "x", "lessons": "y"}
        )
        sent = await browser.post(
            "/appeal/chair/panel",
            data={
                "csrf_token": csrf,
                "meeting-day": "1",
                "meeting-month": "7",
                "meeting-year": "2026",
                "meeting-time": "2:30pm",
                "location": "County Hall, Glenfield",
                "member-1-name": "Sam Chair",
                "member-1-role": "Chair",
                "member-7-name": "Jo Officer",
                "member-7-role": "Police inspector",
                "victim_minutes": "20",
            },
        )
        assert sent.status_code == 303, sent.text

        change_appeal(
            pages,
            appeal_id,
            panel={
                "meeting_at": "2026-07-01T14:30:00+01:00",
                "location": "County Hall",
                "members": [{"name": "Sam Chair", "role": "Chair"}],
            },
        )
        outcome = {
            "csrf_token": csrf,
            "upheld": "yes",
            "reasons": "The review missed the diary.",
            "rec-2-agency": "Leicestershire Police",
            "rec-2-action": "Visit weekly.",
            "rec-2-due-day": "15",
            "rec-2-due-month": "1",
            "rec-2-due-year": "2027",
            "lessons": "",
        }
        sent = await browser.post("/appeal/chair/outcome", data=outcome)
        assert sent.status_code == 303
        # Sent twice (a double click without JavaScript): the same update, and the same submission.
        assert (await browser.post("/appeal/chair/outcome", data=outcome)).status_code == 303

    kinds = {s.kind: s for s in submissions_of(pages, reference)}
    assert sorted(kinds) == ["appeal_acknowledgement", "appeal_criteria", "appeal_decision", "appeal_panel"]
    assert all(s.submitted_by == f"{CHAIR_NAME} (appeal chair)" for s in kinds.values())
    assert kinds["appeal_acknowledgement"].body == {"note": "Papers received."}
    assert kinds["appeal_criteria"].body == {
        "met": True,
        "reasons": "The diary was missed.",
        "lessons": "Share diaries.",
    }
    assert kinds["appeal_panel"].body == {
        "meeting_at": "2026-07-01T14:30:00+01:00",
        "location": "County Hall, Glenfield",
        "members": [
            {"name": "Sam Chair", "role": "Chair"},
            {"name": "Jo Officer", "role": "Police inspector"},
        ],
        "victim_attends_minutes": 20,
    }
    assert kinds["appeal_decision"].body == {
        "upheld": True,
        "reasons": "The review missed the diary.",
        "recommendations": [
            {"agency": "Leicestershire Police", "action": "Visit weekly.", "due_on": "2027-01-15"}
        ],
        "lessons": "",
    }
    assert [(u["workflow_id"], u["update"], u["args"]) for u in recorded_updates] == [
        (
            f"Appeal:{reference}",
            AppealWorkflow.acknowledge,
            [chair_actor, AcknowledgementRecord(submission_id=kinds["appeal_acknowledgement"].id)],
        ),
        (
            f"Appeal:{reference}",
            AppealWorkflow.decide_criteria,
            [
                chair_actor,
                CriteriaRecord(met=True, has_lessons=True, submission_id=kinds["appeal_criteria"].id),
            ],
        ),
        (
            f"Appeal:{reference}",
            AppealWorkflow.record_panel,
            [
                chair_actor,
                AppealPanelRecord(
                    meeting_at=dt.datetime(2026, 7, 1, 14, 30, tzinfo=LONDON),
                    submission_id=kinds["appeal_panel"].id,
                ),
            ],
        ),
        (
            f"Appeal:{reference}",
            AppealWorkflow.decide,
            [
                chair_actor,
                AppealDecisionRecord(
                    upheld=True,
                    recommendation_count=1,
                    has_lessons=False,
                    submission_id=kinds["appeal_decision"].id,
                ),
            ],
        ),
        (
            f"Appeal:{reference}",
            AppealWorkflow.decide,
            [
                chair_actor,
                AppealDecisionRecord(
                    upheld=True,
                    recommendation_count=1,
                    has_lessons=False,
                    submission_id=kinds["appeal_decision"].id,
                ),
            ],
        ),
    ]
    assert recorded_updates[3]["update_id"] == recorded_updates[4]["update_id"]
    assert recorded_updates[3]["update_id"] == kinds["appeal_decision"].submission_key
    done = [
        (e.action, e.detail)
        for e in audit_of(pages, reference)
        if not e.action.endswith(("_viewed", "_opened"))
    ]
    assert done == [
        ("appeal_acknowledged", "acknowledged"),
        ("appeal_criteria_decided", "grounds met"),
        ("appeal_panel_recorded", "2 member(s)"),
        ("appeal_outcome_recorded", "upheld; 1 recommendation(s)"),
        ("appeal_outcome_recorded", "upheld; 1 recommendation(s)"),
    ]


async def test_a_step_the_workflow_refuses_shows_its_reason_and_keeps_nothing(
    pages: Pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, appeal_id = make_appeal(
        pages,
        stage="appeal_panel",
        acknowledgement={"note": ""},
        criteria={"met": True, "reasons": "x", "lessons": ""},
        panel={
            "meeting_at": "2026-11-19T10:00:00+00:00",
            "location": "County Hall",
            "members": [{"name": "A", "role": "B"}],
        },
    )

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise WorkflowUpdateFailedError(
            ApplicationError(
                "The appeal panel has not met yet: record the outcome after the meeting.",
                type="StageConflict",
            )
        )

    monkeypatch.setattr(case_updates, "execute_workflow_update", refuse)
    async with chair_browser(pages, appeal_id) as browser:
        csrf = await csrf_of(browser, "/appeal/chair")
        response = await browser.post(
            "/appeal/chair/outcome", data={"csrf_token": csrf, "upheld": "no", "reasons": "Not upheld."}
        )
    assert response.status_code == 409
    assert "The appeal panel has not met yet" in response.text
    assert submissions_of(pages, reference) == []
    assert refusals(pages, reference, "appeal_chair_step_refused") == ["outcome: refused"]


async def test_what_people_typed_stays_text_and_the_pages_markup_stays_markup(pages: Pages) -> None:
    typed = "<b>Sons</b> & <a href='x'>daughters</a>"
    reference, appeal_id = make_appeal(
        pages,
        stage="appeal_panel",
        grounds=[1, 2, 9],
        acknowledgement={"note": typed},
        criteria={"met": True, "reasons": f"{typed}\nline two", "lessons": ""},
        panel={
            "meeting_at": "2026-11-19T10:00:00+00:00",
            "location": typed,
            "members": [{"name": typed, "role": "Chair"}, {"name": "Jo", "role": "Member"}],
        },
    )
    with pages.sessions.begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        case.appeal_request = {"received_on": "2026-10-20", "grounds": [1, 2, 9], "explanation": typed}
        case.panel_decision = {
            "findings": typed,
            "recommendations": [{"agency": typed, "action": typed, "due_on": "x"}],
        }
    async with chair_browser(pages, appeal_id) as browser:
        page = await browser.get("/appeal/chair")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<b>Sons</b>" not in html and "&lt;b&gt;Sons&lt;/b&gt;" in html
    assert "<a href='x'>" not in html
    # The pages' own markup is not escaped into text.
    for escaped in ("&lt;br", "&lt;p", "&lt;strong", "&lt;a class"):
        assert escaped not in html, escaped
    assert "line two" in html and "<br>line two" in html.replace("\n", "")
    # An unknown ground's number is shown as a number; a bad date as it was stored.
    assert "Ground 9: not in the council&#39;s list of grounds" in html and f"Ground 2: {GROUND_2}" in html
    assert "Ground 1: The review failed to consider a relevant process" in html


async def test_unknown_done_values_show_no_banner(pages: Pages) -> None:
    _, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as browser:
        page = await browser.get("/appeal/chair", params={"done": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "govuk-notification-banner" not in page.text and "alert(1)" not in page.text


# ---- the audit trail and the logs --------------------------------------------------------------


async def test_the_audit_trail_holds_no_token_or_personal_data(pages: Pages) -> None:
    reference, appeal_id = make_appeal(pages)
    link = chair_link(pages, appeal_id)
    secrets = [link, hash_token(link)]
    async with pages.browser() as browser:
        await open_as(browser, link, "/appeal/chair")
        session_token = browser.cookies["appeal_session"]
        secrets += [session_token, hash_token(session_token)]
        csrf = await csrf_of(browser, "/appeal/chair")
        secrets.append(csrf)
        await browser.post(
            "/appeal/chair/acknowledge", data={"csrf_token": csrf, "note": "Alex Example " * 200}
        )
    tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
    async with pages.browser() as stranger:
        await stranger.get(f"/appeal/r/{tampered}")
    assert [(e.action, e.actor) for e in audit_of(pages, reference)] == [
        ("appeal_link_opened", f"appeal chair: {CHAIR_NAME}"),
        ("appeal_bundle_viewed", f"appeal chair: {CHAIR_NAME}"),
        ("appeal_chair_step_refused", f"appeal chair: {CHAIR_NAME}"),
    ]
    for entry in audit_of(pages):
        text = f"{entry.actor} {entry.detail}"
        for secret in secrets:
            assert secret not in text
        for personal in (*PERSONAL, EXPLANATION):
            assert personal not in text


async def test_link_tokens_are_kept_out_of_access_logs() -> None:
    token = "A" * 43
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/appeal/r/{token}?x=1", "1.1", 303),
        None,
    )
    assert _RedactAppealLinks().filter(record)
    assert token not in record.getMessage() and "/appeal/r/[redacted]?x=1" in record.getMessage()
    assert any(isinstance(f, _RedactAppealLinks) for f in logging.getLogger("uvicorn.access").filters)


async def test_opening_links_is_rate_limited(pages: Pages) -> None:
    _, appeal_id = make_appeal(pages)
    limited = pages.settings.model_copy(
        update={"rate_limits_enabled": True, "rate_limit_agency_link_per_hour": 2}
    )
    pages.app.dependency_overrides[get_settings] = lambda: limited
    pages.app.state.rate_limiter = None
    try:
        token = chair_link(pages, appeal_id)
        async with pages.browser() as browser:
            statuses = [(await browser.get(f"/appeal/r/{token}")).status_code for _ in range(3)]
            last = await browser.get(f"/appeal/r/{token}")
    finally:
        pages.app.dependency_overrides[get_settings] = lambda: pages.settings
        pages.app.state.rate_limiter = None
    assert statuses == [303, 303, 429]
    assert last.status_code == 429 and "Retry-After" in last.headers
