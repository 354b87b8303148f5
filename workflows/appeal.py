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
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import WorkingCalendar, add_working_days, deadline_instant, london_date, long_date
    from domain.deadlines import CLOSE_OF_BUSINESS, StepEvent
    from workflows.appeal_models import (
        OPEN_STAGES,
        AcknowledgementRecord,
        AppealActionResult,
        AppealConsentRecord,
        AppealDecisionRecord,
        AppealInput,
        AppealPanelRecord,
        AppealProgress,
        AppealResult,
        AppealStage,
        AppealStatus,
        AppealWithdrawalRecord,
        BundleEmail,
        BundleSent,
        ChairLinkRecord,
        ChairLinkValidity,
        ChairNamingEmail,
        ChairRecord,
        CriteriaRecord,
        LessonsEmail,
    )
    from workflows.calendar_changes import merged_calendar
    from workflows.case_base import SYSTEM, cause_of
    from workflows.models import (
        Actor,
        CalendarChange,
        ChronologyEvent,
        LetterCode,
        LetterRequest,
        StaffNotice,
        StaffNoticeKind,
    )
    from workflows.options import mail_options, record_options
    from workflows.search_attributes import CASE_STAGE, NEXT_DEADLINE
    from workflows.steps import Step, await_step

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


@workflow.defn(name="AppealWorkflow")
class AppealWorkflow:
    @workflow.init
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

    async def _send_bundle(self, generation: int) -> None:
        """Send the chair the bundle with a link of generation `generation` (0: the first; later: a resend or
        a new chair, after which the earlier links stop working)."""
        chair = self._chair
        assert chair is not None
        today = self._today()
        try:
            sent: BundleSent = await workflow.execute_activity_method(
                CaseActivities.send_appeal_bundle,
                BundleEmail(
                    reference=self._input.reference,
                    chair_key=chair.chair_key,
                    generation=generation,
                    dated=today,
                    valid_until=self._chair_link_until(),
                ),
                **mail_options("Send the chair the appeal bundle"),
            )
        except ActivityError as error:
            if self._bundle_sent_on is None:
                # The chair has nothing yet: the acknowledgement is due from when a bundle reaches them.
                self._bundle_undelivered = True
                self._bundle_sent_on = today
                self._set_deadline("acknowledge_by", today, self._rules.acknowledge)
            await self._record(
                f"The bundle email to the chair could not be delivered: {cause_of(error)}. The SPOC can send "
                f"the chair a new link once the address is put right, or name another chair."
            )
            return
        restart = (
            self._bundle_sent_on is None or self._bundle_undelivered or chair.chair_key != self._bundle_chair
        )
        self._bundle_chair = chair.chair_key
        self._bundle_sent_on = self._bundle_sent_on or sent.sent_on
        if restart and self._acknowledgement is None:
            # The acknowledgement is due from when this chair got a bundle they could open.
            self._bundle_undelivered = False
            self._set_deadline("acknowledge_by", sent.sent_on, self._rules.acknowledge)
            self._dates_version += 1
        await self._record(
            "The bundle was sent to the chair with a link to their page."
            if generation == 0
            else f"A new link to the bundle was sent to the chair (link {generation + 1}); earlier links no "
            f"longer work."
        )

    def _chair_link_until(self) -> dt.date:
        """The last day the chair's link works: well past the latest date they may still act by."""
        latest = max(
            [self._today()]
            + [self._deadlines[name] for name in ("acknowledge_by", "decision_by") if name in self._deadlines]
            + ([self._next_deadline[1]] if self._next_deadline else [])
        )
        if "decision_by" not in self._deadlines:
            # Before Letter 4 the decision's date is unknown: allow for the acknowledgement and the decision.
            latest = add_working_days(latest, self._rules.acknowledge + self._rules.outcome, self._calendar)
        return add_working_days(latest, self._rules.link_valid_after_due, self._calendar)

    async def _keep_chair_link_until(self, due: dt.date) -> None:
        """Keep the chair's links working past `due` (never shortening them)."""
        until = add_working_days(max(due, self._today()), self._rules.link_valid_after_due, self._calendar)
        await workflow.execute_activity_method(
            CaseActivities.extend_chair_link,
            ChairLinkValidity(reference=self._input.reference, valid_until=until, only_later=True),
            **record_options("Keep the chair's link working"),
        )

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

    async def _finish_resends(self) -> None:
        if self._resends:
            await asyncio.gather(*self._resends)

    def _send_bundle_beside(self) -> None:
        """Send the bundle again beside the main flow: a letter or a deadline never waits for it."""
        self._bundle_generation += 1
        self._resends.append(asyncio.create_task(self._send_bundle(self._bundle_generation)))

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

    # ---- decisions of the SPOC and the chair (updates) ---------------------------------------

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

    @workflow.update
    async def record_consent(self, actor: Actor, consent: AppealConsentRecord) -> AppealActionResult:
        self._consent = consent
        self._stage = AppealStage.CHAIR_REQUESTED
        await self._record(
            "The victim's signed consent to the appeal was recorded.",
            actor,
            consent.submission_id,
            {"consent": consent.submission_id} if consent.submission_id else None,
        )
        return AppealActionResult(stage=AppealStage.CHAIR_REQUESTED, message="Consent recorded.")

    @record_consent.validator
    def _validate_consent(self, actor: Actor, consent: AppealConsentRecord) -> None:
        self._require(AppealStage.CONSENT_REQUESTED, action="the victim's consent")
        if consent.received_on > self._today():
            raise ApplicationError("received_on cannot be in the future.", type="StageConflict")

    @workflow.update
    async def name_chair(self, actor: Actor, chair: ChairRecord) -> AppealActionResult:
        replacing = self._chair is not None
        self._chair = chair
        self._stage = AppealStage.CHAIR_NAMED
        self._named_on = self._today()
        if not replacing:
            # The bundle is due within `send_bundle` working days of the chair being named.
            self._set_deadline("bundle_by", self._named_on, self._rules.send_bundle)
        await self._record(
            "Another chair named to hear the appeal; the first chair's links no longer work."
            if replacing
            else "Chair named to hear the appeal.",
            actor,
            chair.submission_id,
            {"chair": chair.submission_id} if chair.submission_id else None,
        )
        if replacing:
            self._send_bundle_beside()
        return AppealActionResult(
            stage=AppealStage.CHAIR_NAMED, message="Chair named; the bundle goes to them now."
        )

    @name_chair.validator
    def _validate_name_chair(self, actor: Actor, chair: ChairRecord) -> None:
        if self._stage == AppealStage.CONSENT_REQUESTED and self._consent is None:
            raise ApplicationError(
                "The appeal waits for the victim's signed consent: record it before naming a chair.",
                type="StageConflict",
            )
        if self._chair is not None and self._stage == AppealStage.CHAIR_NAMED and self._withdrawal is None:
            # A chair who cannot hear it (a conflict of interest, say) is replaced before acknowledging.
            if self._bundle_sent_on is None:
                raise ApplicationError(
                    "The bundle is still being sent; try again in a moment.", type="StageConflict"
                )
            if chair.chair_key == self._chair.chair_key:
                raise ApplicationError("This chair is already named.", type="StageConflict")
            return
        self._require(AppealStage.CHAIR_REQUESTED, action="naming the chair")

    @workflow.update
    async def withdraw(self, actor: Actor, withdrawal: AppealWithdrawalRecord) -> AppealActionResult:
        self._withdrawal = withdrawal
        await self._record(
            f"Appeal withdrawn at the {self._stage.value} stage (asked by the {withdrawal.requested_by}).",
            actor,
            withdrawal.submission_id,
            {"withdrawal": withdrawal.submission_id} if withdrawal.submission_id else None,
        )
        return AppealActionResult(
            stage=AppealStage.WITHDRAWN, message="Withdrawal recorded; a confirming letter follows."
        )

    @withdraw.validator
    def _validate_withdraw(self, actor: Actor, withdrawal: AppealWithdrawalRecord) -> None:
        self._require(*OPEN_STAGES, action="a withdrawal")

    @workflow.update
    async def chair_link(self, actor: Actor, change: ChairLinkRecord) -> AppealActionResult:
        if change.kind == "extend":
            assert change.valid_until is not None
            await workflow.execute_activity_method(
                CaseActivities.extend_chair_link,
                ChairLinkValidity(
                    reference=self._input.reference, valid_until=change.valid_until, only_later=False
                ),
                **record_options("Keep the chair's link working longer"),
            )
            await self._record(
                f"The chair's link now works until the end of {long_date(change.valid_until)}.",
                actor,
                change.submission_id,
            )
            return AppealActionResult(stage=self._stage, message="The chair's link lasts longer.")
        await self._record(
            "The SPOC asked for a new link to be sent to the chair.", actor, change.submission_id
        )
        self._send_bundle_beside()
        return AppealActionResult(stage=self._stage, message="A new link is on its way to the chair.")

    @chair_link.validator
    def _validate_chair_link(self, actor: Actor, change: ChairLinkRecord) -> None:
        self._require(
            AppealStage.CHAIR_NAMED, AppealStage.ACKNOWLEDGED, AppealStage.PANEL, action="the chair's link"
        )
        if self._bundle_sent_on is None:
            raise ApplicationError(
                "The bundle is still being sent; try again in a moment.", type="StageConflict"
            )
        if change.kind == "extend" and (change.valid_until is None or change.valid_until < self._today()):
            raise ApplicationError("valid_until must be today or later.", type="StageConflict")

    @workflow.update
    async def acknowledge(self, actor: Actor, acknowledgement: AcknowledgementRecord) -> AppealActionResult:
        self._acknowledgement = acknowledgement
        await self._record(
            "The chair acknowledged the appeal; Letter 4 follows.",
            actor,
            acknowledgement.submission_id,
            {"acknowledgement": acknowledgement.submission_id} if acknowledgement.submission_id else None,
        )
        return AppealActionResult(stage=AppealStage.ACKNOWLEDGED, message="Acknowledged; Letter 4 follows.")

    @acknowledge.validator
    def _validate_acknowledge(self, actor: Actor, acknowledgement: AcknowledgementRecord) -> None:
        self._require(AppealStage.CHAIR_NAMED, action="the acknowledgement")
        if self._acknowledgement is not None:
            raise ApplicationError("The appeal has already been acknowledged.", type="StageConflict")
        if self._bundle_sent_on is None:
            raise ApplicationError(
                "The bundle is still being sent; try again in a moment.", type="StageConflict"
            )

    @workflow.update
    async def decide_criteria(self, actor: Actor, criteria: CriteriaRecord) -> AppealActionResult:
        self._criteria = criteria
        if criteria.met:
            self._stage = AppealStage.PANEL
        await self._record(
            "The chair decided that the appeal "
            + (
                "meets the grounds: an appeal panel follows."
                if criteria.met
                else "does not meet the grounds."
            ),
            actor,
            criteria.submission_id,
            {"criteria": criteria.submission_id} if criteria.submission_id else None,
        )
        message = (
            "Grounds met: record the panel, then the outcome."
            if criteria.met
            else "Grounds not met: Letter 5 follows."
        )
        return AppealActionResult(stage=self._stage if criteria.met else AppealStage.DECIDED, message=message)

    @decide_criteria.validator
    def _validate_criteria(self, actor: Actor, criteria: CriteriaRecord) -> None:
        if self._stage == AppealStage.CHAIR_NAMED and self._acknowledgement is None:
            raise ApplicationError(
                "Acknowledge the appeal (Letter 4) before deciding whether it meets the grounds.",
                type="StageConflict",
            )
        self._require(AppealStage.ACKNOWLEDGED, action="the decision on the grounds")
        if self._criteria is not None:
            raise ApplicationError(
                "The decision on the grounds has already been recorded.", type="StageConflict"
            )

    @workflow.update
    async def record_panel(self, actor: Actor, panel: AppealPanelRecord) -> AppealActionResult:
        again = self._panel is not None
        self._panel = panel
        when = panel.meeting_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        await self._record(
            f"Appeal panel {'rearranged' if again else 'arranged'} for {when}.",
            actor,
            panel.submission_id,
            {"panel": panel.submission_id} if panel.submission_id else None,
        )
        return AppealActionResult(stage=self._stage, message="Appeal panel recorded.")

    @record_panel.validator
    def _validate_panel(self, actor: Actor, panel: AppealPanelRecord) -> None:
        if self._stage in (AppealStage.CHAIR_NAMED, AppealStage.ACKNOWLEDGED) and not self._decided():
            raise ApplicationError(
                "Decide that the appeal meets the grounds before recording its panel.", type="StageConflict"
            )
        self._require(AppealStage.PANEL, action="the appeal panel")

    @workflow.update
    async def decide(self, actor: Actor, decision: AppealDecisionRecord) -> AppealActionResult:
        self._decision = decision
        await self._record(
            f"Appeal outcome recorded: {'upheld' if decision.upheld else 'not upheld'}, with "
            f"{decision.recommendation_count} new recommendations; Letter 6 follows.",
            actor,
            decision.submission_id,
            {"decision": decision.submission_id} if decision.submission_id else None,
        )
        return AppealActionResult(stage=AppealStage.DECIDED, message="Outcome recorded; Letter 6 follows.")

    @decide.validator
    def _validate_decide(self, actor: Actor, decision: AppealDecisionRecord) -> None:
        if self._stage in (AppealStage.CHAIR_NAMED, AppealStage.ACKNOWLEDGED) and not self._decided():
            raise ApplicationError(
                "Decide that the appeal meets the grounds, and hold the panel, before recording the outcome.",
                type="StageConflict",
            )
        self._require(AppealStage.PANEL, action="the appeal's outcome")
        if self._decision is not None:
            raise ApplicationError("The appeal's outcome has already been recorded.", type="StageConflict")
        if self._panel is None:
            raise ApplicationError("Record the appeal panel before its outcome.", type="StageConflict")
        if self._panel.meeting_at > workflow.now():
            raise ApplicationError(
                "The appeal panel has not met yet: record the outcome after the meeting "
                "(or record its new date first).",
                type="StageConflict",
            )
