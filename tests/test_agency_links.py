"""The agency reply pages end to end: a link from the request email, exchanged for a session, the reply
page and its form, the answer reaching the real case workflow, and every way a link or form is refused.

Real parts throughout (the API app, Temporal's time-skipping server and worker, SQLite, the SMTP sink).
Links are made here straight in the database for a request the real workflow opened, so each test
controls its link's expiry and revocation; one test also follows the link in the real request email.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode

import api.agency.forms as agency_forms
from api.deps import temporal_client_or_none
from db.models import AccessToken, Attachment, AuditEntry, Case, InformationRequest
from domain.links import TokenPurpose, hash_token, link_expires_at, new_token
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLICE = "threshold:leicestershire-police"
HOUSING = "threshold:east-midlands-homes"
SPOC_EMAIL = "community.trigger@blaby.council.example"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
# What a browser sends for a file input left empty.
NO_FILE = [("attachments", ("", b"", "application/octet-stream"))]
MB = 1024 * 1024


# ---- helpers ---------------------------------------------------------------------------------


def issue_link(
    sessions: Any,
    reference: str,
    request_key: str,
    expires_at: dt.datetime | None = None,
    purpose: TokenPurpose = TokenPurpose.AGENCY_LINK,
) -> str:
    """A new link token for a request of an existing case, stored (hashed) as the request email's would be."""
    token, digest = new_token()
    with sessions.begin() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        request = session.scalar(
            select(InformationRequest).where(
                InformationRequest.case_id == case.id, InformationRequest.request_key == request_key
            )
        )
        assert request is not None, f"no request {request_key} on {reference}"
        session.add(
            AccessToken(
                token_hash=digest,
                purpose=purpose.value,
                case_id=case.id,
                request_id=request.id,
                issued_at=dt.datetime.now(dt.UTC),
                expires_at=expires_at or link_expires_at(request.due_on, 15, "england-and-wales"),
                use_count=0,
            )
        )
    return token


def token_row(sessions: Any, token: str) -> AccessToken:
    with sessions() as session:
        row = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(token)))
        assert row is not None
        return row


def change_token(sessions: Any, token: str, **values: Any) -> None:
    with sessions.begin() as session:
        row = session.scalar(select(AccessToken).where(AccessToken.token_hash == hash_token(token)))
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def attachments_of(sessions: Any, reference: str, request_key: str) -> list[Attachment]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Attachment)
                .join(InformationRequest, Attachment.request_id == InformationRequest.id)
                .join(Case, Case.id == InformationRequest.case_id)
                .where(Case.reference == reference, InformationRequest.request_key == request_key)
                .order_by(Attachment.id)
            )
        )


def audit_of(sessions: Any, reference: str | None = None) -> list[AuditEntry]:
    with sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action.like("agency_%")).order_by(AuditEntry.id)
        if reference is not None:
            query = query.where(AuditEntry.case_reference == reference)
        return list(session.scalars(query))


def request_of(case: dict[str, Any], key: str) -> dict[str, Any]:
    return next(r for r in case["information_requests"] if r["request_key"] == key)


def answers_recorded(case: dict[str, Any], key: str) -> int:
    return sum(
        1 for entry in case["chronology"] if f"Answer to information request {key} recorded" in entry["event"]
    )


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def main_content(html: str) -> str:
    match = re.search(r'<main class="govuk-main-wrapper" id="main-content">(.*)</main>', html, re.S)
    assert match
    return match.group(1)


def answer(csrf: str, **overrides: str) -> dict[str, str]:
    body = {
        "csrf_token": csrf,
        "responder_name": "Sam Officer",
        "responder_role": "ASB coordinator",
        "records_found": "Two reports: 12 May (ref LP-1001) and 2 June (ref LP-1044).",
        "actions_taken": "Officers visited on 3 June and gave advice.",
        "behaviour_continues": "yes",
        "risk_to_victim": "Medium: the victim lives alone.",
        "supports_threshold": "yes",
        "notes": "",
    }
    body.update(overrides)
    return body


async def open_case(service: CaseService, **overrides: Any) -> str:
    return await service.open_case(application(today=await service.today(), **overrides))


