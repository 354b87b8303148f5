"""Letters as PDF (activities/letter_pdf.py, templates/letters_pdf/): every letter renders from the context
the worker builds, with the letterhead, the date, the address where a DL window envelope shows it, the
reference and page numbers on every page, the same words as its email, what the policy says it must say,
tags for screen readers and embedded fonts, in a small file; hostile text stays text. Read back with pypdf.

Each letter is rendered once (cached) without Temporal; one test sends Letter 1 through the real worker
and mail sink and finds the PDF attached, kept with the case and its hash in the chronology. The last
downloads the appeal bundle as one PDF from the chair's page (tests/test_appeal_pages.py's fixtures).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import logging
import re
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject
from sqlalchemy import select

from activities.case import CaseActivities
from activities.letter_pdf import (
    LetterPdf,
    attachment_filename,
    kept_text_pdf,
    letterhead_lines,
    recipient_lines,
    render_letter_pdf,
)
from activities.rendering import Rendered, Renderer
from core.localities import load_policies
from db.models import Case, ChronologyEntry, Letter
from domain.application import Applicant, Application
from tests import test_appeal_letters as appeal_letters
from tests import test_appeal_pages as appeal_pages
from tests import test_letters as letters
from tests.support import CaseService
from tests.support import application as api_application
from tests.test_appeal_pages import Pages, chair_browser, make_appeal, pages  # noqa: F401 (a fixture)
from tests.test_case_workflow import next_working_morning
from workflows.models import LetterCode, LetterRequest

RENDERER = Renderer()
POLICIES = load_policies(Path("localities"))
DATED = dt.date(2026, 11, 23)
LINK = "https://trigger.example/case/r/" + "A" * 43
ASK = "https://trigger.example/case/new-link"
HOSTILE = "Zoë {{7*7}} <script>alert('x')</script> & Co"
MM = 72 / 25.4  # PDF points in a millimetre

# Every letter, as the case is when it goes out: the LLR letters from tests/test_letters.py, the appeal's
# from tests/test_appeal_letters.py (Blaby: an independent chair).
APPEAL_CODES = set(appeal_letters.APPEAL_LETTERS) - {LetterCode.APPEAL_RECEIVED}
# Why an update is late, as `Letters._prepare_letter` finds it.
WAITING_FOR = {LetterCode.THRESHOLD_UPDATE: ["Leicestershire Police", "East Midlands Homes"]}


def context_of(code: LetterCode, app: Application | None = None, **changes: Any) -> dict[str, Any]:
    """The context `Letters._prepare_letter` renders an emailed letter with."""
    if code in APPEAL_CODES:
        columns = {**appeal_letters.APPEAL_LETTERS[code], **changes}
        sequence, next_update_by = columns.pop("sequence", 1), columns.pop("next_update_by", None)
        app = app or appeal_letters.application("blaby")
        case = appeal_letters.case_row("blaby", app=app, **columns)
        base = appeal_letters.activities()._context(case, POLICIES["blaby"], app)
    else:
        columns = {**letters.LETTER_CASES[code], **changes}
        sequence, next_update_by = columns.pop("sequence", 1), columns.pop("next_update_by", None)
        app = app or letters.application()
        case = letters.case_row(app, **columns)
        base = letters.worker_context(case)
    return {
        **base,
        "letter": {
            "code": code.value,
            "sequence": sequence,
            "dated": DATED,
            "next_update_by": next_update_by,
            "pdf_attached": True,
        },
        "case_page": {"link": LINK, "ask_url": ASK},
        "waiting_for": WAITING_FOR.get(code, []),
    }


def render(code: LetterCode, context: dict[str, Any]) -> tuple[Rendered, LetterPdf]:
    template = f"letters/{code.value}.j2"
    return RENDERER.render(template, context), render_letter_pdf(RENDERER, template, context)


@cache
def rendered(code: LetterCode) -> tuple[Rendered, LetterPdf]:
    return render(code, context_of(code))


def reader(pdf: LetterPdf | bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf.content if isinstance(pdf, LetterPdf) else pdf))


def page_texts(pdf: LetterPdf | bytes) -> list[str]:
    return [page.extract_text() for page in reader(pdf).pages]


FOOTER = re.compile(r"Our reference: \S+ Page \d+ of \d+\s*$")
# A list's bullets are drawn after the page's text, so they come last in it.
BULLETS = re.compile(r"^• *$", re.M)
# A line may break after a hyphen ("CT-" at the end of one line, "BLA-2026-0007" on the next).
HYPHEN_BREAK = re.compile(r"-\n")


def flowing_text(pdf: LetterPdf) -> str:
    """The letter's words as one line: each page's footer and bullets taken off, so that a paragraph
    running over a page break reads on."""
    texts = (HYPHEN_BREAK.sub("-", BULLETS.sub("", FOOTER.sub("", text))) for text in page_texts(pdf))
    return " ".join(" ".join(text.split()) for text in texts)


def plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def email_items(email_html: str) -> list[str]:
    """The texts of the email's paragraphs, list items, headings and table cells, in order, from "Dear"
    on; without the link to the case page and the note of the attachment, which only the email has."""
    items = [
        plain(match.group(2))
        for match in re.finditer(r"<(p|li|h[1-3]|th|td)\b[^>]*>(.*?)</\1>", email_html, re.S)
    ]
    items = items[next(i for i, item in enumerate(items) if item.startswith("Dear ")) :]
    online = items.index("Follow your case online")
    del items[online : online + 2]
    return [item for item in items if item and not item.startswith("This letter is also attached")]


def runs_on_first_page(pdf: LetterPdf) -> list[tuple[str, float, float]]:
    """Each piece of text on page 1 with where its baseline starts, in mm from the sheet's left and top."""
    page = reader(pdf).pages[0]
    height = float(page.mediabox.height)
    runs: list[tuple[str, float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            runs.append((text.strip(), x / MM, (height - y) / MM))

    page.extract_text(visitor_text=visit)
    return runs


def structure_types(pdf: LetterPdf) -> set[str]:
    types: set[str] = set()

    def walk(node: Any) -> None:
        node = node.get_object() if isinstance(node, IndirectObject) else node
        if isinstance(node, ArrayObject):
            for kid in node:
                walk(kid)
        elif isinstance(node, DictionaryObject):
            if "/S" in node:
                types.add(str(node["/S"]))
            if "/K" in node:
                walk(node["/K"])

    walk(reader(pdf).trailer["/Root"]["/StructTreeRoot"])
    return types


# What the policy says each letter must tell the applicant (the seed pages' steps), as the PDF says it.
MUST_SAY: dict[LetterCode, list[str]] = {
    LetterCode.ACKNOWLEDGEMENT: [
        "We received it on 20 November 2026.",
        "Your reference is CT-BLA-2026-0007.",
        "What happens next",
        "A Community Trigger does not deal with new incidents.",
    ],
    LetterCode.THRESHOLD_MET: [
        "Your case meets the threshold",
        "Three incidents were reported to the police in time.",
        "personal impact statement",
        "for up to 30 minutes",
        "The second part is closed",
    ],
    LetterCode.THRESHOLD_NOT_MET: [
        "Your case does not meet the threshold",
        "Only one incident was reported within a month.",
        "The threshold for a case review",
        "You can ask for an appeal.",
        "We must receive your request by 4 January 2027.",
        "The review failed to consider relevant factual information.",
    ],
    LetterCode.REJECTION: [
        "We have decided that your application is malicious.",
        "The same complaint was made 40 times.",
        "You can ask for an appeal.",
    ],
    LetterCode.THRESHOLD_UPDATE: [
        "We said we would tell you by 7 December 2026.",
        "We are still waiting for records from Leicestershire Police and East Midlands Homes.",
        "We now expect to tell you our decision by 21 December 2026.",
    ],
    LetterCode.OUTCOME: [
        "What the review found",
        "No one visited the street.",
        "Action plan",
        "Leicestershire Police Add the street to evening patrols. 15 January 2027",
        "must have regard to these recommendations",
        "You can ask for an appeal.",
    ],
    LetterCode.OUTCOME_UPDATE: [
        "We said we would tell you the outcome by 6 January 2027.",
        "We are still arranging the review meeting.",
        "We now expect to send you the outcome by 3 February 2027.",
    ],
    LetterCode.WITHDRAWAL: ["We have withdrawn your Community Trigger application", "We have moved house."],
    LetterCode.APPEAL_RECEIVED: ["We have received your request for an appeal on 4 January 2027."],
    LetterCode.APPEAL_ACKNOWLEDGEMENT: [
        "your appeal is now being considered",
        "You will get a letter with the decision by 12 February 2027.",
    ],
    LetterCode.APPEAL_CRITERIA_NOT_MET: [
        "Your diary was considered at the review.",
        "This decision is final",
    ],
    LetterCode.APPEAL_OUTCOME: ["Your appeal is upheld", "The police Visit the street weekly. 1 March 2027"],
    LetterCode.APPEAL_UPDATE: [
        "We said you would have it by 12 February 2027.",
        "The person hearing your appeal is still looking at it.",
        "We now expect to send you the decision by 12 March 2027.",
    ],
    LetterCode.APPEAL_WITHDRAWN: ["We have withdrawn your appeal and closed your case."],
}


def test_every_letter_is_covered() -> None:
    assert set(MUST_SAY) == set(LetterCode)
    assert set(letters.LETTER_CASES) | APPEAL_CODES == set(LetterCode)


@pytest.mark.parametrize("code", list(LetterCode))
def test_letter_pdf_has_the_letter_on_its_pages(code: LetterCode) -> None:
    email, pdf = rendered(code)
    reference = "CT-BLA-2026-0007"
    texts = page_texts(pdf)

    # A small A4 file of one to three pages.
    assert pdf.content.startswith(b"%PDF-1.7")
    assert 1 <= pdf.pages == len(texts) <= 3
    assert len(pdf.content) < (100_000 if pdf.pages <= 2 else 150_000)
    for page in reader(pdf).pages:
        assert (round(float(page.mediabox.width) / MM), round(float(page.mediabox.height) / MM)) == (210, 297)

    # The reference and "Page n of N" at the foot of every page; the reference never broken over lines.
    for number, text in enumerate(texts, start=1):
        assert not re.search(r"\bCT-(BLA-(2026-)?)?\n", text), text
        assert text.rstrip().endswith(f"Our reference: {reference} Page {number} of {len(texts)}"), text

    # Page 1: the letterhead with the date and the reference, then the applicant's address.
    first = " ".join(texts[0].split())
    assert first.startswith(
        "Blaby District Council Community Safety Team Council Offices Desford Road Narborough Leicester "
        "LE19 2EP Phone: 0116 275 0555 Email: community.trigger@blaby.council.example www.blaby.gov.uk "
        f"Date: 23 November 2026 Our reference: {reference} Siobhán O'Neill 12 Station Road Narborough "
        "LE19 2HT Dear Siobhán O'Neill"
    ), first

    # The same words as the email, in the same order.
    text = flowing_text(pdf)
    at = 0
    for item in email_items(email.html):
        found = text.find(item, at)
        assert found >= 0, f"{item!r} is not in the PDF after {text[at - 80 : at]!r}"
        at = found + len(item)
    for phrase in MUST_SAY[code]:
        assert phrase in text, phrase

    # No link to the case page (a kept PDF holds no token), but where to ask for one.
    assert "/case/r/" not in text and "/case/r/" in email.html
    assert f"go to {ASK} and give your email address" in text
    assert "Yours sincerely Community Safety Team Blaby District Council Contact us" in text


def test_the_address_shows_through_a_dl_window() -> None:
    _, pdf = rendered(LetterCode.ACKNOWLEDGEMENT)
    runs = runs_on_first_page(pdf)
    lines = recipient_lines(letters.application().applicant)
    placed = [run for run in runs if run[0] in lines and run[1] < 110]
    assert [run[0] for run in placed] == lines
    for _, left, down in placed:
        # The window: 20 to 110 mm across, and from about 50 to 80 mm down the folded sheet.
        assert 24 <= left <= 26
        assert 50 <= down <= 80
    # The letterhead is clear of it, on the right.
    letterhead = [run for run in runs if run[0] == "Blaby District Council"]
    assert letterhead and letterhead[0][1] > 110


def test_pdf_is_tagged_titled_and_has_its_fonts() -> None:
    email, pdf = rendered(LetterCode.OUTCOME)
    document = reader(pdf)
    root = document.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    assert root["/Lang"] == "en-GB"
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    assert document.metadata is not None
    assert document.metadata.title == email.subject
    assert document.metadata.author == "Blaby District Council"
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfuaid:part="1"' in xmp
    # Headings, paragraphs, the bullet list and the action plan as a table with header cells.
    assert {"/H1", "/H2", "/P", "/L", "/LI", "/Table", "/TH", "/TD"} <= structure_types(pdf)
    for page in document.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, font["/BaseFont"]
            # Embedded as a subset (ABCDEF+Name): small, and its text still copies as Unicode.
            assert re.match(r"^/[A-Z]{6}\+", str(font["/BaseFont"]))
            assert "/ToUnicode" in font


def test_the_same_letter_makes_the_same_pdf() -> None:
    _, first = rendered(LetterCode.ACKNOWLEDGEMENT)
    again = render_letter_pdf(RENDERER, "letters/letter-1.j2", context_of(LetterCode.ACKNOWLEDGEMENT))
    assert again.content == first.content
    assert first.sha256 == hashlib.sha256(first.content).hexdigest()


def test_hostile_text_is_printed_as_it_was_typed() -> None:
    app = letters.application(
        applicant={"name": HOSTILE, "address": "1 <b>Bold</b> Street", "postcode": "LE1 1AA"}
    )
    panel = {**letters.PANEL, "findings": "Findings {{7*7}} <img src=x onerror=alert(1)> end."}
    context = context_of(LetterCode.OUTCOME, app=app, panel_decision=panel)
    printable = RENDERER.render_print(
        "letters/letter-3.j2", {**context, "paper": {"letterhead": [], "recipient": []}}
    )
    assert "<script" not in printable and "<img" not in printable and "<b>" not in printable
    assert "&lt;script&gt;" in printable

    _, pdf = render(LetterCode.OUTCOME, context)
    text = flowing_text(pdf)
    assert f"Dear {HOSTILE}" in text
    assert "1 <b>Bold</b> Street" in text
    assert "Findings {{7*7}} <img src=x onerror=alert(1)> end." in text
    assert "49" not in text


def test_a_long_unbroken_word_wraps_inside_the_page() -> None:
    word = "Unbroken" + "x" * 300
    panel = {**letters.PANEL, "findings": f"See {word} here."}
    _, pdf = render(LetterCode.OUTCOME, context_of(LetterCode.OUTCOME, panel_decision=panel))
    lines = [line for text in page_texts(pdf) for line in text.splitlines()]
    pieces = [line.strip() for line in lines if "xxxxxxxxxx" in line]
    # Broken over lines the width of the text column (about 77 characters), and all of it there.
    assert len(pieces) >= 4
    assert all(len(piece) <= 90 for piece in pieces)
    assert f"See{word}here." in "".join(flowing_text(pdf).split())
    for _, left, _ in runs_on_first_page(pdf):
        assert 19 <= left <= 190


@pytest.mark.parametrize("locality", sorted(POLICIES))
def test_each_council_heads_its_letters_with_its_address(locality: str) -> None:
    policy = POLICIES[locality]
    assert 3 <= len(letterhead_lines(policy)) <= 7
    app = letters.application(locality=locality)
    case = letters.case_row(app, locality=locality, reference=f"CT-{policy.code}-2026-0001")
    context = {
        **letters.worker_context(case, policy),
        "letter": {"code": "letter-1", "sequence": 1, "dated": DATED, "next_update_by": None},
        "case_page": {"link": None, "ask_url": ASK},
    }
    pdf = render_letter_pdf(RENDERER, "letters/letter-1.j2", context)
    first = " ".join(page_texts(pdf)[0].split())
    expected = " ".join([policy.council, *letterhead_lines(policy)])
    assert first.startswith(expected), first
    assert f"Our reference: CT-{policy.code}-2026-0001" in first
    # The letterhead (its last line the reference) ends above the letter's first words.
    runs = runs_on_first_page(pdf)
    dear = next(down for text, _, down in runs if text.startswith("Dear "))
    ends = next(down for text, left, down in runs if text.startswith("Our reference") and left > 110)
    assert ends < dear - 10


@pytest.mark.parametrize(
    ("address", "postcode", "lines"),
    [
        ("12 Station Road\nNarborough", "LE19 2HT", ["12 Station Road", "Narborough", "LE19 2HT"]),
        ("1 High Street, Narborough,", "le19 2aa", ["1 High Street", "Narborough", "LE19 2AA"]),
        ("Flat 2\r\n3 Mill Lane\r\nBlaby LE8 4FQ", "LE8 4FQ", ["Flat 2", "3 Mill Lane", "Blaby LE8 4FQ"]),
        (None, None, []),
    ],
)
def test_recipient_lines(address: str | None, postcode: str | None, lines: list[str]) -> None:
    applicant = Applicant(name="Sam Example", address=address, postcode=postcode)
    assert recipient_lines(applicant) == ["Sam Example", *lines]


def test_letter_from_before_pdfs_prints_from_its_kept_text() -> None:
    email, _ = rendered(LetterCode.ACKNOWLEDGEMENT)
    case = Case(reference="CT-BLA-2026-0007", locality="blaby")
    old = Letter(
        case=case, code="letter-1", sequence=1, sent_on=DATED, subject=email.subject, body_text=email.text
    )
    pdf = kept_text_pdf(RENDERER, POLICIES["blaby"], letters.application().applicant, old)
    texts = page_texts(pdf)
    assert texts[0].startswith(
        "Siobhán O'Neill\n12 Station Road\nNarborough\nLE19 2HT\nBlaby District Council"
    )
    for number, text in enumerate(texts, start=1):
        assert text.rstrip().endswith(f"Our reference: CT-BLA-2026-0007 Page {number} of {len(texts)}")
    assert "We received it on 20 November 2026." in flowing_text(pdf)


def test_a_letter_whose_pdf_cannot_be_made_goes_without_one(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Renderer):
        def render_print(self, name: str, context: dict[str, Any]) -> str:
            raise RuntimeError(f"cannot lay out {HOSTILE}")

    sender = CaseActivities.__new__(CaseActivities)
    sender._renderer = Broken()
    case = letters.case_row(letters.application())
    request = LetterRequest(reference=case.reference, code=LetterCode.ACKNOWLEDGEMENT, dated=DATED)
    context = context_of(LetterCode.ACKNOWLEDGEMENT)
    with caplog.at_level(logging.WARNING, logger="activities.letters"):
        assert sender._pdf_of(case, request, "letters/letter-1.j2", context) is None
    assert "letter CT-BLA-2026-0007 letter-1:1 went without a PDF (RuntimeError)" in caplog.text
    assert "Zoë" not in caplog.text
    # Its email then says nothing of an attachment.
    context["letter"]["pdf_attached"] = False
    assert "attached" not in RENDERER.render("letters/letter-1.j2", context).text


# ---- through the worker -----------------------------------------------------------------------------


async def test_emailed_letter_carries_its_pdf_as_kept_with_the_case(service: CaseService) -> None:
    today = await next_working_morning(service)
    reference = await service.open_case(api_application(today=today))
    filename = attachment_filename(reference, "letter-1")

    messages = [
        m for m in service.mail_about(reference) if "we have received your application" in str(m["Subject"])
    ]
    assert len(messages) == 1
    message = messages[0]
    assert message.get_content_type() == "multipart/mixed"
    parts = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    assert parts == ["text/plain", "text/html", "application/pdf"]
    attachment = next(part for part in message.walk() if part.get_content_type() == "application/pdf")
    assert attachment.get_filename() == filename
    sent = attachment.get_payload(decode=True)
    assert isinstance(sent, bytes)

    with service.sessions() as session:
        case = session.scalar(select(Case).where(Case.reference == reference))
        assert case is not None
        letter = session.scalar(select(Letter).where(Letter.case_id == case.id, Letter.code == "letter-1"))
        assert letter is not None
        assert letter.pdf == sent
        digest = hashlib.sha256(sent).hexdigest()
        assert letter.pdf_sha256 == digest
        events = list(
            session.scalars(select(ChronologyEntry.event).where(ChronologyEntry.case_id == case.id))
        )
    assert any(
        event.startswith("Letter 1 kept with the case as a PDF of ") and digest in event for event in events
    )

    # The email has the applicant's link; the PDF as sent and kept has none, and says it is attached.
    text = flowing_text(LetterPdf(sent, 0))
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "/case/r/" in body.get_content()
    assert "attached to this email as a PDF" in body.get_content()
    assert "/case/r/" not in text and "attached to this email" not in text
    assert f"Our reference: {reference}" in text


# ---- the appeal bundle, for chairs who print -----------------------------------------------------------

BUNDLE_SECTIONS = [
    "The request for appeal",
    "The application",
    "The threshold decision",
    "The case review meeting",
    "The outcome report and action plan",
    "Letters sent to the applicant",
    "Chronology",
]


async def test_chair_downloads_the_bundle_as_one_pdf_with_contents(pages: Pages) -> None:  # noqa: F811
    reference, appeal_id = make_appeal(pages)
    async with chair_browser(pages, appeal_id) as chair:
        page = await chair.get("/appeal/chair")
        assert 'href="/appeal/chair/bundle.pdf"' in page.text
        response = await chair.get("/appeal/chair/bundle.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{reference}-appeal-bundle.pdf"'
    assert response.headers["cache-control"] == "no-store"

    texts = page_texts(response.content)
    for number, text in enumerate(texts, start=1):
        assert text.rstrip().endswith(f"Appeal bundle, case {reference} Page {number} of {len(texts)}"), text
    # The contents give the page each section starts on.
    contents = texts[0]
    assert " ".join(contents.split()).startswith(
        f"Blaby District Council Community Trigger appeal bundle: case {reference}"
    )
    for name in BUNDLE_SECTIONS:
        listed = re.search(rf"{re.escape(name)}[ .]*(\d+)\n", contents)
        assert listed, (name, contents)
        assert texts[int(listed.group(1)) - 1].startswith(name + "\n"), name
    # The papers: the request, the application, the review, the letters as kept, the chronology.
    papers = " ".join(" ".join(text.split()) for text in texts)
    for phrase in (
        appeal_pages.EXPLANATION,
        "Applicant Alex Example",
        "Address 1 High Street, Narborough",
        "Agencies did not share the noise diary.",
        "Blaby District Council ASB Team Install noise monitoring. 1 October 2026",
        "The panel met on 20 August 2026. It recommends noise monitoring.",
        "Letter 3 sent.",
    ):
        assert phrase in papers, phrase
    assert "appeal_bundle_downloaded" in [entry.action for entry in appeal_pages.audit_of(pages, reference)]

    # Nobody else gets it.
    async with pages.browser() as stranger:
        refused = await stranger.get("/appeal/chair/bundle.pdf")
    assert refused.status_code == 401 and not refused.content.startswith(b"%PDF")


# ---- the PDF processes end with the process that started them ---------------------------------------

_STARTS_POOL_THEN_DIES = """
import os, sys
from activities.letter_pdf import _pdf_pool, pdf_of
pdf_of("<html><body><p>A letter.</p></body></html>")
print(" ".join(str(p) for p in _pdf_pool()._processes), flush=True)
os._exit(0)  # as a killed worker leaves: no atexit, the pool never shut down
"""


def test_pdf_processes_exit_when_their_worker_dies_without_shutting_them_down() -> None:
    started = subprocess.run(
        [sys.executable, "-c", _STARTS_POOL_THEN_DIES],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    children = [int(pid) for pid in started.stdout.split()]
    assert children, started.stderr
    deadline = time.monotonic() + 15
    while (alive := [pid for pid in children if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive, f"PDF processes {alive} outlived their parent"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_the_action_plan_fills_the_text_column_and_no_more() -> None:
    # Fixed table layout: the columns are 30%, 48% and 22% of the 170 mm between the margins (20 to 190 mm),
    # their padding inside those widths, so that "By" and its dates end within the right margin.
    _, pdf = rendered(LetterCode.OUTCOME)
    left_of = {text: left for text, left, _ in runs_on_first_page(pdf)}
    assert left_of["Organisation"] == pytest.approx(20, abs=0.5)
    assert left_of["Action"] == pytest.approx(20 + 0.30 * 170, abs=0.5)
    assert left_of["By"] == pytest.approx(20 + 0.78 * 170, abs=0.5)
    assert left_of["15 January 2027"] == left_of["By"]
