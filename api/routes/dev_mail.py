"""Development only: the messages the local SMTP sink kept (`devstack.mail_sink`), at /dev/mail.

Every route answers 404 unless ENVIRONMENT=development, and none is in the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from api.deps import SettingsDep
from api.pages import render
from core.config import Settings

router = APIRouter(prefix="/dev/mail", include_in_schema=False)

# A message's file name as the sink writes it; anything else (a slash, "..", a hidden file) is refused.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.eml$")
_LIST_LIMIT = 500
# The page itself runs no script; an HTML email is shown in a sandboxed iframe (no scripts, no forms).
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'none'; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _development_only(settings: Settings) -> Path:
    if settings.environment != "development":
        raise HTTPException(status_code=404)
    return Path(settings.mail_sink_dir)


def _message_path(directory: Path, name: str) -> Path:
    if not _NAME.fullmatch(name):
        raise HTTPException(status_code=404)
    path = (directory / name).resolve()
    if path.parent != directory.resolve() or not path.is_file():
        raise HTTPException(status_code=404)
    return path


def _received(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError) as error:  # an unknown charset or a broken encoding
        return f"(could not decode the {subtype} part: {error})"


def _render(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), headers=_HEADERS)


@router.get("", response_class=HTMLResponse)
def mail_list(settings: SettingsDep) -> HTMLResponse:
    """Newest first: when, To, Subject and a link to each message."""
    directory = _development_only(settings)
    paths = sorted(directory.glob("*.eml"), reverse=True) if directory.is_dir() else []
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    rows = []
    for path in paths[:_LIST_LIMIT]:
        if not _NAME.fullmatch(path.name):
            continue
        try:
            headers = parser.parsebytes(path.read_bytes())
            received = _received(path)
        except OSError:  # removed while listing
            continue
        rows.append(
            {
                "name": path.name,
                "received": received,
                "to": str(headers.get("To", "")),
                "subject": str(headers.get("Subject", "")) or "(no subject)",
            }
        )
    return _render(
        "dev/mail_list.html", rows=rows, total=len(paths), limit=_LIST_LIMIT, directory=str(directory)
    )


@router.get("/{name}", response_class=HTMLResponse)
def mail_message(name: str, settings: SettingsDep) -> HTMLResponse:
    """One message: its headers, its text part, its HTML part (sandboxed) and its attachments."""
    path = _message_path(_development_only(settings), name)
    raw = path.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    attachments = [
        {
            "filename": part.get_filename() or "(no name)",
            "content_type": part.get_content_type(),
            "size": len(part.get_payload(decode=True) or b""),
        }
        for part in message.iter_attachments()
    ]
    return _render(
        "dev/mail_message.html",
        name=path.name,
        received=_received(path),
        size=len(raw),
        subject=str(message.get("Subject", "")) or "(no subject)",
        headers=[(key, str(value)) for key, value in message.items()],
        text=_text(message, "plain"),
        html=_text(message, "html"),
        attachments=attachments,
    )


@router.get("/{name}/raw")
def mail_raw(name: str, settings: SettingsDep) -> Response:
    """The message exactly as the sink received it."""
    path = _message_path(_development_only(settings), name)
    return Response(path.read_bytes(), media_type="text/plain; charset=utf-8", headers=_HEADERS)
