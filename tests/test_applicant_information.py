"""The applicant adds information or a document from their case page (issue 12, section 2), through a
browser of its own against the real API, the case workflow on the time-skipping server, a real SMTP sink and
SQLite: what staff then see and download, the SPOC's notice (no personal data in it), one addition for a
form sent twice, a closed case's refusal, and each bad input shown on the page with nothing written."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.agency.uploads import MAX_FILE_BYTES
from api.applicant.information import ADDITIONS_A_DAY
from db.models import Attachment, AuditEntry, Case, ChronologyEntry, OutboxMessage, Submission
from tests.support import CaseService, application
from tests.test_appeals import csrf_of
from tests.test_applicant_pages import link_for, opened
from tests.test_case_workflow import next_working_morning

pytestmark = pytest.mark.asyncio(loop_scope="session")

FORM = "/case/add-information"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# What someone might type to break a page, a template or an email's headers.
INJECTION = "{{7*7}} <script>alert(1)</script>\r\nBcc: someone@example.test"
NOTICE = "applicant-information"


def form_key_of(page: str) -> str:
    found = re.search(r'name="form_key" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def form_fields(browser: httpx.AsyncClient) -> dict[str, str]:
    """The hidden fields of a freshly shown form."""
    form = await browser.get(FORM)
    assert form.status_code == 200, form.text
    return {"csrf_token": csrf_of(form.text), "form_key": form_key_of(form.text)}


def written(service: CaseService, reference: str) -> dict[str, int]:
    """What adding information writes, counted for the case."""
    with service.sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None

        def count(model: Any, *where: Any) -> int:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        return {
            "submissions": count(
                Submission, Submission.case_id == case.id, Submission.kind == "applicant_information"
            ),
            "attachments": count(
                Attachment, Attachment.case_id == case.id, Attachment.submission_id.is_not(None)
            ),
            "chronology": count(
                ChronologyEntry,
                ChronologyEntry.case_id == case.id,
                ChronologyEntry.event_key.startswith("applicant-information:"),
            ),
            "notices": count(
                OutboxMessage, OutboxMessage.case_reference == reference, OutboxMessage.purpose == NOTICE
            ),
            "audited": count(
                AuditEntry,
                AuditEntry.case_reference == reference,
                AuditEntry.action == "applicant_information_added",
            ),
        }


NOTHING = {"submissions": 0, "attachments": 0, "chronology": 0, "notices": 0, "audited": 0}


async def notice_mail(
    service: CaseService, reference: str, count: int = 1, timeout: float = 10.0
) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [
            m
            for m in service.mail_about(reference)
            if "Information added by the applicant" in str(m["Subject"])
        ]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no notice of added information for {reference}")
        await asyncio.sleep(0.1)


async def new_case(service: CaseService) -> tuple[str, str]:
    reference = await service.open_case(application(today=await next_working_morning(service)))
    return reference, await link_for(service, reference)


async def test_text_and_a_document_reach_staff_and_the_spoc_is_told(service: CaseService) -> None:
    reference, token = await new_case(service)
    async with opened(service, token) as browser:
        page = await browser.get("/case")
        assert 'href="/case/add-information"' in page.text and "Add information or a document" in page.text
        form = await browser.get(FORM)
        assert 'enctype="multipart/form-data"' in form.text and 'name="csrf_token"' in form.text
        fields = {"csrf_token": csrf_of(form.text), "form_key": form_key_of(form.text)}
        sent = await browser.post(
            FORM,
            data={**fields, "information": f"The noise went on until 3am.\r\n{INJECTION}"},
            files={"document": ("C:\\Users\\alex\\noise diary.pdf", PDF, "application/pdf")},
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/case?done=information", sent.text
        done = await browser.get("/case?done=information")
        assert "Your information has been sent to the team handling your case" in done.text

    assert written(service, reference) == {
        "submissions": 1,
        "attachments": 1,
        "chronology": 1,
        "notices": 1,
        "audited": 1,
    }
    response = await service.api.get(f"/api/cases/{reference}", headers=service.spoc())
    assert response.status_code == 200
    # Literally, as typed (its line break as one "\n", escaped in the JSON), never interpreted.
    assert r"3am.\n{{7*7}} <script>alert(1)</script>\nBcc: someone@example.test" in response.text
    case = response.json()
    [added] = case["applicant_information"]
    assert added["text"] == f"The noise went on until 3am.\n{INJECTION.replace(chr(13) + chr(10), chr(10))}"
    [document] = added["attachments"]
    assert document["filename"] == "noise diary.pdf" and document["content_type"] == "application/pdf"
    assert document["size"] == len(PDF)
    entry = next(e for e in case["chronology"] if "The applicant added" in e["event"])
    assert entry["event"] == "The applicant added information and a document."
    assert entry["actor"] == "Alex Example (applicant)"

    download = await service.api.get(document["url"], headers=service.spoc())
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-type"].startswith("application/pdf")
    # Staff of another locality see no such case, nor its file.
    assert (await service.api.get(document["url"], headers=service.spoc("harborough"))).status_code == 404
    assert (
        await service.api.get(f"/api/cases/{reference}", headers=service.spoc("harborough"))
    ).status_code == 404

    [mail] = await notice_mail(service, reference)
    assert mail["To"] == "community.trigger@blaby.council.example"
    assert "Bcc" not in mail and "someone@example.test" not in str(mail)
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert reference in text and f"/api/cases/{reference}" in text and "with a document" in text
    everything = mail.as_string()
    for personal in ("noise", "3am", "7*7", "alert", "Alex", "alex@", "High Street", "diary"):
        assert personal not in everything, personal
    [outbox] = service.outbox(reference, NOTICE)
    assert outbox.status == "sent"
    with service.sessions() as session:
        details = [
            e.detail or ""
            for e in session.scalars(select(AuditEntry).where(AuditEntry.case_reference == reference))
        ]
    assert not any("noise" in detail or "diary" in detail or "Alex" in detail for detail in details)


async def test_a_form_sent_twice_adds_once_and_a_new_form_adds_again(service: CaseService) -> None:
    reference, token = await new_case(service)
    async with opened(service, token) as browser:
        fields = await form_fields(browser)
        data = {**fields, "information": "The dog barked all night."}
        first = await browser.post(FORM, data=data)
        again = await browser.post(FORM, data=data)  # a refresh, or a second click
        assert first.status_code == again.status_code == 303, again.text
        both = await asyncio.gather(
            *(browser.post(FORM, data={**data, "form_key": fields["form_key"][::-1]}) for _ in range(2))
        )
        assert [answer.status_code for answer in both] == [303, 303], both[1].text
        assert written(service, reference)["submissions"] == 2
        # The same form, changed after it was sent (the back button): refused, nothing more written.
        changed = await browser.post(FORM, data={**data, "information": "Something else."})
        assert changed.status_code == 409 and "This form was sent already" in changed.text
        # A new form, even with the same words, is another addition.
        fresh = await form_fields(browser)
        assert fresh["form_key"] != fields["form_key"]
        assert (
            await browser.post(FORM, data={**fresh, "information": "The dog barked all night."})
        ).status_code == 303
    assert written(service, reference) == {
        "submissions": 3,
        "attachments": 0,
        "chronology": 3,
        "notices": 3,
        "audited": 3,
    }
    await notice_mail(service, reference, count=3)
    case = await service.case(reference)
    assert [a["text"] for a in case["applicant_information"]] == ["The dog barked all night."] * 3
    assert all(
        e["event"] == "The applicant added information."
        for e in case["chronology"]
        if "applicant added" in e["event"]
    )


async def test_a_closed_case_refuses_and_writes_nothing(service: CaseService) -> None:
    reference, token = await new_case(service)
    async with opened(service, token) as browser:
        fields = await form_fields(browser)
        form = await browser.get("/case/withdraw")
        withdrawn = await browser.post(
            "/case/withdraw/confirm", data={"csrf_token": csrf_of(form.text), "reason": ""}
        )
        assert withdrawn.status_code == 303, withdrawn.text
        await service.wait_for(reference, lambda c: c["stage"] == "closed")
        page = await browser.get("/case")
        assert "/case/add-information" not in page.text
        shown = await browser.get(FORM)
        assert shown.status_code == 409 and "Your case has closed, so nothing more can be added" in shown.text
        # A form shown before the case closed, sent after.
        late = await browser.post(
            FORM, data={**fields, "information": "More."}, files={"document": ("a.pdf", PDF)}
        )
        assert late.status_code == 409 and "Your case has closed" in late.text
    assert written(service, reference) == NOTHING
    with service.sessions() as session:
        refusals = list(
            session.scalars(
                select(AuditEntry.detail).where(
                    AuditEntry.case_reference == reference, AuditEntry.action == "applicant_action_refused"
                )
            )
        )
    assert "add_information: closed" in refusals


async def test_bad_input_is_shown_on_the_page_and_nothing_is_written(service: CaseService) -> None:
    reference, token = await new_case(service)
    async with opened(service, token) as browser:
        fields = await form_fields(browser)
        cases: list[tuple[str, dict[str, str], dict[str, Any] | None, str, str]] = [
            (
                "empty",
                {"information": "  \r\n "},
                None,
                "information",
                "Enter the information you want to add, or choose a document",
            ),
            (
                "too long",
                {"information": "x" * 10001},
                None,
                "information",
                "The information must be 10,000 characters or fewer",
            ),
            (
                "wrong type",
                {"information": INJECTION},
                {"document": ("run me.exe", b"MZ\x90\x00", "application/octet-stream")},
                "document",
                "run me.exe must be a PDF, Word (.docx), Excel (.xlsx), PNG, JPEG, text (.txt) or CSV file",
            ),
            (
                "not what its name says",
                {"information": ""},
                {"document": ("photo.png", b"<html>not a picture</html>", "image/png")},
                "document",
                "photo.png must be a PDF",
            ),
            (
                "empty file",
                {},
                {"document": ("empty.pdf", b"", "application/pdf")},
                "document",
                "empty.pdf is empty",
            ),
            (
                "too big",
                {"information": "See the file."},
                {"document": ("big.pdf", PDF + b"0" * MAX_FILE_BYTES, "application/pdf")},
                "document",
                "big.pdf must be smaller than 10MB",
            ),
        ]
        for name, data, files, field, message in cases:
            answer = await browser.post(FORM, data={**fields, **data}, files=files)
            assert answer.status_code == 422, (name, answer.text)
            assert "govuk-error-summary" in answer.text and f'href="#{field}"' in answer.text, name
            assert message in answer.text.replace("&#39;", "'"), name
            assert 'class="govuk-error-message"' in answer.text, name
            assert form_key_of(answer.text) == fields["form_key"], name  # the same form, to correct
            if files:
                assert "choose it again" in answer.text, name
        # What was typed comes back as text, never as markup.
        wrong = await browser.post(
            FORM,
            data={**fields, "information": INJECTION},
            files={"document": ("x.exe", b"MZ", "application/x")},
        )
        assert "{{7*7}}" in wrong.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in wrong.text
        assert "<script>alert" not in wrong.text
        two = await browser.post(
            FORM,
            data={**fields, "information": "Two files."},
            files=[
                ("document", ("a.pdf", PDF, "application/pdf")),
                ("document", ("b.pdf", PDF, "application/pdf")),
            ],
        )
        assert two.status_code == 422 and "Select one document" in two.text
        # Larger than a file and the text can be: not read, the form shown again.
        huge = await browser.post(
            FORM,
            data=fields,
            files={"document": ("huge.pdf", PDF + b"0" * (MAX_FILE_BYTES + 2 * 1024 * 1024))},
        )
        assert huge.status_code == 413 and "The selected file must be smaller than 10MB" in huge.text
        assert "govuk-error-summary" in huge.text
        # A form not from this page (no CSRF token, or no form key) is refused.
        assert (
            await browser.post(FORM, data={"form_key": fields["form_key"], "information": "x"})
        ).status_code == 400
        assert (
            await browser.post(FORM, data={"csrf_token": fields["csrf_token"], "information": "x"})
        ).status_code == 400
        bad_key = await browser.post(FORM, data={**fields, "form_key": "../../etc", "information": "x"})
        assert bad_key.status_code == 400
        assert (await browser.get("/case")).status_code == 200
    assert written(service, reference) == NOTHING
    async with service.browser() as stranger:
        refused = await stranger.post(FORM, data={**fields, "information": "x"})
        assert refused.status_code == 401
    assert written(service, reference) == NOTHING


async def test_beyond_a_days_additions_the_applicant_is_asked_to_email(service: CaseService) -> None:
    reference, token = await new_case(service)
    async with opened(service, token) as browser:
        for number in range(ADDITIONS_A_DAY):
            sent = await browser.post(
                FORM, data={**await form_fields(browser), "information": f"Note {number}."}
            )
            assert sent.status_code == 303, sent.text
        refused = await browser.post(FORM, data={**await form_fields(browser), "information": "One more."})
        assert refused.status_code == 429 and "community.trigger@blaby.council.example" in refused.text
    assert written(service, reference)["submissions"] == ADDITIONS_A_DAY
