"""Letters to the applicant as A4 PDFs: made from the letter's own template with WeasyPrint, kept with the
case when the letter goes (its SHA-256 in the chronology), attached to the emailed letter, and put
together for the print queue.

The PDF is tagged for screen readers (PDF/UA-1, as far as WeasyPrint goes), its fonts are embedded and
its text can be selected. It never carries the applicant's link to their case page, so the copy kept
with the case holds no token: an emailed letter's link is in the email itself.

Making a PDF is CPU work of a few tenths of a second: callers in the worker's event loop run it in a
thread (`Letters.send_letter` does, through `asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pypdf import PdfWriter
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from activities.rendering import TEMPLATES, Renderer
from db.models import Letter
from domain.application import Applicant
from domain.policy import LocalityPolicy

STYLESHEET = TEMPLATES / "letters_pdf" / "letter.css"

# WeasyPrint logs each step of each PDF at INFO: noise in the worker's log. Its warnings still show.
log = logging.getLogger(__name__)
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

# How the letters are named to staff and in the chronology (workflows.models.LetterCode's values).
LETTER_NAMES: dict[str, str] = {
    "letter-1": "Letter 1 (acknowledgement)",
    "letter-2a": "Letter 2a (threshold met)",
    "letter-2b": "Letter 2b (threshold not met)",
    "rejection": "Rejection letter",
    "update-threshold": "Update on the threshold decision",
    "letter-3": "Letter 3 (outcome of the review)",
    "update-outcome": "Update on the review",
    "withdrawal": "Withdrawal letter",
    "appeal-received": "Appeal received letter",
    "letter-4": "Letter 4 (appeal acknowledged)",
    "letter-5": "Letter 5 (appeal cannot go ahead)",
    "letter-6": "Letter 6 (appeal decision)",
    "update-appeal": "Update on the appeal",
    "appeal-withdrawn": "Appeal withdrawn letter",
}

# Update letters repeat, so their number is part of their name.
UPDATE_LETTERS = frozenset({"update-threshold", "update-outcome", "update-appeal"})


def letter_name(code: str, sequence: int = 1) -> str:
    """The letter's name for staff: "Letter 3 (outcome of the review)", "Update 2 on the review"."""
    name = LETTER_NAMES.get(code, code)
    if code in UPDATE_LETTERS:
        return name.replace("Update", f"Update {sequence}", 1)
    return name


def short_name(code: str, sequence: int = 1) -> str:
    """The name without what the letter is about: "Letter 3", "Update 2 on the review"."""
    return re.sub(r" \(.*\)$", "", letter_name(code, sequence))


def attachment_filename(reference: str, code: str, sequence: int = 1) -> str:
    """The PDF's file name: the reference and the letter, nothing personal."""
    suffix = f"-{sequence}" if code in UPDATE_LETTERS else ""
    return f"{reference}-{code}{suffix}.pdf"


