"""Staff roles and what each may do; API keys are kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Role(StrEnum):
    SPOC = "spoc"
    MANAGER = "manager"
    PANEL = "panel"


class Permission(StrEnum):
    VIEW_CASE = "view_case"
    RECORD_AGENCY_RESPONSE = "record_agency_response"
    # Resend a request with a new link, extend its due date, or proceed without it.
    MANAGE_INFORMATION_REQUESTS = "manage_information_requests"
    DECIDE_THRESHOLD = "decide_threshold"
    ARRANGE_REVIEW = "arrange_review"
    RECORD_PANEL_DECISION = "record_panel_decision"
    WITHDRAW = "withdraw"
    RECORD_APPEAL = "record_appeal"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SPOC: frozenset(Permission),
    Role.MANAGER: frozenset(Permission),
    # Panel members read cases and record the panel's findings; the SPOC runs everything else.
    Role.PANEL: frozenset({Permission.VIEW_CASE, Permission.RECORD_PANEL_DECISION}),
}


def may(role: str, permission: Permission) -> bool:
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def hash_api_key(api_key: str) -> str:
    """SHA-256 of a personal API key. Keys are long and random, so a fast hash is enough to find them."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A new random personal API key and its hash: the key is shown once, only the hash is kept."""
    key = secrets.token_urlsafe(32)
    return key, hash_api_key(key)
