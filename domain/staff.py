"""Staff roles and what each may do; API keys are kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Role(StrEnum):
    SPOC = "spoc"
    MANAGER = "manager"
    # Kept for the API keys issued before the staff pages; panel members now sign in like anyone else.
    PANEL = "panel"
    # LLR's county team: follows the appeals of the localities it serves and names who hears them.
    COUNTY_TEAM = "county_team"
    # Runs the staff accounts; sees no case.
    ADMIN = "admin"


ROLE_NAMES: dict[str, str] = {
    Role.SPOC: "SPOC",
    Role.MANAGER: "Manager",
    Role.PANEL: "Panel member",
    Role.COUNTY_TEAM: "County team",
    Role.ADMIN: "Admin",
}


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
    # Name who hears an appeal (LLR: the county team does it; the SPOC can for them).
    NAME_APPEAL_CHAIR = "name_appeal_chair"
    # Print the letters of applicants who asked for post and record the day they were posted.
    POST_LETTERS = "post_letters"
    # Send a letter to the applicant whose email failed for good again: to a corrected address, or by post.
    RESEND_LETTERS = "resend_letters"
    # Invite staff, change their roles and localities, deactivate them, issue and revoke their API keys.
    MANAGE_USERS = "manage_users"


# Everything done on a case; managing accounts is not case work.
CASE_WORK = frozenset(Permission) - {Permission.MANAGE_USERS}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SPOC: CASE_WORK,
    # A manager sees and may act on every case of their localities.
    Role.MANAGER: CASE_WORK,
    # Panel members read cases and record the panel's findings; the SPOC runs everything else.
    Role.PANEL: frozenset({Permission.VIEW_CASE, Permission.RECORD_PANEL_DECISION}),
    # Reads the cases of the localities it serves (an appeal is part of its case) and names appeal chairs;
    # decides nothing else.
    Role.COUNTY_TEAM: frozenset({Permission.VIEW_CASE, Permission.NAME_APPEAL_CHAIR}),
    # Least privilege: an admin manages accounts and sees no case.
    Role.ADMIN: frozenset({Permission.MANAGE_USERS}),
}

# Roles that work on cases need at least one locality; an admin may have none.
ROLES_WITHOUT_LOCALITIES = frozenset({Role.ADMIN})


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
