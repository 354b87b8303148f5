"""Development seed: one SPOC per locality with a known API key. Refused outside development.

The seeded staff are marked `development_only`: the API refuses their keys unless ENVIRONMENT=development,
and neither the API nor the worker starts in production while one of them could still sign in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.localities import policies_from
from db.models import StaffLocality, StaffUser
from db.session import session_factory
from domain.staff import hash_api_key


def development_api_key(locality: str) -> str:
    """The development SPOC's key for a locality (development only; documented in the README)."""
    return f"dev-spoc-{locality}"


def seed_development_staff(settings: Settings) -> list[tuple[str, str, str]]:
    """Create (or keep) the development SPOCs; returns (name, locality, api key) for each."""
    if not settings.is_development:
        raise RuntimeError("development staff are only seeded when ENVIRONMENT=development")
    seeded = []
    with session_factory(settings.database_url).begin() as session:
        for key, policy in sorted(policies_from(settings.localities_dir).items()):
            api_key = development_api_key(key)
            email = f"dev.spoc.{key}@community-trigger.invalid"
            user = session.scalar(select(StaffUser).where(StaffUser.email == email))
            if user is None:
                user = StaffUser(
                    name=f"Development SPOC ({policy.council})",
                    email=email,
                    role="spoc",
                    api_key_hash=hash_api_key(api_key),
                    active=True,
                    development_only=True,
                    created_at=dt.datetime.now(dt.UTC),
                    localities=[StaffLocality(locality=key)],
                )
                session.add(user)
            user.development_only = True
            seeded.append((user.name, key, api_key))
    return seeded


def development_users(session: Session) -> list[StaffUser]:
    """Users with development access: marked development users, and anyone holding a development key
    (`dev-spoc-<locality>`, published in the README) however they came by it."""
    localities = set(session.scalars(select(StaffLocality.locality).distinct()))
    development_hashes = [hash_api_key(development_api_key(locality)) for locality in sorted(localities)]
    return list(
        session.scalars(
            select(StaffUser).where(
                or_(StaffUser.development_only, StaffUser.api_key_hash.in_(development_hashes))
            )
        )
    )


def development_access_exists(database_url: str) -> bool:
    """Whether anyone could still sign in with development access: an active development user with a key.
    Production refuses to start while this is true; `python -m db.staff_admin revoke-development-access`
    ends it."""
    with session_factory(database_url)() as session:
        return any(user.active and user.api_key_hash for user in development_users(session))


def refuse_development_access_in_production(settings: Settings) -> None:
    """Raise (stopping start-up) when ENVIRONMENT=production and development access still exists."""
    if settings.environment == "production" and development_access_exists(settings.database_url):
        raise RuntimeError(
            "ENVIRONMENT=production, but the database still has development staff whose API keys are "
            "published (seeded by `make run`). Revoke them with `python -m db.staff_admin "
            "revoke-development-access`, create real staff with `python -m db.staff_admin create-user`, "
            "then start again."
        )
