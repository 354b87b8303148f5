"""Renders letters and emails from Jinja2 templates, each written once, into plain text and HTML.

A template under `templates/letters/` or `templates/emails/` defines a `subject` block and a body built
from the macros in `templates/_macros.j2`; it is rendered twice, with `html` false and true, by two
environments (autoescaped for HTML). The subject is one line of text. A letter is also rendered a third
time, with `pdf` true, as the HTML of its printed form (`render_print`; activities/letter_pdf.py makes
the PDF of it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from core.config import PROJECT_ROOT
from domain.calendar import long_date as calendar_long_date

TEMPLATES = PROJECT_ROOT / "templates"


def long_date(value: dt.date | dt.datetime | str | None) -> str:
    """20 November 2026 (the GOV.UK date style); takes ISO strings too, as decisions are stored as JSON."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    return calendar_long_date(value)


def _environment(html: bool, pdf: bool = False) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # The text rendering is never HTML, so it must not escape; the HTML one always does.
        autoescape=select_autoescape(default=True, default_for_string=True) if html else False,  # noqa: S701
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["long_date"] = long_date
    env.globals["html"] = html
    # templates/_letter.j2 lays a letter out for paper (letterhead, address window) when true.
    env.globals["pdf"] = pdf
    return env


# The macros style each element inline, as email clients ignore style sheets; the printed letter has a
# style sheet of its own (templates/letters_pdf/letter.css). Only the templates can write `style="`:
# autoescaping turns a `"` in any value into `&#34;`.
_INLINE_STYLE = re.compile(r'\sstyle="[^"]*"')


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self) -> None:
        self._text = _environment(html=False)
        self._html = _environment(html=True)
        self._print = _environment(html=True, pdf=True)

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        text_template = self._text.get_template(name)
        subject_block = text_template.blocks["subject"]
        subject = "".join(subject_block(text_template.new_context(dict(context)))).strip()
        text = text_template.render(context)
        html = self._html.get_template(name).render(context)
        return Rendered(subject=" ".join(subject.split()), text=_tidy(text), html=html)

    def render_print(self, name: str, context: dict[str, Any]) -> str:
        """The letter `name` as the HTML of its printed form (autoescaped, without inline styles)."""
        return _INLINE_STYLE.sub("", self._print.get_template(name).render(context))


def _tidy(text: str) -> str:
    # At most one blank line between paragraphs, whatever the template's whitespace.
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
