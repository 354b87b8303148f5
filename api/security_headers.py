"""Security headers on every response, whatever answered it: routes, static files, errors, refusals.

A response that set a header keeps its own value (the agency pages' CSP with its nonce, static files'
caching); the rest get the defaults here. HSTS is sent everywhere but in development, whose `make run`
serves plain HTTP on localhost. A file to download carries its own (`download_headers`).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import settings_of

HSTS = "max-age=31536000; includeSubDomains"
# JSON and files: nothing in them may run, load or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# HTML without a policy of its own (the OpenAPI docs outside production, which load their scripts from a
# CDN): no framing, no <base>, no plugins.
PAGE_CSP = "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

BASELINE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Case data is personal: no copy kept by a browser or a proxy unless a response says otherwise.
    "Cache-Control": "no-store",
}


def download_headers(disposition: str) -> dict[str, str]:
    """A file to download (`disposition`: its Content-Disposition): never shown inline, so no viewer runs in
    our origin; never cached or referred."""
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Referrer-Policy": "no-referrer",
    }


def add_security_headers(headers: MutableHeaders, *, hsts: bool) -> None:
    for name, value in BASELINE.items():
        headers.setdefault(name, value)
    is_html = headers.get("content-type", "").startswith("text/html")
    headers.setdefault("Content-Security-Policy", PAGE_CSP if is_html else API_CSP)
    if hsts:
        headers["Strict-Transport-Security"] = HSTS


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hsts = not settings_of(scope["app"]).is_development
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                add_security_headers(MutableHeaders(scope=message), hsts=hsts)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's own 500 would be sent outside this middleware, without the headers.
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(
                    scope, receive, send_with_headers
                )
            raise