async def open_link(browser: httpx.AsyncClient, token: str) -> httpx.Response:
    response = await browser.get(f"/agency/r/{token}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/agency/reply"
    return response


async def reply_form(browser: httpx.AsyncClient) -> str:
    """The reply page's CSRF token (the page must be the form)."""
    page = await browser.get("/agency/reply")
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf_token")


def assert_agency_headers(response: httpx.Response) -> None:
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self' 'nonce-" in csp
    assert "unsafe-inline" not in csp


def assert_refusal_page(response: httpx.Response, reference: str, *secrets: str) -> None:
    assert response.status_code == 404
    assert_agency_headers(response)
    assert "This link cannot be used" in response.text
    assert 'action="/agency/new-link"' in response.text
    for secret in (reference, "Alex Example", "Leicestershire Police", "Blaby", *secrets):
        assert secret not in response.text


# ---- opening a link --------------------------------------------------------------------------


async def test_open_link_exchanges_token_for_session_cookie(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        response = await open_link(browser, token)
        assert_agency_headers(response)
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("agency_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/agency" in cookie
        # Not Secure: the test service's public address is http.
        assert "Secure" not in cookie
        session_token = browser.cookies["agency_session"]
        assert session_token != token and token not in cookie

    link = token_row(service.sessions, token)
    assert link.use_count == 1 and link.first_used_at is not None
    session_row = token_row(service.sessions, session_token)
    assert session_row.purpose == "agency_session" and session_row.link_id == link.id
    now = await service.now()
    assert now < session_row.expires_at <= now + dt.timedelta(hours=4)

    # Links stay usable (mail scanners open them first): a second opening gives another session.
    async with service.browser() as other:
        await open_link(other, token)
        assert other.cookies["agency_session"] != session_token
    assert token_row(service.sessions, token).use_count == 2


async def test_reply_page_shows_only_what_the_agency_needs(service: CaseService) -> None:
    reference = await open_case(
        service,
        applicant={
            "name": "Alex Example",
            "email": "alex@example.test",
            "phone": "07700 900123",
            "address": "1 High Street, Narborough",
            "postcode": "LE19 2AA",
            "is_business": False,
        },
        hate_incident=True,
        hate_incident_details="Shouted abuse about my religion at the bus stop.",
    )
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        page = await browser.get("/agency/reply")
    assert page.status_code == 200
    assert_agency_headers(page)
    html = page.text
    for shown in (reference, "Alex Example", "1 High Street, Narborough", "LE19 2AA", "REF-60"):
        assert shown in html
    assert "Leicestershire Police" in html and SPOC_EMAIL in html
    # Not the applicant's contact details, other agencies' incidents, hate-incident details or the assessment.
    for hidden_text in (
        "alex@example.test",
        "07700 900123",
        "REF-40",
        "REF-20",
        "East Midlands Homes",
        "religion",
        "three_incidents",
    ):
        assert hidden_text not in html
    # A GOV.UK form that works without JavaScript, with its CSRF token.
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert 'type="file"' in html and 'name="behaviour_continues"' in html
    assert '<link rel="stylesheet" href="/static/govuk-frontend/govuk-frontend.min.css">' in html
    assert html.index("govuk-frontend.min.css") < html.index('href="/static/agency/agency.css"')
    # A council service, not GOV.UK: the generic header, no crown.
    assert "govuk-generic-header" in html and "govuk-header__logotype" not in html
    nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce and f'<script nonce="{nonce.group(1)}">' in html

    # The housing provider's page lists its own incident only.
    housing = issue_link(service.sessions, reference, HOUSING)
    async with service.browser() as browser:
        await open_link(browser, housing)
        html = (await browser.get("/agency/reply")).text
    assert "REF-20" in html and "REF-60" not in html and "REF-40" not in html


async def test_govuk_frontend_assets_are_served(service: CaseService) -> None:
    css = await service.api.get("/static/govuk-frontend/govuk-frontend.min.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    # The CSS asks for its fonts and images at /assets.
    for path in set(re.findall(r"url\((/assets/[^)]+)\)", css.text)):
        assert (await service.api.get(path)).status_code == 200, path
    assert (await service.api.get("/static/agency/init.js")).status_code == 200
    # GDS Transport is for GOV.UK only: our stylesheet puts Arial in its place.
    ours = await service.api.get("/static/agency/agency.css")
    assert ours.status_code == 200 and 'font-family: "GDS Transport"' in ours.text and "Arial" in ours.text


# ---- answering ----------------------------------------------------------------------------------


async def test_submit_answer_reaches_case_and_a_second_changes_nothing(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)
        # No confirmation before there is an answer.
        early = await browser.get("/agency/reply/confirmation")
        assert early.status_code == 303 and early.headers["location"] == "/agency/reply"
        sent = await browser.post("/agency/reply", data=answer(csrf), files=NO_FILE)
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == "/agency/reply/confirmation"
        assert_agency_headers(sent)

        confirmation = await browser.get("/agency/reply/confirmation")
        assert confirmation.status_code == 200
        assert "govuk-panel--confirmation" in confirmation.text and reference in confirmation.text
        assert "What happens next" in confirmation.text

        # The SPOC sees it on the case at once.
        case = await service.case(reference)
        police = request_of(case, POLICE)
        assert police["state"] == "answered"
        response = police["response"]
        assert response["received_by"] == "email_link"
        assert response["records_found"] == answer(csrf)["records_found"]
        assert response["behaviour_continues"] is True and response["supports_threshold"] is True
        assert response["responder_name"] == "Sam Officer" and response["responder_role"] == "ASB coordinator"
        assert answers_recorded(case, POLICE) == 1
        assert any("Leicestershire Police (agency)" == entry["actor"] for entry in case["chronology"])

        # The page now says it is answered; a second post changes nothing.
        again = await browser.get("/agency/reply")
        assert again.status_code == 200 and "already been answered" in again.text
        assert 'name="records_found"' not in again.text
        second = await browser.post(
            "/agency/reply", data=answer(csrf, records_found="Something different."), files=NO_FILE
        )
        assert second.status_code == 200 and "already been answered" in second.text

    case = await service.case(reference)
    assert request_of(case, POLICE)["response"]["records_found"] == answer(csrf)["records_found"]
    assert answers_recorded(case, POLICE) == 1


async def test_two_concurrent_answers_record_exactly_one(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as first, service.browser() as second:
        await open_link(first, token)
        await open_link(second, token)
        csrfs = [await reply_form(first), await reply_form(second)]
        posts = await asyncio.gather(
            first.post(
                "/agency/reply",
                data=answer(csrfs[0], records_found="Answer from the first browser."),
                files=[("attachments", ("first.pdf", PDF + b"first", "application/pdf"))],
            ),
            second.post(
                "/agency/reply",
                data=answer(csrfs[1], records_found="Answer from the second browser."),
                files=[("attachments", ("second.pdf", PDF + b"second", "application/pdf"))],
            ),
        )
    statuses = sorted(post.status_code for post in posts)
    assert statuses == [200, 303], [post.text for post in posts]
    loser = next(post for post in posts if post.status_code == 200)
    assert "already been answered" in loser.text
    winner = 0 if posts[0].status_code == 303 else 1

    case = await service.case(reference)
    assert answers_recorded(case, POLICE) == 1
    recorded = request_of(case, POLICE)["response"]
    assert (
        recorded["records_found"]
        == ("Answer from the first browser.", "Answer from the second browser.")[winner]
    )
    # Only the winner's file is kept, and it is the one the answer names.
    files = attachments_of(service.sessions, reference, POLICE)
    assert [f.filename for f in files] == [("first.pdf", "second.pdf")[winner]]
    assert recorded["attachment_ids"] == [files[0].id]


async def test_valid_pdf_attachment_is_stored_with_the_request(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)
        sent = await browser.post(
            "/agency/reply",
            data=answer(csrf),
            files=[("attachments", ("C:\\Reports\\Incident log <May>.PDF", PDF, "application/octet-stream"))],
        )
        assert sent.status_code == 303, sent.text
    files = attachments_of(service.sessions, reference, POLICE)
    assert len(files) == 1
    stored = files[0]
    # The path is dropped and the name made safe; the type comes from the content, not the browser.
    assert stored.filename == "Incident log _May_.pdf"
    assert stored.content_type == "application/pdf" and stored.content == PDF and stored.size == len(PDF)
    # Accepted with the answer, so the SPOC sees it on the case.
    assert stored.accepted is True
    police = request_of(await service.case(reference), POLICE)
    assert police["response"]["attachment_ids"] == [stored.id]
    assert [(a["id"], a["filename"]) for a in police["attachments"]] == [(stored.id, stored.filename)]


async def test_csrf_token_missing_or_wrong_is_refused_and_nothing_recorded(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)
        missing = answer(csrf)
        del missing["csrf_token"]
        for body in (missing, answer("0" * 64), answer(csrf[:-1] + ("0" if csrf[-1] != "0" else "1"))):
            refused = await browser.post(
                "/agency/reply",
                data=body,
                files=[("attachments", ("log.pdf", PDF, "application/pdf"))],
            )
            assert refused.status_code == 400
            assert_agency_headers(refused)
            assert "could not be sent" in refused.text
        # Another session's token does not do either.
        async with service.browser() as other:
            await open_link(other, token)
            stolen = await reply_form(other)
        refused = await browser.post("/agency/reply", data=answer(stolen), files=NO_FILE)
        assert refused.status_code == 400

    case = await service.case(reference)
    assert request_of(case, POLICE)["state"] == "requested"
    assert answers_recorded(case, POLICE) == 0
    assert attachments_of(service.sessions, reference, POLICE) == []
    details = [
        e.detail or "" for e in audit_of(service.sessions, reference) if e.action == "agency_answer_refused"
    ]
    assert sum(detail.startswith("csrf") for detail in details) == 4


async def test_missing_fields_and_bad_attachments_show_errors_and_keep_the_text(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)

        blank = await browser.post(
            "/agency/reply",
            data=answer(csrf, responder_name="", behaviour_continues="", actions_taken="Visited twice."),
            files=NO_FILE,
        )
        assert blank.status_code == 422
        assert "<title>Error: " in blank.text and "There is a problem" in blank.text
        assert '<a href="#responder_name">Enter your name</a>' in blank.text
        assert (
            '<a href="#behaviour_continues">Select whether the behaviour is still going on</a>' in blank.text
        )
        assert "Visited twice.</textarea>" in blank.text

        too_long = await browser.post(
            "/agency/reply", data=answer(csrf, risk_to_victim="x" * 5001), files=NO_FILE
        )
        assert too_long.status_code == 422
        assert "What you know about risk to the victim must be 5,000 characters or fewer" in too_long.text

        bad_files = await browser.post(
            "/agency/reply",
            data=answer(csrf),
            files=[
                ("attachments", ("tool.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")),
                ("attachments", ("run.exe", b"MZ\x90\x00", "application/octet-stream")),
                ("attachments", ("big.pdf", PDF + b"0" * (10 * MB), "application/pdf")),
                ("attachments", ("notes.txt", b"\xff\xfe bad text", "text/plain")),
            ],
        )
        assert bad_files.status_code == 422
        text = bad_files.text
        assert (
            "tool.pdf must be a PDF, Word (.docx), Excel (.xlsx), PNG, JPEG, text (.txt) or CSV file" in text
        )
        assert "run.exe must be a PDF" in text and "notes.txt must be a PDF" in text
        assert "big.pdf must be smaller than 10MB" in text
        assert "choose your files again" in text
        # The text typed is kept.
        assert answer(csrf)["records_found"] + "</textarea>" in text

        too_much = await browser.post(
            "/agency/reply",
            data=answer(csrf),
            files=[
                ("attachments", (f"part-{n}.pdf", PDF + b"0" * (8 * MB), "application/pdf")) for n in range(3)
            ],
        )
        assert too_much.status_code == 422
        assert "The selected files must be smaller than 20MB in total" in too_much.text

        too_many = await browser.post(
            "/agency/reply",
            data=answer(csrf),
            files=[("attachments", (f"p{n}.pdf", PDF, "application/pdf")) for n in range(6)],
        )
        assert too_many.status_code == 422 and "Select up to 5 files" in too_many.text

    case = await service.case(reference)
    assert request_of(case, POLICE)["state"] == "requested"
    assert answers_recorded(case, POLICE) == 0
    assert attachments_of(service.sessions, reference, POLICE) == []


class _UnavailableTemporal:
    """A Temporal client whose server cannot be reached."""

    def get_workflow_handle(self, workflow_id: str) -> _UnavailableTemporal:
        return self

    async def execute_update(self, *args: Any, **kwargs: Any) -> Any:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


async def test_case_service_unavailable_sends_nothing_and_keeps_the_text(
    service: CaseService, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)
        monkeypatch.setitem(service.app.dependency_overrides, temporal_client_or_none, _UnavailableTemporal)
        failed = await browser.post(
            "/agency/reply",
            data=answer(csrf, notes="Please call me."),
            files=[("attachments", ("log.pdf", PDF, "application/pdf"))],
        )
        assert failed.status_code == 503
        assert "Your answer has not been sent" in failed.text and "nothing was sent" in failed.text
        assert "Please call me.</textarea>" in failed.text and "Choose your files again" in failed.text
        # The files staged for it are gone.
        assert attachments_of(service.sessions, reference, POLICE) == []
        assert request_of(await service.case(reference), POLICE)["state"] == "requested"

        # Once the service is back, the same answer goes through.
        monkeypatch.undo()
        sent = await browser.post(
            "/agency/reply", data=answer(csrf), files=[("attachments", ("log.pdf", PDF, "application/pdf"))]
        )
        assert sent.status_code == 303, sent.text
    assert len(attachments_of(service.sessions, reference, POLICE)) == 1
    assert answers_recorded(await service.case(reference), POLICE) == 1


async def test_a_body_over_the_limit_is_not_read(
    service: CaseService, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    monkeypatch.setattr(agency_forms, "MAX_BODY_BYTES", 64 * 1024)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)
        refused = await browser.post(
            "/agency/reply",
            data=answer(csrf),
            files=[("attachments", ("big.pdf", PDF + b"0" * (128 * 1024), "application/pdf"))],
        )
        assert refused.status_code == 413
        assert "There is a problem" in refused.text and "smaller than 20MB in total" in refused.text

        # The same without a Content-Length (sent in chunks): reading stops once the limit is passed.
        body = httpx.Request(
            "POST",
            "http://testserver/agency/reply",
            data=answer(csrf),
            files=[("attachments", ("big.pdf", PDF + b"0" * (128 * 1024), "application/pdf"))],
        )
        encoded = body.read()

        async def chunks() -> Any:
            for start in range(0, len(encoded), 8192):
                yield encoded[start : start + 8192]

        streamed = await browser.post(
            "/agency/reply", content=chunks(), headers={"Content-Type": body.headers["Content-Type"]}
        )
        assert "content-length" not in {k.lower() for k in streamed.request.headers}
        assert streamed.status_code == 413
    assert attachments_of(service.sessions, reference, POLICE) == []
    assert request_of(await service.case(reference), POLICE)["state"] == "requested"


# ---- refusals --------------------------------------------------------------------------------


async def test_tampered_and_malformed_links_are_refused_without_revealing_the_case(
    service: CaseService,
) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    async with service.browser() as browser:
        for path in (f"/agency/r/{tampered}", "/agency/r/short", "/agency/r/a/b", "/agency/r/"):
            response = await browser.get(path)
            assert_refusal_page(response, reference, token)
            assert "agency_session" not in browser.cookies
    # The tampered token goes back in the new-link form's body; a path of another shape does not.
    response = await service.api.get(f"/agency/r/{tampered}")
    assert hidden(response.text, "token") == tampered
    response = await service.api.get("/agency/r/%3Cscript%3E")
    assert hidden(response.text, "token") == "" and "<script>" not in response.text
    assert token_row(service.sessions, token).use_count == 0


async def test_expired_and_revoked_links_are_refused(service: CaseService) -> None:
    reference = await open_case(service)
    now = await service.now()
    expired = issue_link(service.sessions, reference, POLICE, expires_at=now - dt.timedelta(minutes=1))
    revoked = issue_link(service.sessions, reference, POLICE)
    change_token(service.sessions, revoked, revoked_at=now, revoked_reason="resent")
    async with service.browser() as browser:
        assert_refusal_page(await browser.get(f"/agency/r/{expired}"), reference)
        assert_refusal_page(await browser.get(f"/agency/r/{revoked}"), reference)
        assert "agency_session" not in browser.cookies
    details = [e.detail for e in audit_of(service.sessions, reference) if e.action == "agency_link_refused"]
    assert f"expired; request {POLICE}" in details and f"revoked; request {POLICE}" in details


async def test_a_session_revoked_with_its_link_stops_working(service: CaseService) -> None:
    reference = await open_case(service)
    token = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, token)
        csrf = await reply_form(browser)
        change_token(service.sessions, token, revoked_at=await service.now(), revoked_reason="resent")
        page = await browser.get("/agency/reply")
        assert page.status_code == 401 and "Open the link in your email again" in page.text
        assert reference not in page.text
        refused = await browser.post("/agency/reply", data=answer(csrf), files=NO_FILE)
        assert refused.status_code == 401
    assert request_of(await service.case(reference), POLICE)["state"] == "requested"


async def test_tokens_are_not_accepted_for_the_other_purpose(service: CaseService) -> None:
    reference = await open_case(service)
    link = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, link)
        session_token = browser.cookies["agency_session"]
    async with service.browser() as browser:
        # A session token used as a link.
        assert_refusal_page(await browser.get(f"/agency/r/{session_token}"), reference)
        # A link token used as the session cookie.
        page = await browser.get("/agency/reply", headers={"Cookie": f"agency_session={link}"})
        assert page.status_code == 401
        assert_agency_headers(page)
        assert "Open the link in your email again" in page.text and reference not in page.text
    async with service.browser() as browser:
        page = await browser.get("/agency/reply")
        assert page.status_code == 401 and reference not in page.text
    refusals = [
        (e.action, e.detail) for e in audit_of(service.sessions, reference) if e.action.endswith("_refused")
    ]
    assert ("agency_link_refused", f"wrong_purpose; request {POLICE}") in refusals
    assert ("agency_session_refused", "wrong_purpose") in refusals


async def test_an_idle_session_expires(service: CaseService) -> None:
    reference = await open_case(service)
    link = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, link)
        session_token = browser.cookies["agency_session"]
        change_token(
            service.sessions, session_token, expires_at=await service.now() - dt.timedelta(seconds=1)
        )
        page = await browser.get("/agency/reply")
        assert page.status_code == 401 and reference not in page.text
        # The ended session's cookie is removed.
        assert 'agency_session=""' in page.headers["set-cookie"]


async def test_links_and_sessions_of_a_closed_case_are_refused(service: CaseService) -> None:
    reference = await open_case(service)
    link = issue_link(service.sessions, reference, POLICE)
    async with service.browser() as browser:
        await open_link(browser, link)
        csrf = await reply_form(browser)
        withdrawn = await service.act(
            reference, "withdraw", {"reason": "Moved away.", "requested_by": "applicant"}
        )
        assert withdrawn.status_code == 200, withdrawn.text
        await service.wait_for(reference, lambda c: c["stage"] == "closed")

        closed = await browser.post("/agency/reply", data=answer(csrf), files=NO_FILE)
        assert closed.status_code == 410 and "This request is closed" in closed.text
        assert "Nothing you entered has been sent" in closed.text
    async with service.browser() as browser:
        assert_refusal_page(await browser.get(f"/agency/r/{link}"), reference)
    # Nothing was recorded: the request closed with the case, unanswered.
    closed_request = request_of(await service.case(reference), POLICE)
    assert closed_request["state"] == "closed" and closed_request["response"] is None
    assert [e.detail for e in audit_of(service.sessions, reference) if e.action == "agency_link_refused"] == [
        f"closed; request {POLICE}"
    ]


# ---- asking for a new link -------------------------------------------------------------------


async def test_new_link_form_answers_alike_and_tells_the_spoc_for_a_known_link(service: CaseService) -> None:
    reference = await open_case(service)
    known = issue_link(service.sessions, reference, POLICE)
    change_token(service.sessions, known, revoked_at=await service.now(), revoked_reason="resent")
    unknown = new_token()[0]
    pages = []
    for token in (known, unknown):
        async with service.browser() as browser:
            refusal = await browser.get(f"/agency/r/{token}")
            assert_refusal_page(refusal, reference)
            form = {"token": hidden(refusal.text, "token"), "csrf_token": hidden(refusal.text, "csrf_token")}
            assert form["token"] == token
            asked = await browser.post("/agency/new-link", data=form)
            assert asked.status_code == 200
            assert_agency_headers(asked)
            assert "If this link came from us" in asked.text and reference not in asked.text
            pages.append(main_content(asked.text))
    # Nothing on the page tells whether the link was ours.
    assert pages[0] == pages[1]

    # A forged form (no token from our page) is refused and asks nobody.
    async with service.browser() as browser:
        forged = await browser.post("/agency/new-link", data={"token": known, "csrf_token": "0" * 64})
        assert forged.status_code == 400

    case = await service.wait_for(
        reference, lambda c: any("asked for a new link" in entry["event"] for entry in c["chronology"])
    )
    assert sum("asked for a new link" in entry["event"] for entry in case["chronology"]) == 1
    # The SPOC is emailed (by the workflow's notify_staff activity).
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        spoc_mail = [
            message
            for message in service.mail_about(reference)
            if str(message["To"]) == SPOC_EMAIL and "New link asked for" in str(message["Subject"])
        ]
        if spoc_mail or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(spoc_mail) == 1
    asked = [e for e in audit_of(service.sessions) if e.action == "agency_new_link_requested"]
    assert any(e.case_reference == reference and e.detail == f"SPOC asked; request {POLICE}" for e in asked)
    assert any(e.actor == "unknown link" and e.detail == "unknown" for e in asked)


# ---- the real request email, and the audit trail -----------------------------------------------


async def test_link_in_the_request_email_opens_the_reply_page(service: CaseService) -> None:
    reference = await open_case(service)
    police_mail = [
        message
        for message in service.mail_about(reference)
        if str(message["To"]) == "asb.casereview@leicestershire-police.example"
    ]
    assert police_mail
    body = police_mail[0].get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"http://testserver(/agency/r/[A-Za-z0-9_-]{43})", body.get_content())
    assert match is not None, f"the request email to the police carries no agency link:\n{body.get_content()}"
    async with service.browser() as browser:
        opened = await browser.get(match.group(1))
        assert opened.status_code == 303
        page = await browser.get("/agency/reply")
        assert page.status_code == 200 and reference in page.text and "REF-60" in page.text


async def test_every_use_and_refusal_is_audited_without_tokens(service: CaseService) -> None:
    reference = await open_case(service)
    link = issue_link(service.sessions, reference, POLICE)
    secrets = [link, hash_token(link)]
    async with service.browser() as browser:
        await open_link(browser, link)
        session_token = browser.cookies["agency_session"]
        secrets += [session_token, hash_token(session_token)]
        csrf = await reply_form(browser)
        secrets.append(csrf)
        assert (
            await browser.post("/agency/reply", data=answer(csrf, responder_name=""), files=NO_FILE)
        ).status_code == 422
        assert (await browser.post("/agency/reply", data=answer(csrf), files=NO_FILE)).status_code == 303
        assert (await browser.post("/agency/reply", data=answer(csrf), files=NO_FILE)).status_code == 200
    tampered = link[:-1] + ("A" if link[-1] != "A" else "B")
    assert (await service.api.get(f"/agency/r/{tampered}")).status_code == 404

    entries = audit_of(service.sessions, reference)
    assert [(e.action, e.actor) for e in entries] == [
        ("agency_link_opened", "agency: Leicestershire Police"),
        ("agency_reply_viewed", "agency: Leicestershire Police"),
        ("agency_answer_refused", "agency: Leicestershire Police"),
        ("agency_answer_submitted", "agency: Leicestershire Police"),
        ("agency_answer_refused", "agency: Leicestershire Police"),
    ]
    assert [e.detail for e in entries if e.action == "agency_answer_refused"] == [
        f"invalid; request {POLICE}",
        f"already_answered; request {POLICE}",
    ]
    unknown = [e for e in audit_of(service.sessions) if e.actor == "unknown link"]
    assert unknown and unknown[-1].action == "agency_link_refused" and unknown[-1].detail == "unknown"
    # No token, hash or CSRF value, and no personal data, anywhere in the agency audit trail.
    for entry in audit_of(service.sessions):
        text = f"{entry.actor} {entry.detail}"
        for secret in secrets:
            assert secret not in text
        assert "Alex Example" not in text and "Sam Officer" not in text


async def test_new_link_for_a_closed_case_says_it_is_closed_and_asks_nobody(service: CaseService) -> None:
    reference = await open_case(service)
    link = issue_link(service.sessions, reference, POLICE)
    withdrawn = await service.act(
        reference, "withdraw", {"reason": "Moved away.", "requested_by": "applicant"}
    )
    assert withdrawn.status_code == 200
    await service.wait_for(reference, lambda c: c["stage"] == "closed")
    async with service.browser() as browser:
        refusal = await browser.get(f"/agency/r/{link}")
        assert_refusal_page(refusal, reference)
        form = {"token": hidden(refusal.text, "token"), "csrf_token": hidden(refusal.text, "csrf_token")}
        asked = await browser.post("/agency/new-link", data=form)
    assert asked.status_code == 410
    said = " ".join(asked.text.split())
    assert "This case is closed" in said and "We have not asked anyone" in said
    assert reference not in asked.text
    await service.result(reference)
    case = await service.case(reference)
    assert not any("asked for a new link" in entry["event"] for entry in case["chronology"])
