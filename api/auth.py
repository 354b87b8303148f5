"""Staff authentication for the JSON API: a personal API key, tied to a role and localities."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from db.models import AuditEntry, StaffUser
from db.session import session_factory
from domain.staff import Permission, hash_api_key, may
from workflows.models import Actor

_bearer = HTTPBearer(auto_error=False, description="A staff member's personal API key.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Alternative to Bearer.")


def get_session(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Session]:
    with session_factory(settings.database_url)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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


def current_staff(
    request: Request,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Staff:
    key = bearer.credentials if bearer else api_key
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Sign in: send your staff API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = session.scalar(select(StaffUser).where(StaffUser.api_key_hash == hash_api_key(key)))
    if user is None or not user.active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "That API key is not valid.", headers={"WWW-Authenticate": "Bearer"}
        )
    return Staff(id=user.id, name=user.name, role=user.role, localities=frozenset(user.locality_keys))


StaffDep = Annotated[Staff, Depends(current_staff)]


def audit(
    session: Session, staff: Staff, action: str, case_reference: str | None, detail: str | None = None
) -> None:
    """Record who saw or changed what. The caller commits; never put personal data in `detail`."""
    session.add(
        AuditEntry(
            at=dt.datetime.now(dt.UTC),
            actor=staff.label,
            action=action,
            case_reference=case_reference,
            detail=detail,
        )
    )
