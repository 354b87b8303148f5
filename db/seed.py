"""Development seed: one SPOC per locality, a manager, a county-team user and an admin, each with a known
API key and the one published development password. Refused outside development.

The seeded staff are marked `development_only`: the API refuses their keys and their password unless
ENVIRONMENT=development, and neither the API nor the worker starts in production while one of them could
still sign in.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.staff.passwords import DEVELOPMENT_PASSWORD, hash_password
from core.config import Settings
from core.localities import policies_from
from db.models import StaffLocality, StaffUser
from db.session import session_factory
from domain.policy import LocalityPolicy
from domain.staff import Role, hash_api_key

# The keys of the development users who are not a locality's SPOC (published in the README).
OTHER_DEVELOPMENT_KEYS = {
    Role.MANAGER: "dev-manager",
    Role.COUNTY_TEAM: "dev-county-team",
    Role.ADMIN: "dev-admin",
}
# The shared list of appeal chairs that marks a locality as one of Leicester, Leicestershire and Rutland's.
LLR_CHAIR_LIST = "llr"


class SeededUser(NamedTuple):
    name: str
    email: str
    role: str
    localities: tuple[str, ...]
    api_key: str

    @property
    def where(self) -> str:
        """The localities in a word for `make run`'s table: the one key, "LLR (10 localities)", or "-"."""
        if len(self.localities) > 1:
            return f"LLR ({len(self.localities)} localities)"
        return self.localities[0] if self.localities else "-"


def development_api_key(locality: str) -> str:
    """The development SPOC's key for a locality (development only; documented in the README)."""
    return f"dev-spoc-{locality}"


def llr_localities(policies: dict[str, LocalityPolicy]) -> list[str]:
    """The localities the LLR county team serves: those whose appeals go to the LLR list of chairs."""
    return sorted(key for key, policy in policies.items() if policy.appeal.chair_list == LLR_CHAIR_LIST)


def _wanted(policies: dict[str, LocalityPolicy]) -> list[tuple[str, str, Role, list[str], str]]:
    """(name, email, role, localities, API key) of every development user."""
    users = [
        (
            f"Development SPOC ({policy.council})",
            f"dev.spoc.{key}@community-trigger.invalid",
            Role.SPOC,
            [key],
            development_api_key(key),
        )
        for key, policy in sorted(policies.items())
    ]
    llr = llr_localities(policies)
    users += [
        ("Development manager (LLR)", "dev.manager@community-trigger.invalid", Role.MANAGER, llr, ""),
        (
            "Development county team (LLR)",
            "dev.county-team@community-trigger.invalid",
            Role.COUNTY_TEAM,
            llr,
            "",
        ),
        ("Development admin", "dev.admin@community-trigger.invalid", Role.ADMIN, [], ""),
    ]
    return [
        (name, email, role, localities, key or OTHER_DEVELOPMENT_KEYS[role])
        for name, email, role, localities, key in users
    ]


def seed_development_staff(settings: Settings) -> list[SeededUser]:
    """Create (or keep) the development users; each signs in with DEVELOPMENT_PASSWORD (a user who has
    set another password keeps it). Returns each user with their API key."""
    if not settings.is_development:
        raise RuntimeError("development staff are only seeded when ENVIRONMENT=development")
    seeded = []
    password_hash: str | None = None  # one argon2 hash for all: the password is published anyway
    with session_factory(settings.database_url).begin() as session:
        for name, email, role, localities, api_key in _wanted(policies_from(settings.localities_dir)):
            user = session.scalar(select(StaffUser).where(StaffUser.email == email))
            if user is None:
                user = StaffUser(
                    name=name,
                    email=email,
                    role=role.value,
                    api_key_hash=hash_api_key(api_key),
                    active=True,
                    development_only=True,
                    created_at=dt.datetime.now(dt.UTC),
                    failed_sign_ins=0,
                    localities=[StaffLocality(locality=locality) for locality in localities],
                )
                session.add(user)
            user.development_only = True
            if user.password_hash is None:
                password_hash = password_hash or hash_password(DEVELOPMENT_PASSWORD)
                user.password_hash = password_hash
            seeded.append(SeededUser(user.name, email, user.role, tuple(sorted(user.locality_keys)), api_key))
    return seeded


def development_users(session: Session) -> list[StaffUser]:
    """Users with development access: marked development users, and anyone holding a development key
    (`dev-spoc-<locality>`, `dev-manager`, ..., published in the README) however they came by it."""
    localities = set(session.scalars(select(StaffLocality.locality).distinct()))
    keys = [development_api_key(locality) for locality in sorted(localities)]
    development_hashes = [hash_api_key(key) for key in [*keys, *OTHER_DEVELOPMENT_KEYS.values()]]
    return list(
        session.scalars(
            select(StaffUser).where(
                or_(StaffUser.development_only, StaffUser.api_key_hash.in_(development_hashes))
            )
        )
    )


def development_access_exists(database_url: str) -> bool:
    """Whether anyone could still sign in with development access: an active development user with a key
    or a password. Production refuses to start while this is true; `python -m db.staff_admin
    revoke-development-access` ends it."""
    with session_factory(database_url)() as session:
        return any(
            user.active and (user.api_key_hash or user.password_hash) for user in development_users(session)
        )


def refuse_development_access_in_production(settings: Settings) -> None:
    """Raise (stopping start-up) when ENVIRONMENT=production and development access still exists."""
    if settings.environment == "production" and development_access_exists(settings.database_url):
        raise RuntimeError(
            "ENVIRONMENT=production, but the database still has development staff whose API keys and "
            "password are published (seeded by `make run`). Revoke them with `python -m db.staff_admin "
            "revoke-development-access`, create real staff with `python -m db.staff_admin create-user`, "
            "then start again."
        )
