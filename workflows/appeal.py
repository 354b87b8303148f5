"""The appeal workflow: one durable run per appeal, from the request to its final letter.

Started by the case workflow as its child (`Appeal:<reference>`) when a request for appeal inside the
window is recorded; the case waits for it and closes with its result. The policy's route decides who
hears the appeal (an independent chair, the partnership's own chair, the PCC's office, senior officers);
the steps and deadlines are the same for every route:

1. a representative's appeal waits for the victim's signed consent (the SPOC is asked, and chased);
2. the policy's contact (LLR: the county team), or the SPOC, names the chair (chased like an agency);
3. the chair gets the bundle through a link within `send_bundle` working days;
4. the chair acknowledges within `acknowledge` working days of the bundle: Letter 4;
5. the chair decides whether the appeal meets the grounds (Letter 5 ends it when not), holds the appeal
   panel and gives the outcome, Letter 6, within `outcome` working days of Letter 4; while it is late an
   update letter goes every `update_interval` working days. The decision is final.
The appeal can be withdrawn at any point. Workflow code only: every side effect is an activity that is
idempotent on the case reference and the step; no personal data or staff's words in history.

The workflow is in three parts: `AppealBase` (state, the record, letters, emails; appeal_base.py),
`AppealDecisions` (the updates and the chair's bundle; appeal_decisions.py) and this module (the steps).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import add_working_days, deadline_instant, long_date
    from domain.deadlines import CLOSE_OF_BUSINESS, StepEvent
    from workflows.appeal_base import STEP_NAMES
    from workflows.appeal_decisions import AppealDecisions
    from workflows.appeal_models import (
        AppealInput,
        AppealResult,
        AppealStage,
        AppealStatus,
        ChairNamingEmail,
        LessonsEmail,
    )
    from workflows.calendar_changes import merged_calendar
    from workflows.case_base import cause_of
    from workflows.models import (
        CalendarChange,
        LetterCode,
        StaffNoticeKind,
    )
    from workflows.options import mail_options
    from workflows.steps import Step, await_step


@workflow.defn(name="AppealWorkflow")
class AppealWorkflow(AppealDecisions):
    @workflow.init
    def __init__(self, appeal: AppealInput) -> None:
        super().__init__(appeal)

    # ---- the appeal --------------------------------------------------------------------------

    @workflow.run
    async def run(self, appeal: AppealInput) -> AppealStatus:
        rules = self._rules
        await self._record(
            f"Appeal opened (request received on {long_date(appeal.received_on)}); it is heard under the "
            f"{rules.route.replace('_', ' ')} route.",
            submissions={"request": appeal.request_submission_id} if appeal.request_submission_id else None,
        )
        await self._send_letter(LetterCode.APPEAL_RECEIVED)

        # 1. A representative's appeal waits for the victim's signed consent.
        if appeal.needs_consent:
            await self._await_consent()
            if self._withdrawal is not None:
                return await self._end_withdrawn()

        # 2. Who hears it: the policy's contact is asked (with a link), and chased like an agency.
        if self._chair is None:
            self._stage = AppealStage.CHAIR_REQUESTED
            await self._ask_for_chair()
            if self._withdrawal is not None:
                return await self._end_withdrawn()

        # 3. The bundle, to the chair through a link of their own.
        self._stage = AppealStage.CHAIR_NAMED
        self._bundle_generation = 0
        await self._send_bundle(0)
        if self._withdrawal is not None:
            return await self._end_withdrawn()

        # 4. The chair acknowledges: Letter 4, from which the decision's deadline counts.
        await self._await_step(
            "appeal_acknowledge",
            "acknowledge_by",
            rules.acknowledge,
            lambda: self._acknowledgement is not None,
        )
        if self._withdrawal is not None:
            return await self._end_withdrawn()
        acknowledged_on = self._today()
        self._stage = AppealStage.ACKNOWLEDGED
        self._set_deadline("decision_by", acknowledged_on, rules.outcome)
        await self._send_letter(LetterCode.APPEAL_ACKNOWLEDGEMENT, dated=acknowledged_on, copy_to_spoc=True)
        # The chair's link lasts until well after the decision is now due.
        await self._keep_chair_link_until(self._deadlines["decision_by"])

        # 5. The decision: on the grounds, then (when met) the panel's outcome; updates while it is late.
        await self._await_step(
            "appeal_decision",
            "decision_by",
            rules.update_interval,
            self._decided,
            update_letter=LetterCode.APPEAL_UPDATE,
        )
        if self._withdrawal is not None:
            return await self._end_withdrawn()
        return await self._end_decided()

    async def _await_consent(self) -> None:
        """Ask the SPOC for the victim's consent, and again every `consent_chase_interval` working days."""
        self._stage = AppealStage.CONSENT_REQUESTED
        sequence = 1
        while self._consent is None and self._withdrawal is None:
            chase_on = add_working_days(self._today(), self._rules.consent_chase_interval, self._calendar)
            self._next_deadline = ("appeal_consent", chase_on)
            await self._notify(StaffNoticeKind.APPEAL_CONSENT_NEEDED, "appeal_consent", chase_on, sequence)
            await self._record(
                "Waiting for the victim's signed consent to the appeal; the SPOC was asked for it"
                + (f" again (chase {sequence})." if sequence > 1 else ".")
            )
            try:
                await workflow.wait_condition(
                    lambda: self._consent is not None or self._withdrawal is not None,
                    timeout=max(
                        deadline_instant(chase_on, CLOSE_OF_BUSINESS) - workflow.now(), dt.timedelta(0)
                    ),
                    timeout_summary=f"Chase the SPOC for consent on {chase_on}",
                )
            except TimeoutError:
                sequence += 1

    async def _ask_for_chair(self) -> None:
        due = self._set_deadline("name_chair_by", self._today(), self._rules.name_chair)
        await self._email_contact("request", 1, due)

        async def remind(event: StepEvent, due: dt.date) -> None:
            await self._email_contact("reminder", event.sequence, due)

        async def overdue(event: StepEvent, due: dt.date, next_by: dt.date) -> None:
            self._next_deadline = ("appeal_chair", next_by)
            await self._email_contact("overdue", event.sequence, due)
            await self._notify(StaffNoticeKind.ESCALATION, "appeal_chair", due, event.sequence)

        await self._wait_for(
            "appeal_chair",
            "name_chair_by",
            self._rules.name_chair,
            lambda: self._chair is not None,
            remind,
            overdue,
        )

    async def _email_contact(self, kind: str, sequence: int, due: dt.date) -> None:
        # The link lasts as long as an agency's would past its due date (or past today, once that has
        # gone by); each chase sends a new one.
        valid_until = add_working_days(
            max(due, self._today()), self._rules.link_valid_after_due, self._calendar
        )
        email = ChairNamingEmail(
            reference=self._input.reference,
            kind=kind,
            sequence=sequence,
            due_on=due,
            dated=self._today(),
            valid_until=valid_until,
        )
        try:
            await workflow.execute_activity_method(
                CaseActivities.ask_for_appeal_chair,
                email,
                **mail_options("Ask the appeal contact to name a chair"),
            )
        except ActivityError as error:
            await self._record(f"The email asking for a chair could not be delivered: {cause_of(error)}.")
            return
        words = {"request": "asked", "reminder": "reminded", "overdue": "chased"}[kind]
        await self._record(f"The policy's appeal contact was {words} to name who hears the appeal.")

    async def _await_step(
        self,
        step: str,
        deadline: str,
        interval: int,
        done: Callable[[], bool],
        update_letter: LetterCode | None = None,
    ) -> None:
        """A step the chair owns: the chair and the SPOC are reminded before it is due and escalated to
        after; for the decision, the applicant gets an update letter each time as well."""

        async def remind(event: StepEvent, due: dt.date) -> None:
            if done() or self._withdrawal is not None:
                return  # done while the reminder fell due
            await self._notify(StaffNoticeKind.REMINDER, step, due, event.sequence, to_chair=True)

        async def overdue(event: StepEvent, due: dt.date, next_by: dt.date) -> None:
            if done() or self._withdrawal is not None:
                return  # done while the deadline was passing: no update letter, no escalation
            self._next_deadline = (step, next_by)
            if self._chair is not None:
                await self._keep_chair_link_until(next_by)
            if update_letter is not None:
                await self._record(
                    f"Deadline to {STEP_NAMES[step]} ({long_date(due)}) has passed; update {event.sequence} "
                    f"sent to the applicant and escalated."
                )
                await self._send_letter(
                    update_letter, sequence=event.sequence, dated=event.on, next_update_by=next_by
                )
            else:
                await self._record(
                    f"Deadline to {STEP_NAMES[step]} ({long_date(due)}) has passed; "
                    f"escalation {event.sequence}."
                )
            await self._notify(StaffNoticeKind.ESCALATION, step, due, event.sequence, to_chair=True)

        await self._wait_for(step, deadline, interval, done, remind, overdue)

    async def _wait_for(
        self,
        step: str,
        deadline: str,
        interval: int,
        done: Callable[[], bool],
        remind: Callable[[StepEvent, dt.date], Awaitable[None]],
        overdue: Callable[[StepEvent, dt.date, dt.date], Awaitable[None]],
    ) -> None:
        due = self._deadlines[deadline]
        self._next_deadline = (step, due)
        await self._record(f"Waiting to {STEP_NAMES[step]}, due by {long_date(due)}.")
        await await_step(
            Step(
                name=step,
                due=lambda: self._deadlines[deadline],
                calendar=lambda: self._calendar,
                reminder_before=self._rules.spoc_reminder_before,
                update_interval=interval,
                finished=lambda: done() or self._withdrawal is not None,
                dates_version=lambda: self._dates_version,
                remind=remind,
                overdue=overdue,
            )
        )

    async def _end_decided(self) -> AppealStatus:
        criteria, decision = self._criteria, self._decision
        if decision is None:
            assert criteria is not None and not criteria.met
            self._result = AppealResult.CRITERIA_NOT_MET
            letter = LetterCode.APPEAL_CRITERIA_NOT_MET
        else:
            self._result = AppealResult.UPHELD if decision.upheld else AppealResult.NOT_UPHELD
            letter = LetterCode.APPEAL_OUTCOME
        # Lessons may come with the decision on the grounds, with the outcome, or both.
        lessons = bool(criteria and criteria.has_lessons) or bool(decision and decision.has_lessons)
        self._stage = AppealStage.DECIDED
        self._next_deadline = None
        await self._finish_resends()
        await self._send_letter(letter, copy_to_spoc=True)
        if lessons:
            try:
                await workflow.execute_activity_method(
                    CaseActivities.send_appeal_lessons,
                    LessonsEmail(reference=self._input.reference, dated=self._today()),
                    **mail_options("Share the appeal's lessons learnt with the partnership"),
                )
            except ActivityError as error:
                await self._record(f"The lessons learnt could not be emailed to partners: {cause_of(error)}.")
            else:
                await self._record("The lessons learnt were shared with the partnership's list.")
        await self._record(f"Appeal decided: {self._result.value.replace('_', ' ')}. The decision is final.")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _end_withdrawn(self) -> AppealStatus:
        self._stage = AppealStage.WITHDRAWN
        self._result = AppealResult.WITHDRAWN
        self._next_deadline = None
        await self._finish_resends()
        await self._send_letter(LetterCode.APPEAL_WITHDRAWN)
        await self._record("Appeal closed: it was withdrawn.")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    # ---- bank holidays ------------------------------------------------------------------------

    @workflow.signal
    async def calendar_changed(self, change: CalendarChange) -> None:
        """The case's bank holidays changed (the weekly check updated the case, which tells its appeal):
        deadlines not yet passed are counted again, never into the past; waiting steps plan again."""
        if self._result is not None:
            return
        self._calendar = merged_calendar(self._calendar, change.bank_holidays)
        today = self._today()
        moved = []
        for name, (start, working_days) in self._deadline_basis.items():
            current = self._deadlines[name]
            recounted = add_working_days(start, working_days, self._calendar)
            if current >= today and recounted != current and recounted >= today:
                self._deadlines[name] = recounted
                moved.append(f"{name.replace('_', ' ')} from {long_date(current)} to {long_date(recounted)}")
                if self._next_deadline and self._next_deadline[1] == current:
                    self._next_deadline = (self._next_deadline[0], recounted)
        self._dates_version += 1
        await self._record(
            "Bank holidays changed. "
            + (f"Moved: {'; '.join(moved)}." if moved else "No appeal deadline moved.")
        )

    # ---- queries -----------------------------------------------------------------------------

    @workflow.query
    def status(self) -> AppealStatus:
        return AppealStatus(
            reference=self._input.reference,
            stage=self._stage,
            result=self._result,
            chair_key=self._chair.chair_key if self._chair else None,
            deadlines=dict(self._deadlines),
        )
