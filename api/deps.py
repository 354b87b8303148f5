"""Every FastAPI dependency of the routes: settings, locality policies, the clock, the database session
(from the engine the app's lifespan created), the Temporal client, the signed-in staff member, the case
they ask for, and an agency's session on the reply pages."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Header, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.agency.sessions import SESSION_COOKIE, AgencySession, RequestView, SessionRefused, check_session
from api.agency.views import session_refused_page
from api.audit import record_audit
from api.auth import Staff, staff_with_api_key
from api.case_store import case_for_staff
from api.errors import invalid
from api.link_pages import ShowPage
from core.config import Settings, get_settings
from core.localities import policies_from
from db.models import Case
from domain.calendar import LONDON
from domain.policy import LocalityPolicy
from domain.staff import Permission

# ---- settings, policies, the clock -------------------------------------------------------------


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in its thread pool,
# and such a hop (a thread handing over the GIL) costs more than the work. Five fewer hops a request read
# cases about 6% faster under 8 concurrent clients (one A/B run: small, near the noise). The policies are
# read once (lru_cache; the lifespan warms it).


async def app_settings(request: Request) -> Settings:
    """`get_settings()` (cached), or what a test put in its place with `app.dependency_overrides` (called
    here as a plain function with no arguments, not resolved by FastAPI: a `def` returning the settings)."""
    return settings_of(request.app)


async def get_policies(settings: Annotated[Settings, Depends(app_settings)]) -> dict[str, LocalityPolicy]:
    return policies_from(settings.localities_dir)


async def today_in_london() -> dt.date:
    """Today's date in Europe/London; tests override it with `app.dependency_overrides`."""
    return dt.datetime.now(LONDON).date()


async def now_utc() -> dt.datetime:
    """The current instant (UTC, aware); tests override it with `app.dependency_overrides`."""
    return dt.datetime.now(dt.UTC)


def settings_of(app: Any) -> Settings:
    """The settings an app's routes see (tests override `get_settings`), for code outside a route:
    middleware, which has the app in `scope["app"]`."""
    provider = app.dependency_overrides.get(get_settings, get_settings)
    settings: Settings = provider()
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
PoliciesDep = Annotated[dict[str, LocalityPolicy], Depends(get_policies)]
TodayDep = Annotated[dt.date, Depends(today_in_london)]
NowDep = Annotated[dt.datetime, Depends(now_utc)]


# ---- the database and Temporal -----------------------------------------------------------------


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """Sessions of the engine the lifespan created, for work that opens its own transactions (in a thread)."""
    return sessionmaker(request.app.state.engine, expire_on_commit=False)


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


async def get_session(sessions: SessionFactoryDep) -> AsyncIterator[Session]:
    """The request's session; the route commits what it writes. Opening a session does no I/O (it connects
    at its first query, in the route's thread); closing it may, so that goes to the thread pool."""
    session = sessions()
    try:
        yield session
    finally:
        # Shielded, as FastAPI's own exit of a `def` dependency is: a cancelled request still gives its
        # connection back.
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(session.close)


SessionDep = Annotated[Session, Depends(get_session)]


async def temporal_client_or_none(request: Request) -> Client | None:
    """The process's Temporal client, or None while it is (re)connecting: for pages that explain that."""
    client: Client | None = request.app.state.temporal.client
    return client


MaybeTemporalDep = Annotated[Client | None, Depends(temporal_client_or_none)]


async def temporal_client(client: MaybeTemporalDep) -> Client:
    if client is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is starting or unavailable; nothing was saved. Please try again shortly.",
        )
    return client


TemporalDep = Annotated[Client, Depends(temporal_client)]


# ---- staff and their cases ---------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="A staff member's personal API key.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Alternative to Bearer.")


def current_staff(
    session: SessionDep,
    settings: SettingsDep,
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
    staff = staff_with_api_key(session, key, development_allowed=settings.is_development)
    if staff is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "That API key is not valid.", headers={"WWW-Authenticate": "Bearer"}
        )
    return staff


StaffDep = Annotated[Staff, Depends(current_staff)]


def _case_of_staff(session: Session, staff: Staff, reference: str) -> Case:
    case = case_for_staff(session, reference=reference, staff=staff)
    # A case outside the staff member's localities (or scope) is as good as absent: 404, not 403.
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No case {reference}.")
    return case


def case_to_view(reference: str, staff: StaffDep, session: SessionDep) -> Case:
    """The case at `{reference}`, for a staff member who may view cases of its locality."""
    staff.require(Permission.VIEW_CASE)
    return _case_of_staff(session, staff, reference)


CaseDep = Annotated[Case, Depends(case_to_view)]

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise invalid(
            (
                ("header", "Idempotency-Key"),
                "Idempotency-Key must be 8 to 64 letters, digits, hyphens, underscores, dots or colons",
            )
        )
    return key


@dataclass(frozen=True)
class CaseAction:
    """A staff decision about to be sent to a case: who decides, on which case of their localities, the
    Temporal client to send it with, and the key that makes a retry of it count once."""

    staff: Staff
    case: Case
    session: Session
    client: Client
    idempotency_key: str


def case_action(permission: Permission) -> Any:
    """The dependency of a staff decision that needs `permission`: `Annotated[CaseAction, case_action(...)]`.

    Answers every response with the Idempotency-Key it was given, or the one it made up, so that a client
    that sent none can still retry an action exactly once.
    """

    def staff_decision(
        reference: str,
        response: Response,
        staff: StaffDep,
        session: SessionDep,
        client: TemporalDep,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description=(
                    "8-64 letters, digits, `-_.:`. Send the same key again to retry this action: it is "
                    "applied once, and a retry answers as the first did. Without one, a key is made up and "
                    "returned in the `Idempotency-Key` response header."
                ),
            ),
        ] = None,
    ) -> CaseAction:
        staff.require(permission)
        key = check_idempotency_key(idempotency_key) or str(uuid.uuid4())
        response.headers["Idempotency-Key"] = key
        case = _case_of_staff(session, staff, reference)
        return CaseAction(staff=staff, case=case, session=session, client=client, idempotency_key=key)

    return Depends(staff_decision)


# ---- an agency on the reply pages -------------------------------------------------------------


@dataclass(frozen=True)
class AgencyVisit:
    """An agency's working session on the reply pages, with its locality's policy and the clock."""

    access: AgencySession
    policy: LocalityPolicy
    sessions: sessionmaker[Session]
    now: dt.datetime

    @property
    def request(self) -> RequestView:
        return self.access.request

    async def audit(self, action: str, detail: str) -> None:
        await run_in_threadpool(
            record_audit,
            self.sessions,
            at=self.now,
            actor=self.request.actor,
            action=action,
            case_reference=self.request.case_reference,
            detail=detail,
        )


async def agency_visit(
    request: Request, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> AgencyVisit:
    """The session the cookie carries, extended by this use; a refused session is answered with its page
    (the route does not run)."""
    access = await run_in_threadpool(
        check_session, sessions, token=request.cookies.get(SESSION_COOKIE), now=now
    )
    if isinstance(access, SessionRefused):
        raise ShowPage(session_refused_page(access, policies))
    return AgencyVisit(access=access, policy=policies[access.request.locality], sessions=sessions, now=now)


AgencyVisitDep = Annotated[AgencyVisit, Depends(agency_visit)]
