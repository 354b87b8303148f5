"""Development seed: one SPOC per locality with a known API key. Refused outside development."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

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
                    created_at=dt.datetime.now(dt.UTC),
                    localities=[StaffLocality(locality=key)],
                )
                session.add(user)
            seeded.append((user.name, key, api_key))
    return seeded