def sha256_of(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()


# ---- the address block and the letterhead -------------------------------------------------------------

_POSTCODE_SPACE = re.compile(r"\s+")


def recipient_lines(applicant: Applicant) -> list[str]:
    """The applicant's name and postal address, a line each, as the envelope's window shows them: the
    address as typed (one line per line, or split at its commas when typed on one line), then the
    postcode unless the address already ends with it."""
    lines = [applicant.name]
    address = (applicant.address or "").replace("\r\n", "\n").strip()
    parts = address.split("\n") if "\n" in address else address.split(",")
    lines += [part.strip().rstrip(",") for part in parts if part.strip().rstrip(",")]
    postcode = (applicant.postcode or "").strip()
    if postcode:
        plain = _POSTCODE_SPACE.sub("", postcode).upper()
        if not _POSTCODE_SPACE.sub("", " ".join(lines[1:])).upper().endswith(plain):
            lines.append(postcode.upper())
    return lines


def letterhead_lines(policy: LocalityPolicy) -> list[str]:
    """The council's postal address for the letterhead: the policy's `postal_address`, else the SPOC's
    address split at its commas."""
    if policy.postal_address:
        return list(policy.postal_address)
    return [part.strip() for part in (policy.spoc.address or "").split(",") if part.strip()]


def paper_context(policy: LocalityPolicy, applicant: Applicant) -> dict[str, Any]:
    """What templates/letters_pdf/_layout.j2 needs besides the letter's own context."""
    return {"letterhead": letterhead_lines(policy), "recipient": recipient_lines(applicant)}


# ---- making the PDF -------------------------------------------------------------------------------


class _NoFetching(URLFetcher):
    """A letter loads nothing: no image, style sheet or font from a URL (its style sheet is given as a
    file), so that nothing in a letter can make the worker fetch anything."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        raise ValueError("letters load nothing from URLs")


@cache
def _stylesheet(path: Path = STYLESHEET) -> CSS:
    # Parsed once a process; WeasyPrint only reads it while laying out.
    return CSS(filename=str(path), url_fetcher=_NoFetching())


@dataclass(frozen=True)
class LetterPdf:
    content: bytes
    pages: int

    @property
    def sha256(self) -> str:
        return sha256_of(self.content)


# Laying out a letter is a few hundred milliseconds of pure-Python CPU that holds the GIL: in the worker's
# own process it would stall the workflows and every other activity (updates timing out while letters
# render). So letters are laid out in processes of their own, started on first use and kept.
_PDF_PROCESSES = max(1, min(2, os.cpu_count() or 1))
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _leave_with_parent(parent: int) -> None:
    """In each PDF process: exit once the process that started it is gone. A worker killed outright (or a
    test process ending without `atexit`) never shuts its pool down, and its PDF processes would otherwise
    wait on their queue for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(0)

    threading.Thread(target=watch, name="leave-with-parent", daemon=True).start()


def _pdf_pool() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # "spawn": a fresh interpreter, not a fork of a process that runs threads.
            _pool = ProcessPoolExecutor(
                _PDF_PROCESSES,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_leave_with_parent,
                initargs=(os.getpid(),),
            )
        return _pool


def pdf_of(printable_html: str, stylesheet: Path = STYLESHEET) -> LetterPdf:
    """The PDF of a letter's printable HTML (`Renderer.render_print`): A4, tagged, fonts embedded. The
    same HTML always makes the same bytes (no clock in it: the letter's date is its creation date). Made
    in a process of its own (`_pdf_pool`); here only if that pool cannot run."""
    global _pool
    try:
        return _pdf_pool().submit(pdf_in_this_process, printable_html, stylesheet).result()
    except BrokenProcessPool:
        log.warning("the PDF processes stopped; laying out this letter in this process")
        with _pool_lock:
            _pool = None
        return pdf_in_this_process(printable_html, stylesheet)


def pdf_in_this_process(printable_html: str, stylesheet: Path = STYLESHEET) -> LetterPdf:
    """`pdf_of`'s work, in the calling process."""
    html = HTML(string=printable_html, base_url=str(TEMPLATES), url_fetcher=_NoFetching())
    document = html.render(stylesheets=[_stylesheet(stylesheet)], pdf_variant="pdf/ua-1")
    pdf = document.write_pdf(pdf_variant="pdf/ua-1")
    assert isinstance(pdf, bytes)
    return LetterPdf(content=pdf, pages=len(document.pages))


def unbroken_reference(printable_html: str, reference: str) -> str:
    """The HTML with the case's reference never broken over two lines ("CT-" then "BLA-2026-0007"): in
    the body's text each is wrapped in a span that does not wrap (`.reference` in the style sheets); not
    in the title, nor in an attribute (`="` before it)."""
    head, body_tag, body = printable_html.partition("<body>")
    if not body_tag:
        return printable_html
    found = re.compile(rf'(?<!=")(?<![\w-]){re.escape(reference)}(?![\w-])')
    return head + body_tag + found.sub(lambda match: f'<span class="reference">{match[0]}</span>', body)


def render_letter_pdf(renderer: Renderer, template: str, context: dict[str, Any]) -> LetterPdf:
    """The letter `template` (letters/<code>.j2) as a PDF, from the same context as its email, without
    the link to the applicant's case page (where to ask for one by email instead, as a posted letter)."""
    case_page = context.get("case_page") or {}
    printable = {
        **context,
        "letter": {**context["letter"], "pdf_attached": False},
        "case_page": {"link": None, "ask_url": case_page.get("ask_url")},
        "paper": paper_context(context["council"], context["applicant"]),
    }
    reference = str(context["case"]["reference"])
    return pdf_of(unbroken_reference(renderer.render_print(template, printable), reference))


# A heading's underline in a letter's text form ("=====", "-----").
_UNDERLINE = re.compile(r"^[=-]+$")


def kept_paragraphs(body_text: str) -> list[str]:
    """A letter's kept text as paragraphs to print, without the text form's heading underlines."""
    paragraphs = []
    for part in body_text.split("\n\n"):
        lines = [line for line in part.strip().split("\n") if not _UNDERLINE.match(line.strip())]
        if lines:
            paragraphs.append("\n".join(lines))
    return paragraphs


def kept_text_pdf(
    renderer: Renderer, policy: LocalityPolicy, applicant: Applicant, letter: Letter
) -> LetterPdf:
    """A PDF of a letter sent before letters had PDFs, from its text as kept (`Letter.body_text`), with
    the address for the window envelope: for printing one still waiting in the print queue."""
    printable = renderer.render_print(
        "letters_pdf/kept_text.j2",
        {
            "council": policy,
            "letter": {"dated": letter.sent_on, "subject": letter.subject},
            "reference": letter.case.reference,
            "paragraphs": kept_paragraphs(letter.body_text),
            "paper": paper_context(policy, applicant),
        },
    )
    return pdf_of(unbroken_reference(printable, letter.case.reference))


# ---- the print queue ------------------------------------------------------------------------------


def combined_pdf(pdfs: Iterable[bytes]) -> bytes:
    """The letters as one PDF to print, each starting on a new sheet when printed on both sides (a blank
    page follows a letter with an odd number of pages). The letters are the PDFs as kept, unchanged."""
    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(io.BytesIO(pdf))
        if len(writer.pages) % 2:
            last = writer.pages[-1]
            writer.add_blank_page(width=last.mediabox.width, height=last.mediabox.height)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
