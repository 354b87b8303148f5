"""What every part of the case workflow shares: its state, the case record it keeps current, its letters
and its emails to staff.

Workflow code: no I/O and no clock but `workflow.now()`. Each write goes through an activity that is
idempotent on the case reference and the step.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import WorkingCalendar, add_working_days, deadline_instant, london_date, long_date
    from domain.deadlines import CLOSE_OF_BUSINESS, window_closes_at
    from domain.legacy_bank_holidays import legacy_calendar
    from workflows.models import (
        Actor,
        CaseInput,
        CaseProgress,
        CaseStage,
        ChronologyEvent,
        ClosedReason,
        InformationPurpose,
        LetterCode,
        LetterRequest,
        LetterSent,
        StaffNotice,
        StaffNoticeKind,
        WithdrawalRecord,
    )
    from workflows.options import mail_options, record_options
    from workflows.search_attributes import CASE_STAGE, NEXT_DEADLINE

SYSTEM = "Community Trigger service"

# Cases started from this version on chase agencies (links, reminders, escalation, resend, waive) and
# wait for every information request to be answered or waived before the decision it informs.
AGENCY_CHASING = "agency-chasing"
# Cases started from this version on write to the case record and the search attributes only when
# something changed, which keeps their histories short, and set NextDeadline to the moment the step's
# escalation happens (17:00 London time on the due date; the window's end for the appeal window).
LEAN_HISTORY = "lean-history"
# Cases that reach their appeal from this version on run it as a child workflow, `Appeal:<reference>`
# (workflows/appeal.py); before, the case waited for the SPOC to record the appeal's outcome.
APPEAL_WORKFLOW = "appeal-workflow"

PURPOSE_NAMES = {
    InformationPurpose.THRESHOLD: "threshold check",
    InformationPurpose.REVIEW: "case review",
}

STEP_NAMES = {
    "threshold_decision": "tell the applicant whether the threshold is met (Letter 2a or 2b)",
    "outcome": "tell the applicant the outcome of the review (Letter 3)",
}

UPDATE_LETTERS = (LetterCode.THRESHOLD_UPDATE, LetterCode.OUTCOME_UPDATE)

STAGE_NAMES = {
    CaseStage.RECEIVED: "received",
    CaseStage.THRESHOLD_CHECK: "threshold check",
    CaseStage.REVIEW: "case review",
    CaseStage.APPEAL_WINDOW: "appeal window",
    CaseStage.APPEAL: "appeal",
    CaseStage.CLOSED: "closed",
}


class CaseBase:
    """The state and the writing side of one case; `CaseWorkflow` adds the lifecycle and the decisions."""

    def __init__(self, case: CaseInput) -> None:
        self._input = case
        self._rules = case.rules
        # The bank holidays this case runs by: its own, never the installed data (see domain/calendar.py).
        self._calendar: WorkingCalendar = (
            case.bank_holidays.calendar() if case.bank_holidays else legacy_calendar(case.rules.nation)
        )
        # Bumped when the calendar changes, to wake waiting steps so they plan again.
        self._dates_version = 0
        self._stage = CaseStage.RECEIVED
        self._closed_reason: ClosedReason | None = None
        self._deadlines: dict[str, dt.date] = {}
        # Deadline name -> (the date it counts from, working days): how to count it again if holidays change.
        self._deadline_basis: dict[str, tuple[dt.date, int]] = {}
        self._next_deadline: tuple[str, dt.date] | None = None
        self._event_count = 0
        self._record_count = 0
        self._withdrawal: WithdrawalRecord | None = None
        # Set in `run` from the patch markers (False on replay of cases started before each patch).
        self._chasing = False
        self._lean = False
        # What the case record and the search attributes last said (lean histories write only changes).
        self._written: tuple[object, ...] | None = None
        self._attributes: tuple[str, dt.datetime | None] = (CaseStage.RECEIVED.value, None)

    # ---- dates -------------------------------------------------------------------------------

    def _today(self) -> dt.date:
        return london_date(workflow.now())

    def _set_deadline(self, name: str, start: dt.date, working_days: int) -> dt.date:
        """Set a deadline `working_days` after `start`, remembering how, so a calendar change can move it."""
        due = add_working_days(start, working_days, self._calendar)
        self._deadlines[name] = due
        self._deadline_basis[name] = (start, working_days)
        return due

    def _stopped(self) -> bool:
        """Work beside the main flow (chasing) ends when the application is withdrawn or the case closes."""
        return self._withdrawal is not None or self._stage == CaseStage.CLOSED

    def _require_stage(self, *stages: CaseStage, action: str) -> None:
        if self._stage == CaseStage.CLOSED:
            raise ApplicationError(
                f"The case is closed; {action} can no longer be recorded.", type="StageConflict"
            )
        if self._withdrawal is not None:
            raise ApplicationError(
                f"The application has been withdrawn; {action} cannot be recorded.", type="StageConflict"
            )
        if self._stage not in stages:
            allowed = " or ".join(stage.value for stage in stages)
            raise ApplicationError(
                f"{action.capitalize()} can only be recorded at the {allowed} stage; the case is at "
                f"the {self._stage.value} stage.",
                type="StageConflict",
            )

    # ---- the case record ---------------------------------------------------------------------

    def _event(
        self, text: str, actor: Actor | str = SYSTEM, submission_id: int | None = None
    ) -> ChronologyEvent:
        self._event_count += 1
        return ChronologyEvent(
            key=f"e{self._event_count:04d}",
            at=workflow.now(),
            actor=actor.label if isinstance(actor, Actor) else actor,
            event=text,
            submission_id=submission_id,
        )

    @staticmethod
    def _decision(column: str, record: BaseModel, submission_id: int | None) -> dict[str, dict[str, object]]:
        """What the case record keeps of a decision: the submission to copy into `column` (the texts stay
        in the database), or, for cases from before submissions, the decision itself."""
        if submission_id is not None:
            return {column: {"submission_id": submission_id}}
        return {column: record.model_dump(mode="json")}

    def _progress_now(self) -> tuple[object, ...]:
        return (self._stage, dict(self._deadlines), self._next_deadline, self._closed_reason)

    async def _record(
        self,
        text: str | None,
        actor: Actor | str = SYSTEM,
        decisions: dict[str, dict[str, object]] | None = None,
        submission_id: int | None = None,
    ) -> None:
        """Write the case's current stage, deadlines and one chronology entry; refresh search attributes.

        `text` None writes the record without a chronology entry (lean histories only). The entry names
        staff by id and a submission by id: the activity adds their names and texts from the database."""
        progress = CaseProgress(
            reference=self._input.reference,
            stage=self._stage,
            deadlines=dict(self._deadlines),
            next_deadline=self._next_deadline[1] if self._next_deadline else None,
            next_deadline_step=self._next_deadline[0] if self._next_deadline else None,
            closed_reason=self._closed_reason,
            decisions=decisions or {},
            events=[self._event(text, actor, submission_id)] if text is not None else [],
            version=self._next_record_number(),
        )
        self._upsert_search_attributes()
        workflow.set_current_details(self._details())
        self._written = self._progress_now()
        await workflow.execute_activity_method(
            CaseActivities.record_progress,
            progress,
            **record_options(f"Record the case at the {self._stage.value} stage"),
        )

    def _next_record_number(self) -> int:
        self._record_count += 1
        return self._record_count

    def _upsert_search_attributes(self) -> None:
        next_deadline = None
        if self._next_deadline and self._lean:
            step, day = self._next_deadline
            next_deadline = (
                window_closes_at(day) if step == "appeal_by" else deadline_instant(day, CLOSE_OF_BUSINESS)
            )
        elif self._next_deadline:
            next_deadline = dt.datetime.combine(self._next_deadline[1], dt.time(), tzinfo=dt.UTC)
        attributes = (self._stage.value, next_deadline)
        if self._lean and attributes == self._attributes:
            return
        self._attributes = attributes
        workflow.upsert_search_attributes(
            [
                CASE_STAGE.value_set(self._stage.value),
                NEXT_DEADLINE.value_set(next_deadline) if next_deadline else NEXT_DEADLINE.value_unset(),
            ]
        )

    # ---- what operations see in the Temporal Web UI ------------------------------------------

    def _waiting_for(self) -> list[str]:
        """What the case waits for now, and from whom (the workflow adds its steps and requests)."""
        return []

    def _details(self) -> str:
        """The case at a glance, in Markdown: stage, what it waits for, the next deadline and what then.

        Ids, stages and dates only: never the applicant's details or staff's words."""
        lines = [
            f"**Case {self._input.reference}** ({self._input.locality})",
            f"**Stage:** {STAGE_NAMES[self._stage]}"
            + (f" ({self._closed_reason.value})" if self._closed_reason else ""),
        ]
        waiting = self._waiting_for()
        if waiting:
            lines.append("**Waiting for:**\n" + "\n".join(f"- {item}" for item in waiting))
        if self._next_deadline:
            step, day = self._next_deadline
            if step == "appeal_by":
                lines.append(
                    f"**Next deadline:** the appeal window ends with {long_date(day)}: without a request "
                    f"for appeal the case closes."
                )
            else:
                lines.append(
                    f"**Next deadline:** {long_date(day)}, 17:00: unless the SPOC has decided by then, the "
                    f"applicant gets an update letter and the SPOC and manager an escalation."
                )
        return "\n\n".join(lines)

    # ---- letters and emails ------------------------------------------------------------------

    async def _send_letter(
        self,
        code: LetterCode,
        *,
        sequence: int = 1,
        dated: dt.date | None = None,
        next_update_by: dt.date | None = None,
    ) -> LetterSent | None:
        """Send a letter; a permanent delivery failure is recorded for the SPOC and the case goes on."""
        # A letter reads the decision and the deadlines it reports from the case record: let the update
        # handler that took the decision finish recording it, and record the deadlines, first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self._lean:
            await self._record(f"Sending letter {code.value}.")
        elif self._written != self._progress_now():
            await self._record(None)
        request = LetterRequest(
            reference=self._input.reference,
            code=code,
            sequence=sequence,
            dated=dated or self._today(),
            next_update_by=next_update_by,
        )
        try:
            sent: LetterSent = await workflow.execute_activity_method(
                CaseActivities.send_letter, request, **mail_options(f"Send {code.value} to the applicant")
            )
        except ActivityError as error:
            await self._record(
                f"Letter {code.value} could not be delivered: {cause_of(error)}. "
                "The SPOC must send it by hand."
            )
            return None
        how = "queued for printing and posting" if sent.channel == "post" else "sent by email"
        number = f" (update {sequence})" if code in UPDATE_LETTERS else ""
        await self._record(f"Letter {code.value}{number} {how}.")
        return sent

    async def _notify_staff(self, kind: StaffNoticeKind, step: str, due: dt.date, sequence: int) -> None:
        notice = StaffNotice(
            reference=self._input.reference,
            kind=kind,
            step=step,
            due_on=due,
            sequence=sequence,
            dated=self._today(),
        )
        try:
            await workflow.execute_activity_method(
                CaseActivities.notify_staff, notice, **mail_options(f"Email staff: {kind.value} about {step}")
            )
        except ActivityError:
            await self._record(f"The {kind.value} email about '{step}' could not be delivered.")
            return
        if kind == StaffNoticeKind.INFORMATION_COMPLETE:
            purpose = PURPOSE_NAMES[InformationPurpose(step)]
            await self._record(f"The SPOC was told that the information for the {purpose} is complete.")
        elif kind == StaffNoticeKind.NEW_LINK_REQUESTED:
            await self._record(f"The SPOC was asked to send a new link for information request {step}.")
        else:
            who = "the SPOC" if kind == StaffNoticeKind.REMINDER else "the SPOC and the locality's manager"
            await self._record(f"{kind.value.capitalize()} {sequence} about '{step}' emailed to {who}.")


def cause_of(error: ActivityError) -> str:
    return error.cause.message if isinstance(error.cause, ApplicationError) else str(error.cause)
