"""Staff authentication for the JSON API: a personal API key, tied to a role and localities.

The FastAPI dependency that uses it (`StaffDep`) is in `api.deps`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Case, StaffUser
from domain.staff import Permission, Role, hash_api_key, may
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


@dataclass(frozen=True)
class Scope:
    """The cases a member of staff may see: those of their localities, or only those with an appeal."""

    localities: tuple[str, ...]
    appeals_only: bool

    def includes(self, case: Case) -> bool:
        return case.locality in self.localities and (not self.appeals_only or case.appeal is not None)


def scope_of(staff: Staff) -> Scope:
    """SPOCs, managers and panel members see every case of their localities; the county team, which hears
    of a case only when it is appealed, the cases with an appeal; anyone else (an admin) none. The same on
    the staff pages and the JSON API."""
    localities = tuple(sorted(staff.localities))
    if not may(staff.role, Permission.VIEW_CASE):
        return Scope((), appeals_only=True)
    return Scope(localities, appeals_only=staff.role == Role.COUNTY_TEAM)


def staff_with_api_key(session: Session, key: str, *, development_allowed: bool = False) -> Staff | None:
    """The active staff member whose API key this is; None for an unknown, revoked or deactivated key, and
    for a development user's key unless `development_allowed` (ENVIRONMENT=development)."""
    user = session.scalar(select(StaffUser).where(StaffUser.api_key_hash == hash_api_key(key)))
    if user is None or not user.active:
        return None
    if user.development_only and not development_allowed:
        return None
    return Staff(id=user.id, name=user.name, role=user.role, localities=frozenset(user.locality_keys))
