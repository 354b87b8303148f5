"""Secret links for agencies: random tokens, stored only as hashes, that expire on the working-day rule.

An agency answers an information request from a link in its email, without an account. The link's
token is random (from `secrets`), carries nothing about the case, and is bound in the database to one
case, one agency and one request. It lasts until the end of the working day a set number of working
days after the request's due date (15 by default), so a late answer is still welcome but a link does
not live for ever.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from enum import StrEnum

from domain.calendar import add_working_days
from domain.deadlines import window_closes_at

# 32 random bytes: far beyond guessing, and 43 URL-safe characters.
TOKEN_BYTES = 32
# Link tokens appear in URLs as /agency/r/<token>: only these characters, this long.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"  # noqa: S105 - a pattern, not a secret
# How long the session a link is exchanged for lasts (idle time; each page view extends it).
SESSION_LIFETIME = dt.timedelta(hours=4)


class TokenPurpose(StrEnum):
    # In the request email: opens the reply page once or more until it expires or is revoked.
    AGENCY_LINK = "agency_link"
    # In a cookie, after a link was used: what the reply page and its form accept.
    AGENCY_SESSION = "agency_session"


class AppealTokenPurpose(StrEnum):
    # In the bundle email: opens the chair's page until it expires, is revoked, or the appeal ends.
    CHAIR_LINK = "chair_link"
    CHAIR_SESSION = "chair_session"
    # In the email asking the policy's contact (LLR: the county team) to name the chair.
    CONTACT_LINK = "contact_link"
    CONTACT_SESSION = "contact_session"


class ApplicantTokenPurpose(StrEnum):
    # In each emailed letter: opens the applicant's case page until it expires or is revoked.
    APPLICANT_LINK = "applicant_link"
    APPLICANT_SESSION = "applicant_session"


# How long an applicant's link works: long enough to follow a case and its appeal to the end.
APPLICANT_LINK_LIFETIME = dt.timedelta(days=365)


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store: (token, sha256 hex)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_expires_at(due_on: dt.date, valid_after_due: int, nation: str) -> dt.datetime:
    """When a link for a request due on `due_on` stops working: midnight (London) after the working day
    `valid_after_due` working days after the due date."""
    return window_closes_at(add_working_days(due_on, valid_after_due, nation))


def agency_link_path(token: str) -> str:
    return f"/agency/r/{token}"


def appeal_link_path(token: str) -> str:
    """The chair's and the contact's links: /appeal/r/<token>."""
    return f"/appeal/r/{token}"


def applicant_link_path(token: str) -> str:
    """The applicant's link to their case page: /case/r/<token>."""
    return f"/case/r/{token}"
