"""What the staff account pages share (signing in, the security code, password reset, invitations, the
users page): reading a posted form, the CSRF token of the pages shown before there is a session, and
London times in GOV.UK style.

Before signing in there is no session to bind a form's CSRF token to, so the sign-in and password reset
pages give the browser a random cookie (`staff_form`, HttpOnly, SameSite=Lax) and bind the token to it: a
form posted from another site, or without the cookie, is refused (this stops login CSRF too).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.link_pages import csrf_matches, link_page, sign
from api.staff.sessions import set_staff_cookie
from core.config import Settings
from domain.calendar import LONDON, long_date
from domain.links import hash_token

FORM_COOKIE = "staff_form"
Fields = dict[str, list[str]]


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page under templates/staff/account/ for someone not signed in (no navigation)."""
    return link_page(f"staff/account/{template}", status_code=status_code, **context)


async def read_fields(request: Request) -> Fields | None:
    """The posted text fields (every value of each name); None for a malformed form or one with files."""
    try:
        form = await request.form(max_files=0, max_fields=100)
    except StarletteHTTPException:
        return None
    fields: Fields = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


def field(fields: Mapping[str, Sequence[str]], name: str) -> str:
    """A field's first value, trimmed (a password is not: spaces may be part of it)."""
    values = fields.get(name) or [""]
    return values[0].strip()


def raw_field(fields: Mapping[str, Sequence[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def form_cookie(request: Request) -> tuple[str, bool]:
    """The browser's form cookie, or a new one; and whether it is new (then the page must set it)."""
    existing = request.cookies.get(FORM_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing, False
    return secrets.token_urlsafe(32), True


def form_csrf(settings: Settings, cookie: str) -> str:
    return sign(settings.secret_key, f"staff-form:{hash_token(cookie)}")


def form_csrf_matches(request: Request, settings: Settings, given: str) -> bool:
    cookie = request.cookies.get(FORM_COOKIE)
    return bool(cookie) and csrf_matches(form_csrf(settings, str(cookie)), given or None)


def keep_form_cookie(response: Response, cookie: str, new: bool, settings: Settings) -> Response:
    if new:
        set_staff_cookie(response, FORM_COOKIE, cookie, settings)
    return response


def clock(instant: dt.datetime) -> str:
    """A moment as GOV.UK writes times, in London: "2:35pm"."""
    local = instant.astimezone(LONDON)
    hour = local.hour % 12 or 12
    return f"{hour}:{local.minute:02d}{'am' if local.hour < 12 else 'pm'}"


def moment(instant: dt.datetime) -> str:
    """A moment with its date, in London: "2:35pm on 6 December 2026"."""
    return f"{clock(instant)} on {long_date(instant.astimezone(LONDON).date())}"


def looks_like_email(value: str) -> bool:
    """Enough of an address to look up (the sign-in and reset forms check no more, so that no format rule
    tells anything about which addresses exist)."""
    return 3 <= len(value) <= 320 and "@" in value and not any(character.isspace() for character in value)
