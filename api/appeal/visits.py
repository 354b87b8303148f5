"""The appeal pages' dependency: the working session the cookie carries, for the role the page is for,
with its locality's policy and the clock (as `api.deps.AgencyVisit` for the agency pages). A session that
is refused is answered with its page; the route does not run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from api.appeal.sessions import (
    SESSION_COOKIE,
    AppealRole,
    AppealSession,
    AppealView,
    SessionRefused,
    check_session,
)
from api.appeal.views import session_refused_page
from api.audit import record_audit
from api.deps import NowDep, PoliciesDep, SessionFactoryDep
from api.link_pages import ShowPage
from domain.policy import LocalityPolicy


@dataclass(frozen=True)
class AppealVisit:
    access: AppealSession
    policy: LocalityPolicy
    sessions: sessionmaker[Session]
    now: dt.datetime

    @property
    def appeal(self) -> AppealView:
        return self.access.appeal

    async def audit(self, action: str, detail: str) -> None:
        await run_in_threadpool(
            record_audit,
            self.sessions,
            at=self.now,
            actor=self.appeal.actor,
            action=action,
            case_reference=self.appeal.case_reference,
            detail=detail,
        )


async def _visit(
    role: AppealRole,
    request: Request,
    sessions: sessionmaker[Session],
    policies: PoliciesDep,
    now: dt.datetime,
) -> AppealVisit:
    access = await run_in_threadpool(
        check_session, sessions, policies, token=request.cookies.get(SESSION_COOKIE), role=role, now=now
    )
    if isinstance(access, SessionRefused):
        raise ShowPage(session_refused_page(access, policies))
    return AppealVisit(access=access, policy=policies[access.appeal.locality], sessions=sessions, now=now)


async def chair_visit(
    request: Request, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> AppealVisit:
    """The named chair's working session."""
    return await _visit(AppealRole.CHAIR, request, sessions, policies, now)


async def contact_visit(
    request: Request, sessions: SessionFactoryDep, policies: PoliciesDep, now: NowDep
) -> AppealVisit:
    """The appeal contact's working session."""
    return await _visit(AppealRole.CONTACT, request, sessions, policies, now)


ChairVisitDep = Annotated[AppealVisit, Depends(chair_visit)]
ContactVisitDep = Annotated[AppealVisit, Depends(contact_visit)]
