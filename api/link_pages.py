"""What the pages reached from a link share (the agency pages and the appeal pages): GOV.UK pages rendered
with the headers every such response carries, the session cookie, the exception that answers with a page
from a dependency, and the forms' errors and CSRF checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from annotated_types import MaxLen
from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from api.pages import render

# ---- pages -----------------------------------------------------------------------------------


def _headers(nonce: str) -> dict[str, str]:
    """Every response of a page reached from a link: no referrer (a link's token must not leak), no caching
    of case details, no framing, and scripts only from us (the template's one inline script carries the
    nonce)."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self'; "
            "font-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def link_page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` (its path under templates/), with the headers and a fresh CSP nonce."""
    nonce = secrets.token_urlsafe(16)
    html = render(template, cspNonce=nonce, **context)
    return HTMLResponse(html, status_code=status_code, headers=_headers(nonce))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_headers(secrets.token_urlsafe(16)))


def set_session_cookie(response: Response, name: str, token: str, *, path: str, secure: bool) -> None:
    """The session a link was exchanged for, in a cookie no script can read, sent only below `path`."""
    response.set_cookie(name, token, httponly=True, samesite="lax", secure=secure, path=path)


class ShowPage(Exception):
    """Raised by a dependency that has already decided the page (a refused session): the route does
    not run, and `show_page` answers with this page."""

    def __init__(self, response: Response) -> None:
        super().__init__("link page")
        self.response = response


async def show_page(request: Request, error: Exception) -> Response:
    """The app's handler for `ShowPage`."""
    assert isinstance(error, ShowPage)
    return error.response


# ---- forms -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormError:
    field: str
    message: str


def form_text(fields: Mapping[str, str], name: str) -> str:
    """A text field as typed, trimmed."""
    # Browsers send a textarea's line breaks as CRLF; count them as one character, as we store them.
    return fields.get(name, "").replace("\r\n", "\n").replace("\r", "\n").strip()


def form_choice(fields: Mapping[str, str], name: str, choices: Mapping[str, object]) -> str:
    """A radio group's value if it is one of `choices`; "" (nothing chosen) for anything else."""
    value = fields.get(name, "")
    return value if value in choices else ""


def max_length(model: type[BaseModel], name: str) -> int:
    """The longest text the submission's model takes in field `name` (the form checks it first)."""
    for item in model.model_fields[name].metadata:
        if isinstance(item, MaxLen):
            return int(item.max_length)
    raise LookupError(f"{model.__name__}.{name} has no max_length")


def whole_number(text: str, most_digits: int = 6) -> int | None:
    """A number typed as ASCII digits (no more than `most_digits` of them), else None. `str.isdigit` alone
    also takes "²" and other digits `int` refuses, and very long numbers overflow a date."""
    if 0 < len(text) <= most_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def too_long(values: Mapping[str, str], name: str, label: str, limit: int) -> FormError | None:
    if len(values[name]) > limit:
        return FormError(name, f"{label} must be {limit:,} characters or fewer")
    return None


def errors_by_field(errors: Sequence[FormError]) -> dict[str, str]:
    """Each field's first error, shown by the field (the summary lists them all)."""
    first: dict[str, str] = {}
    for error in errors:
        first.setdefault(error.field, error.message)
    return first


def sign(secret_key: str, message: str) -> str:
    """A CSRF token: `message` (what the form is bound to) signed with the secret key."""
    return hmac.new(secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
