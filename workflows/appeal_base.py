"""What the appeal workflow keeps and how it writes: its state, the appeal's record (and the case's
chronology), its letters and its emails to staff and the chair, and the stage checks of its decisions.

Workflow code: no I/O and no clock but `workflow.now()`; every write is an activity idempotent on the case
reference and the step. `AppealWorkflow` (workflows/appeal.py) adds the appeal's steps and decisions.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import WorkingCalendar, add_working_days, deadline_instant, london_date, long_date
    from domain.deadlines import CLOSE_OF_BUSINESS
    from workflows.appeal_models import (
        AcknowledgementRecord,
        AppealConsentRecord,
        AppealDecisionRecord,
        AppealInput,
        AppealPanelRecord,
        AppealProgress,
        AppealResult,
        AppealStage,
        AppealWithdrawalRecord,
        ChairRecord,
        CriteriaRecord,
    )
    from workflows.case_base import SYSTEM, cause_of
    from workflows.models import (
        Actor,
        ChronologyEvent,
        LetterCode,
        LetterRequest,
        StaffNotice,
        StaffNoticeKind,
    )
    from workflows.options import mail_options, record_options
    from workflows.search_attributes import CASE_STAGE, NEXT_DEADLINE

STEP_NAMES = {
    "appeal_consent": "record the victim's consent to the appeal",
    "appeal_chair": "name who hears the appeal",
    "appeal_acknowledge": "acknowledge the appeal (Letter 4)",
    "appeal_decision": "decide the appeal (Letter 5 or 6)",
}

STAGE_NAMES = {
    AppealStage.CONSENT_REQUESTED: "waiting for the victim's consent",
    AppealStage.CHAIR_REQUESTED: "waiting for a chair to be named",
    AppealStage.CHAIR_NAMED: "chair named; waiting for the acknowledgement",
    AppealStage.ACKNOWLEDGED: "acknowledged; waiting for the chair's decision on the grounds",
    AppealStage.PANEL: "grounds met; appeal panel and outcome to come",
    AppealStage.DECIDED: "decided",
    AppealStage.WITHDRAWN: "withdrawn",
}


class AppealBase:
    """The appeal's state and its writing side."""

    def __init__(self, appeal: AppealInput) -> None:
        self._input = appeal
        self._rules = appeal.rules
        self._calendar: WorkingCalendar = appeal.bank_holidays.calendar()
        self._stage = AppealStage.CONSENT_REQUESTED if appeal.needs_consent else AppealStage.CHAIR_REQUESTED
        self._result: AppealResult | None = None
        self._deadlines: dict[str, dt.date] = {}
        self._next_deadline: tuple[str, dt.date] | None = None
        self._event_count = 0
        self._attributes: tuple[str, dt.datetime | None] | None = None
        self._consent: AppealConsentRecord | None = None
        self._chair: ChairRecord | None = None
        self._acknowledgement: AcknowledgementRecord | None = None
        self._criteria: CriteriaRecord | None = None
        self._panel: AppealPanelRecord | None = None
        self._decision: AppealDecisionRecord | None = None
        self._withdrawal: AppealWithdrawalRecord | None = None
        # Deadline name -> (the date it counts from, working days): to count it again when holidays change.
        self._deadline_basis: dict[str, tuple[dt.date, int]] = {}
        # Bumped when the dates move (holidays, a new chair): waiting steps wake and plan again.
        self._dates_version = 0
        self._named_on: dt.date | None = None
        # The chair's links: 0 is the bundle's; each resend, or a new chair, a new generation.
        self._bundle_generation = -1
        self._bundle_sent_on: dt.date | None = None
        self._bundle_chair: str | None = None
        # The first bundle could not be delivered: the next one that is restarts the acknowledgement's clock.
        self._bundle_undelivered = False
        # Bundles sent again beside the main flow (a resend, a new chair), awaited before the appeal ends.
        self._resends: list[asyncio.Task[None]] = []

    # ---- the record, letters and notices -----------------------------------------------------

    def _today(self) -> dt.date:
        return london_date(workflow.now())

    def _set_deadline(self, name: str, start: dt.date, working_days: int) -> dt.date:
        due = add_working_days(start, working_days, self._calendar)
        self._deadlines[name] = due
        self._deadline_basis[name] = (start, working_days)
        return due

    async def _record(
        self,
        text: str,
        actor: Actor | str = SYSTEM,
        submission_id: int | None = None,
        submissions: dict[str, int] | None = None,
    ) -> None:
        self._event_count += 1
        event = ChronologyEvent(
            key=f"appeal-e{self._event_count:04d}",
            at=workflow.now(),
            actor=actor.label if isinstance(actor, Actor) else actor,
            event=text,
            submission_id=submission_id,
        )
        progress = AppealProgress(
            reference=self._input.reference,
            version=self._event_count,
            stage=self._stage,
            result=self._result,
            received_on=self._input.received_on,
            route=self._rules.route,
            grounds=list(self._input.grounds),
            needs_consent=self._input.needs_consent,
            request_submission_id=self._input.request_submission_id,
            chair_key=self._chair.chair_key if self._chair else None,
            deadlines=dict(self._deadlines),
            next_deadline=self._next_deadline[1] if self._next_deadline else None,
            next_deadline_step=self._next_deadline[0] if self._next_deadline else None,
            submissions=submissions or {},
            events=[event],
        )
        self._upsert_search_attributes()
        workflow.set_current_details(self._details())
        await workflow.execute_activity_method(
            CaseActivities.record_appeal,
            progress,
            **record_options(f"Record the appeal at the {self._stage.value} stage"),
        )

    def _upsert_search_attributes(self) -> None:
        next_deadline = (
            deadline_instant(self._next_deadline[1], CLOSE_OF_BUSINESS) if self._next_deadline else None
        )
        attributes = (self._stage.value, next_deadline)
        if attributes == self._attributes:
            return
        self._attributes = attributes
        workflow.upsert_search_attributes(
            [
                CASE_STAGE.value_set(self._stage.value),
                NEXT_DEADLINE.value_set(next_deadline) if next_deadline else NEXT_DEADLINE.value_unset(),
            ]
        )

    def _details(self) -> str:
        """The appeal at a glance in the Temporal Web UI: ids, stages and dates only."""
        lines = [
            f"**Appeal {self._input.reference}** "
            f"({self._input.locality}, {self._rules.route.replace('_', ' ')})",
            f"**Stage:** {STAGE_NAMES[self._stage]}"
            + (f" ({self._result.value.replace('_', ' ')})" if self._result else ""),
        ]
        if self._chair is not None:
            lines.append(f"**Heard by:** {self._chair.chair_key}")
        if self._next_deadline:
            step, day = self._next_deadline
            lines.append(f"**Next deadline:** {long_date(day)}, 17:00: {STEP_NAMES.get(step, step)}.")
        return "\n\n".join(lines)

    async def _send_letter(
        self,
        code: LetterCode,
        *,
        sequence: int = 1,
        dated: dt.date | None = None,
        next_update_by: dt.date | None = None,
        copy_to_spoc: bool = False,
    ) -> None:
        # A letter reads the decision it reports from the record: let the update that took it finish.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record(f"Sending letter {code.value}.")
        request = LetterRequest(
            reference=self._input.reference,
            code=code,
            sequence=sequence,
            dated=dated or self._today(),
            next_update_by=next_update_by,
            copy_to_spoc=copy_to_spoc,
        )
        try:
            sent = await workflow.execute_activity_method(
                CaseActivities.send_letter, request, **mail_options(f"Send {code.value} to the applicant")
            )
        except ActivityError as error:
            await self._record(
                f"Letter {code.value} could not be delivered: {cause_of(error)}. "
                "The SPOC must send it by hand."
            )
            return
        how = "queued for printing and posting" if sent.channel == "post" else "sent by email"
        copy = " (copied to the SPOC)" if copy_to_spoc else ""
        number = f" (update {sequence})" if code == LetterCode.APPEAL_UPDATE else ""
        await self._record(f"Letter {code.value}{number} {how}{copy}.")

    async def _notify(
        self, kind: StaffNoticeKind, step: str, due: dt.date, sequence: int, *, to_chair: bool = False
    ) -> None:
        notice = StaffNotice(
            reference=self._input.reference,
            kind=kind,
            step=step,
            due_on=due,
            sequence=sequence,
            dated=self._today(),
            to_chair=to_chair and self._chair is not None,
        )
        try:
            await workflow.execute_activity_method(
                CaseActivities.notify_staff, notice, **mail_options(f"Email: {kind.value} about {step}")
            )
        except ActivityError:
            await self._record(f"The {kind.value} email about '{step}' could not be delivered.")
            return
        if kind in (StaffNoticeKind.REMINDER, StaffNoticeKind.ESCALATION):
            who = "the chair and the SPOC" if notice.to_chair else "the SPOC"
            if kind == StaffNoticeKind.ESCALATION:
                who += " and the locality's manager"
            await self._record(f"{kind.value.capitalize()} {sequence} about '{step}' emailed to {who}.")

    # ---- stage checks of the decisions ---------------------------------------------------------

    def _decided(self) -> bool:
        """The final decision is taken (its letter may still be on its way)."""
        return self._decision is not None or (self._criteria is not None and not self._criteria.met)

    def _require(self, *stages: AppealStage, action: str) -> None:
        if self._withdrawal is not None or self._stage == AppealStage.WITHDRAWN:
            raise ApplicationError(
                f"The appeal has been withdrawn; {action} cannot be recorded.", type="StageConflict"
            )
        if self._stage == AppealStage.DECIDED or self._decided():
            raise ApplicationError(
                f"The appeal has been decided; {action} cannot be recorded.", type="StageConflict"
            )
        if self._stage not in stages:
            allowed = " or ".join(stage.value for stage in stages)
            raise ApplicationError(
                f"{action.capitalize()} can only be recorded at the {allowed} stage; the appeal is at the "
                f"{self._stage.value} stage.",
                type="StageConflict",
            )
