"""Request bodies larger than MAX_REQUEST_BODY_BYTES are refused with 413 before anything parses them:
by their Content-Length, or, sent in chunks without one, as soon as the bytes received pass the limit.

Pure ASGI, so that it sees the body as it arrives. The agency's answer (`POST /agency/reply`, with its
attachments) and the applicant's added information (`POST /case/add-information`, with a document) are the
exceptions: each reads its form under a larger limit of its own (`api.agency.forms.MAX_BODY_BYTES`,
`api.applicant.information.MAX_BODY_BYTES`) and answers on its own page.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.agency.views import request_too_large_page, size_in_words
from api.deps import settings_of

# (method, path) of the routes that keep a limit of their own.
OWN_LIMIT = frozenset({("POST", "/agency/reply"), ("POST", "/case/add-information")})


class _BodyTooLarge(Exception):
    """Raised into the route reading the body; the middleware answers 413 instead of the route."""


def too_large_response(path: str, limit: int) -> Response:
    # The pages of people with a link (agencies, appeal chairs) answer with a page, the API with JSON.
    if path.startswith(("/agency/", "/appeal/")):
        return request_too_large_page(limit)
    return JSONResponse(
        {"detail": f"The request body is too large: it can be up to {size_in_words(limit)}."},
        status_code=413,
    )


class RequestBodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in OWN_LIMIT:
            await self.app(scope, receive, send)
            return
        limit = settings_of(scope["app"]).max_request_body_bytes
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limit:
            await too_large_response(scope["path"], limit)(scope, receive, send)
            return

        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # What the route answers to a body cut short (FastAPI: 400, cannot parse) is not sent: the 413 is.
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await too_large_response(scope["path"], limit)(scope, receive, send)
