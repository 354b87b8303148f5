"""Every agency page and every development page, rendered with realistic context (values holding `<`, `&`
and quotes too): markup the page builds must come out as markup, never as escaped text (`&lt;br&gt;`), and
what people typed must come out as text, never as markup."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from typing import Any

from api.agency.forms import MAX_LENGTHS
from api.agency.sessions import RequestView
from api.agency.views import ReplyDetails
from api.link_pages import FormError
from api.pages import render
from core.config import PROJECT_ROOT
from core.localities import load_policies
from domain.application import Incident, ReportedTo

TEMPLATES = PROJECT_ROOT / "templates"
# What a value typed by someone (an agency's name, an applicant's words) could hold.
TYPED = "O'Neil & <b>Sons</b>"
# Markup that must never appear as text: escaped in the source, it reads "<br>" to the person.
ESCAPED_MARKUP = ("<br", "<a ", "<strong", "</a>", "</strong>")


class _Text(HTMLParser):
    """The text a person sees (entities decoded), apart from tags and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser


def request_view(purpose: str = "threshold") -> RequestView:
    return RequestView(
        case_reference="CT-BLA-2026-0042",
        case_id=1,
        locality="blaby",
        request_id=1,
        request_key=f"{purpose}:leicestershire-police",
        purpose=purpose,
        agency_key="leicestershire-police",
        agency_name=f"Leicestershire Police ({TYPED})",
        state="requested",
        requested_on=dt.date(2026, 11, 23),
        due_on=dt.date(2026, 11, 30),
    )


def contexts() -> dict[str, dict[str, Any]]:
    council = load_policies(PROJECT_ROOT / "localities")["blaby"]
    details = ReplyDetails(
        applicant_name=f"Alex {TYPED}",
        address="1 High Street, Narborough",
        postcode="LE19 2AA",
        victim_name="Sam <Victim>",
        incidents=[
            Incident(
                occurred_on=dt.date(2026, 10, 1),
                reported_on=dt.date(2026, 10, 2),
                reported_to=ReportedTo.POLICE,
                organisation="Leicestershire Police",
                reference="LP-<1>",
                description=f"Shouting {TYPED}",
            )
        ],
    )
    reply = {
        "cspNonce": "nonce-for-the-test",
        "request": request_view(),
        "council": council,
        "details": details,
        "values": {"responder_name": TYPED, "records_found": f"Records\n{TYPED}"},
        "errors": [FormError("records_found", "Enter the records you hold, or say that you hold none")],
        "error_for": {"records_found": "Enter the records you hold, or say that you hold none"},
        "files_dropped": True,
        "unavailable": False,
        "csrf_token": "c" * 64,
        "max_files": 5,
        "max_file_mb": 10,
        "max_total_mb": 20,
        "max_lengths": MAX_LENGTHS,
    }
    agency = {"cspNonce": "nonce-for-the-test", "council": council, "reference": "CT-BLA-2026-0042"}
    return {
        "agency/reply.html": reply,
        "agency/confirmation.html": {**agency, "request": request_view("review")},
        "agency/already_answered.html": agency,
        "agency/closed.html": agency,
        "agency/form_expired.html": {**agency, "retry_url": "/agency/reply"},
        "agency/link_refused.html": {**agency, "token": "t" * 43, "csrf_token": "c" * 64},
        "agency/new_link_requested.html": agency,
        "agency/new_link_case_closed.html": agency,
        "agency/session_refused.html": agency,
        "agency/too_many_requests.html": {**agency, "wait": "12 minutes"},
        "agency/request_too_large.html": {**agency, "limit": "1 MB"},
        "dev/mail_list.html": {
            "rows": [
                {
                    "name": "20261123-0001.eml",
                    "received": "2026-11-23 10:00:00 UTC",
                    "to": f"{TYPED} <asb@police.example>",
                    "subject": f"Case CT-BLA-2026-0042: {TYPED}",
                }
            ],
            "total": 1,
            "limit": 500,
            "directory": "/var/mail",
        },
        "dev/mail_message.html": {
            "name": "20261123-0001.eml",
            "received": "2026-11-23 10:00:00 UTC",
            "size": 2048,
            "subject": f"Case CT-BLA-2026-0042: {TYPED}",
            "headers": [("To", "asb@police.example"), ("Subject", TYPED)],
            "text": "Dear colleague,\nPlease answer by 30 November.",
            # The HTML part goes into a sandboxed iframe's srcdoc: escaped there, as it must be.
            "html": '<p>Dear colleague,<br><a href="https://x.example/agency/r/abc">Answer</a></p>',
            "attachments": [{"filename": "letter.pdf", "content_type": "application/pdf", "size": 10}],
        },
    }


def test_contexts_cover_every_agency_and_development_page() -> None:
    pages = {
        f"{folder}/{path.name}"
        for folder in ("agency", "dev")
        for path in (TEMPLATES / folder).glob("*.html")
        if not path.name.startswith("_")
    }

    assert pages == set(contexts())


def test_render_every_page_shows_no_markup_as_text() -> None:
    shown_as_text = []
    for template, context in sorted(contexts().items()):
        text = "".join(parsed(render(template, **context)).text)
        shown_as_text += [(template, markup) for markup in ESCAPED_MARKUP if markup in text]

    assert shown_as_text == []


def test_render_reply_page_questions_row_is_markup() -> None:
    html = render("agency/reply.html", **contexts()["agency/reply.html"])
    page = parsed(html)

    links = [attrs.get("href") for tag, attrs in page.tags if tag == "a"]
    assert "mailto:community.trigger@blaby.council.example" in links
    spoc_link = (
        '<a class="govuk-link govuk-!-text-break-word" href="mailto:community.trigger@blaby.council.example">'
    )
    assert f"<br>{spoc_link}" in html
    # What people typed stays text.
    assert "<b>Sons</b>" not in html and "&lt;b&gt;Sons&lt;/b&gt;" in html


def test_render_confirmation_panel_is_markup() -> None:
    html = render("agency/confirmation.html", **contexts()["agency/confirmation.html"])

    assert "Case reference<br><strong>CT-BLA-2026-0042</strong>" in html
