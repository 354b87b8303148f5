"""Staff authentication for the JSON API: a personal API key, tied to a role and localities.

The FastAPI dependency that uses it (`StaffDep`) is in `api.deps`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import StaffUser
from domain.staff import Permission, hash_api_key, may
from workflows.models import Actor


@dataclass(frozen=True)
class Staff:
    id: int
    name: str
    role: str
    localities: frozenset[str]

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.id, name=self.name, role=self.role)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.role}, staff #{self.id})"

    def require(self, permission: Permission) -> None:
        if not may(self.role, permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"Your role ({self.role}) may not {permission.value}."
            )


def staff_with_api_key(session: Session, key: str, *, development_allowed: bool = False) -> Staff | None:
    """The active staff member whose API key this is; None for an unknown, revoked or deactivated key, and
    for a development user's key unless `development_allowed` (ENVIRONMENT=development)."""
    user = session.scalar(select(StaffUser).where(StaffUser.api_key_hash == hash_api_key(key)))
    if user is None or not user.active:
        return None
    if user.development_only and not development_allowed:
        return None
    return Staff(id=user.id, name=user.name, role=user.role, localities=frozenset(user.locality_keys))
