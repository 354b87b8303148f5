"""The weekly bank-holiday check's activity: send the installed bank holidays to every open case.

Each open case gets the `calendar_changed` update with its nation's installed bank holidays for the years
around today. The update's id is a digest of the days, so a retried check never applies the same change
twice; a case that already runs by those days rejects the update without a trace in its history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from datetime import timedelta

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.mail import activity_now
from db.models import Case
from domain.calendar import london_date
from domain.policy import LocalityPolicy
from workflows.models import (
    ActionResult,
    BankHolidays,
    CalendarChange,
    CalendarCheckResult,
    CaseStage,
    case_workflow_id,
)

log = logging.getLogger(__name__)

UPDATE_RPC_TIMEOUT = timedelta(seconds=30)


def installed_bank_holidays(nation: str, today: dt.date) -> BankHolidays:
    """The installed `holidays` data for `nation` around today (tests replace this to add a day)."""
    return BankHolidays.installed(nation, today)


def calendar_update(days: BankHolidays, today: dt.date) -> tuple[CalendarChange, str]:
    """The `calendar_changed` update for these days, and its id: a digest of the days and today's date,
    so that a retry today is the same update but a change reverted later (A, B, then A again) is new."""
    digest = hashlib.sha256(
        f"{days.nation}|{days.first_year}|{days.last_year}|{days.days}".encode()
    ).hexdigest()
    change = CalendarChange(
        bank_holidays=days, reason=f"The installed bank holidays (holidays {holidays.__version__}) differ."
    )
    return change, f"calendar-{today.isoformat()}-{digest[:24]}"


class CalendarActivities:
    def __init__(self, policies: dict[str, LocalityPolicy], sessions: sessionmaker[Session]) -> None:
        self._policies = policies
        self._sessions = sessions

    def _open_cases(self) -> list[tuple[str, str]]:
        with self._sessions() as session:
            rows = session.execute(
                select(Case.reference, Case.locality).where(Case.stage != CaseStage.CLOSED.value)
            )
            return [(reference, locality) for reference, locality in rows]

    @activity.defn
    async def send_bank_holidays_to_open_cases(self) -> CalendarCheckResult:
        today = london_date(activity_now())
        cases = await asyncio.to_thread(self._open_cases)
        # Nation -> (the update every open case of that nation gets, its id).
        by_nation: dict[str, tuple[CalendarChange, str]] = {}
        client = activity.client()
        updated = unchanged = not_reached = 0
        for done, (reference, locality) in enumerate(cases):
            activity.heartbeat(done)
            policy = self._policies.get(locality)
            if policy is None:
                not_reached += 1
                continue
            if policy.nation not in by_nation:
                by_nation[policy.nation] = calendar_update(
                    installed_bank_holidays(policy.nation, today), today
                )
            change, update_id = by_nation[policy.nation]
            handle = client.get_workflow_handle(case_workflow_id(reference))
            try:
                # One case that takes no updates (its workflow task failing, say) must not hold up the rest.
                async with asyncio.timeout(UPDATE_RPC_TIMEOUT.total_seconds()):
                    await handle.execute_update(
                        "calendar_changed",
                        change,
                        id=update_id,
                        result_type=ActionResult,
                        rpc_timeout=UPDATE_RPC_TIMEOUT,
                    )
                updated += 1
                log.info("case %s: bank holidays updated", reference)
            except WorkflowUpdateFailedError as error:
                cause = error.cause
                if isinstance(cause, ApplicationError) and cause.type == "NoChange":
                    unchanged += 1
                else:
                    not_reached += 1
                    log.warning("case %s: bank-holiday update refused (%s)", reference, type(cause).__name__)
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError) as error:
                not_reached += 1
                log.warning(
                    "case %s: bank-holiday update not delivered (%s)", reference, type(error).__name__
                )
        return CalendarCheckResult(
            open_cases=len(cases), updated=updated, unchanged=unchanged, not_reached=not_reached
        )
