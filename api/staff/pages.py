"""How a staff page is answered: the page with the signed-in user, the session's CSRF token and the headers
every page with case details carries (as the link pages: no caching, no referrer, no framing, a CSP)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from api.link_pages import link_page
from api.staff.sessions import SignedIn, csrf_token
from core.config import Settings


def staff_page(
    template: str,
    signed_in: SignedIn,
    settings: Settings,
    *,
    status_code: int = 200,
    current: str = "",
    **context: Any,
) -> HTMLResponse:
    """The staff page `template` (under templates/staff/, extending _layout.html) for `signed_in`;
    `current` marks its item in the navigation."""
    return link_page(
        template,
        status_code=status_code,
        signed_in=signed_in,
        csrf=csrf_token(settings.secret_key, signed_in),
        current=current,
        **context,
    )
