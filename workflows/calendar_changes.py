"""The case workflow's bank holidays: the `calendar_changed` update that the weekly bank-holiday check
(workflows/calendar_check.py) sends when the installed holidays differ from the case's own.

A part of `CaseWorkflow` (its handler is the workflow's own). Only deadlines not yet passed move, never
into the past; the waiting steps and the agencies' chasing plan again from the new dates.
"""

from __future__ import annotations

import datetime as dt

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.calendar import WorkingCalendar, add_working_days, long_date
    from domain.deadlines import StepEventKind, step_events
    from workflows.case_base import SYSTEM
    from workflows.information_requests import InformationRequests, RequestState
    from workflows.models import ActionResult, BankHolidays, CalendarChange, CaseStage


# The step a deadline belongs to (as `next_deadline_step`), and how the chronology names it.
STEP_DEADLINES = {
    "threshold_decision": "threshold_decision_by",
    "outcome": "outcome_by",
    "appeal_by": "appeal_by",
}
DEADLINE_NAMES = {
    "acknowledge_by": "the acknowledgement",
    "threshold_decision_by": "the threshold decision",
    "outcome_by": "the review's outcome",
    "appeal_by": "the end of the appeal window",
}


class BankHolidayChanges(InformationRequests):
    """The `calendar_changed` update."""

    # ---- the bank holidays ------------------------------------------------------------------

    @workflow.update
    async def calendar_changed(self, change: CalendarChange) -> ActionResult:
        """New or changed bank holidays: move the deadlines not yet passed, never back into the past.

        Sent by the weekly calendar check (workflows/calendar_check.py). Nothing is sent after the fact: a
        reminder or update whose moment has gone by when the dates move is passed over.
        """
        old = self._calendar
        new = merged_calendar(old, change.bank_holidays)
        self._calendar = new
        today = self._today()
        moved: list[str] = []
        for name, (start, working_days) in self._deadline_basis.items():
            current = self._deadlines[name]
            recounted = add_working_days(start, working_days, new)
            if current >= today and recounted != current and recounted >= today:
                self._deadlines[name] = recounted
                moved.append(f"{DEADLINE_NAMES[name]} from {long_date(current)} to {long_date(recounted)}")
        self._move_next_deadline(old, today)
        changed_requests = []
        for request in self._requests.values():
            if request.state != RequestState.REQUESTED or request.basis is None or request.due_on is None:
                continue
            recounted = add_working_days(*request.basis, new)
            if request.due_on >= today and recounted != request.due_on and recounted >= today:
                moved.append(
                    f"the answer to {request.key} from {long_date(request.due_on)} to {long_date(recounted)}"
                )
                request.due_on = recounted
                request.due_set_at = workflow.now()
                changed_requests.append(request.key)
        self._dates_version += 1
        self._request_changes += 1
        for key in changed_requests:
            await self._record_request_change(key, due_on=self._requests[key].due_on)
        added = ", ".join(long_date(day) for day in sorted(new.holidays - old.holidays)) or "none"
        removed = ", ".join(long_date(day) for day in sorted(old.holidays - new.holidays)) or "none"
        outcome = f"Moved: {'; '.join(moved)}." if moved else "No deadline of this case moved."
        await self._record(
            f"Bank holidays changed ({change.reason} Added: {added}. Removed: {removed}.) {outcome}", SYSTEM
        )
        await self._calendar_changed_elsewhere()
        return ActionResult(stage=self._stage, message=outcome)

    async def _calendar_changed_elsewhere(self) -> None:
        """What else runs by the case's bank holidays hears of the change (the case's appeal)."""

    @calendar_changed.validator
    def _validate_calendar_changed(self, change: CalendarChange) -> None:
        if self._stage == CaseStage.CLOSED:
            raise ApplicationError("The case is closed.", type="StageConflict")
        if change.bank_holidays.nation != self._calendar.nation:
            raise ApplicationError(
                f"This case runs by the bank holidays of {self._calendar.nation}, "
                f"not {change.bank_holidays.nation}.",
                type="WrongNation",
            )
        if merged_calendar(self._calendar, change.bank_holidays) == self._calendar:
            # Rejected updates leave no trace in the history: the weekly check costs nothing when idle.
            raise ApplicationError("The case already runs by these bank holidays.", type="NoChange")

    def _move_next_deadline(self, old: WorkingCalendar, today: dt.date) -> None:
        """The next deadline shown to staff follows the dates that moved."""
        if self._next_deadline is None:
            return
        step, day = self._next_deadline
        deadline = STEP_DEADLINES.get(step)
        if deadline is None:
            return
        due = self._deadlines[deadline]
        if (day >= today and step == "appeal_by") or due >= today:
            self._next_deadline = (step, due)
            return
        # Overdue: the next update falls on the working day counted from the due date with the new days.
        interval = (
            self._rules.threshold_update_interval
            if step == "threshold_decision"
            else self._rules.outcome_update_interval
        )
        for event in step_events(due, reminder_before=0, update_interval=interval, nation=self._calendar):
            if event.kind == StepEventKind.OVERDUE and event.on > today:
                self._next_deadline = (step, event.on)
                return


def merged_calendar(calendar: WorkingCalendar, update: BankHolidays) -> WorkingCalendar:
    """The case's calendar with the years the update covers replaced by the update's days."""
    kept = {day for day in calendar.holidays if not update.first_year <= day.year <= update.last_year}
    return WorkingCalendar(
        nation=calendar.nation,
        first_year=min(calendar.first_year, update.first_year),
        last_year=max(calendar.last_year, update.last_year),
        holidays=frozenset(kept | set(update.days)),
    )
