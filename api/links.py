"""What the agency links (api.agency), the appeal links (api.appeal) and the applicant's links
(api.applicant) share: finding a token by its hash, noting a link's use, how long the session it opens
lasts, and keeping tokens out of access logs.

Both follow one design: random tokens stored only as their SHA-256, a link exchanged for a session of its
own kind on use, links usable until they expire or are revoked. What a token is bound to, and why it is
refused, differ (a request and its case; an appeal and its chair), so each package keeps its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import AccessToken, AppealToken, ApplicantToken
from domain.links import SESSION_LIFETIME, TOKEN_PATTERN, hash_token

# What a token looks like: anything else is refused before the database is asked.
TOKEN_SHAPE = re.compile(TOKEN_PATTERN)

TokenT = TypeVar("TokenT", AccessToken, AppealToken, ApplicantToken)


def find_token(session: Session, model: type[TokenT], token: str | None) -> TokenT | None:
    """The row of a token (link or session) of this kind, by its hash; None for anything else."""
    if not token or not TOKEN_SHAPE.fullmatch(token):
        return None
    return session.scalar(select(model).where(model.token_hash == hash_token(token)))


def session_expiry(link: AccessToken | AppealToken | ApplicantToken, now: dt.datetime) -> dt.datetime:
    # Idle time slides the session on, but never more than one idle period past the link's own expiry:
    # someone who opened the link in time can finish the form, and a session cannot live for ever.
    return min(now + SESSION_LIFETIME, link.expires_at + SESSION_LIFETIME)


def note_link_opened(session: Session, link: TokenT, opened: TokenT, now: dt.datetime) -> None:
    """Add the session `link` was just exchanged for, and count the link's use (flushed, so that
    `link.use_count` is the new count)."""
    opened.first_used_at = opened.last_used_at = now
    session.add(opened)
    if link.first_used_at is None:
        link.first_used_at = now
    link.last_used_at = now
    # In SQL, so that two people opening the link at once both count.
    link.use_count = type(link).use_count + 1
    session.flush()


def note_session_used(row: TokenT, link: TokenT, now: dt.datetime) -> None:
    """A working session was used: it is extended by this use (within its link's limit)."""
    row.last_used_at = now
    row.use_count = type(row).use_count + 1
    row.expires_at = session_expiry(link, now)


# ---- logs --------------------------------------------------------------------------------------


class RedactLinkTokens(logging.Filter):
    """Access logs print the path: keep a link's token out of them. `prefix` is where links' tokens
    stand in a path (`/agency/r/`)."""

    prefix = ""

    def __init__(self) -> None:
        super().__init__()
        self._path = re.compile(re.escape(self.prefix) + r"[^\s\"?]*")
        self._redacted = f"{self.prefix}[redacted]"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._path.sub(self._redacted, arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self._path.sub(self._redacted, record.msg)
        return True


def redact_in_access_logs(kind: type[RedactLinkTokens]) -> None:
    """Add the filter to uvicorn's access log, once however often the app is built."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())
