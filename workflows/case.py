"""The Community Trigger case workflow: from the application to closure, one durable run per case.

Orchestration only. Time comes from `workflow.now()`, dates are Europe/London dates, and every side
effect (records, letters, emails) is an activity that is idempotent on the case reference and step.
Staff decisions arrive as Temporal updates, validated against the stage so that a decision that does
not fit answers with why and changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import add_working_days, london_date
    from domain.deadlines import (
        ChaseEvent,
        ChaseKind,
        StepEventKind,
        chase_events,
        step_events,
        window_closes_at,
    )
    from workflows.models import (
        ActionResult,
        Actor,
        AgencyChase,
        AgencyResponse,
        AppealOutcome,
        AppealRequest,
        CaseInput,
        CaseProgress,
        CaseStage,
        CaseStatus,
        ChaseSent,
        ChronologyEvent,
        ClosedReason,
        ExtendRequest,
        ImpactStatement,
        InformationPurpose,
        LetterCode,
        LetterRequest,
        LetterSent,
        OpenRequests,
        PanelDecision,
        RequestChange,
        ResendInformationRequest,
        ResendRequest,
        ReviewMeeting,
        StaffNotice,
        StaffNoticeKind,
        ThresholdDecision,
        ThresholdOutcome,
        WaiveRequest,
        Withdrawal,
    )

# `holidays` imports its country data lazily, and `dateutil` reads the clock at import: both are used
# deterministically here, so workers share the modules loaded outside the sandbox.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "holidays", "dateutil", "email_validator", "idna"
    )
)

CASE_REFERENCE = SearchAttributeKey.for_keyword("CaseReference")
LOCALITY = SearchAttributeKey.for_keyword("Locality")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")

SYSTEM = "Community Trigger service"

# Database writes: short, retried until the database is back.
RECORD_TIMEOUT = timedelta(seconds=60)
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Email: transient failures retry with backoff for up to two days; permanent ones are not retried.
# One attempt may send several emails (each with its own SMTP timeout), so it has ten minutes; it
# heartbeats before each email, so a worker that dies is noticed within the heartbeat timeout.
MAIL_TIMEOUT = timedelta(minutes=10)
MAIL_HEARTBEAT = timedelta(minutes=2)
MAIL_GIVE_UP_AFTER = timedelta(days=2)
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    non_retryable_error_types=["PermanentMailFailure"],
)

# Cases started from this version on chase agencies (links, reminders, escalation, resend, waive) and
# wait for every information request to be answered or waived before the decision it informs.
AGENCY_CHASING = "agency-chasing"

PURPOSE_NAMES = {
    InformationPurpose.THRESHOLD: "threshold check",
    InformationPurpose.REVIEW: "case review",
}

STEP_NAMES = {
    "threshold_decision": "tell the applicant whether the threshold is met (Letter 2a or 2b)",
    "outcome": "tell the applicant the outcome of the review (Letter 3)",
}


def search_attributes_at_start(reference: str, locality: str) -> TypedSearchAttributes:
    """The search attributes the API sets when it starts a case workflow."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CASE_REFERENCE, reference),
            SearchAttributePair(LOCALITY, locality),
            SearchAttributePair(CASE_STAGE, CaseStage.RECEIVED.value),
        ]
    )


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    def __init__(self) -> None:
        self._input: CaseInput | None = None
        self._stage = CaseStage.RECEIVED
        self._closed_reason: ClosedReason | None = None
        self._deadlines: dict[str, dt.date] = {}
        self._next_deadline: tuple[str, dt.date] | None = None
        self._event_count = 0
        # request key -> "requested" | "answered" | "waived"
        self._requests: dict[str, str] = {}
        # Agency chasing (cases started with the AGENCY_CHASING patch):
        self._chasing = False
        self._request_due: dict[str, dt.date] = {}
        # When each request's due date was set: a reminder that would fall before it is not sent.
        self._due_set_at: dict[str, dt.datetime] = {}
        # "<request key>|<chase kind>|<due date>" of every chase already sent.
        self._chased: set[str] = set()
        self._resends: dict[str, int] = {}
        self._resend_queue: list[tuple[str, int, str | None]] = []
        # Bumped by every answer, waiver, extension and resend, to wake the chasing loops.
        self._request_changes = 0
        self._chasers: list[asyncio.Task[None]] = []
        self._new_link_notices: set[str] = set()
        # Purposes whose requests are being created and emailed: an agency may answer one (or the SPOC
        # record an answer) before the workflow has heard the keys back.
        self._opening: set[str] = set()
        self._threshold_decision: ThresholdDecision | None = None
        self._review_meeting: ReviewMeeting | None = None
        self._impact_statement: ImpactStatement | None = None
        self._panel_decision: PanelDecision | None = None
        self._withdrawal: Withdrawal | None = None
        self._appeal_request: AppealRequest | None = None
        self._appeal_outcome: AppealOutcome | None = None

    # ---- the lifecycle ----------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        self._input = case
        self._chasing = workflow.patched(AGENCY_CHASING)
        rules = case.rules
        today = self._today()
        self._deadlines["acknowledge_by"] = add_working_days(
            case.received_on, rules.acknowledge, rules.nation
        )
        await self._record("Application received; case opened.")

        # 1. Received: Letter 1 goes at once, dated today, and tells the applicant when the threshold
        # decision is due; the acknowledgement deadline is kept for the record all the same.
        self._deadlines["threshold_decision_by"] = add_working_days(
            today, rules.threshold_decision, rules.nation
        )
        await self._send_letter(LetterCode.ACKNOWLEDGEMENT, dated=today)

        # 2. Threshold check: ask the agencies for their records of the complaints.
        self._stage = CaseStage.THRESHOLD_CHECK
        await self._open_requests(InformationPurpose.THRESHOLD, rules.threshold_information)
        await self._await_step(
            "threshold_decision",
            self._deadlines["threshold_decision_by"],
            rules.threshold_update_interval,
            LetterCode.THRESHOLD_UPDATE,
            lambda: self._threshold_decision is not None,
        )
        if self._withdrawal is not None:
            return await self._close_withdrawn()

        # 3. Threshold decision.
        decision = self._threshold_decision
        assert decision is not None
        if decision.outcome == ThresholdOutcome.MET:
            decided_on = self._today()
            self._deadlines["outcome_by"] = add_working_days(decided_on, rules.outcome, rules.nation)
            await self._send_letter(LetterCode.THRESHOLD_MET, dated=decided_on)
            # 4. Review preparation: full reports from the agencies, the meeting, the impact statement.
            self._stage = CaseStage.REVIEW
            await self._open_requests(InformationPurpose.REVIEW, rules.review_information)
            # 5. Panel decision.
            await self._await_step(
                "outcome",
                self._deadlines["outcome_by"],
                rules.outcome_update_interval,
                LetterCode.OUTCOME_UPDATE,
                lambda: self._panel_decision is not None,
            )
            if self._withdrawal is not None:
                return await self._close_withdrawn()
            result_letter, no_appeal_reason = LetterCode.OUTCOME, ClosedReason.REVIEW_COMPLETED
        elif decision.outcome == ThresholdOutcome.NOT_MET:
            result_letter, no_appeal_reason = LetterCode.THRESHOLD_NOT_MET, ClosedReason.THRESHOLD_NOT_MET
        else:
            result_letter, no_appeal_reason = LetterCode.REJECTION, ClosedReason.REJECTED

        # 6. Appeal window: from the date of the result letter, which states it.
        result_on = self._today()
        self._deadlines["appeal_by"] = add_working_days(result_on, rules.appeal_window, rules.nation)
        await self._send_letter(result_letter, dated=result_on)
        self._stage = CaseStage.APPEAL_WINDOW
        self._next_deadline = ("appeal_by", self._deadlines["appeal_by"])
        await self._record(
            f"The applicant may ask for an appeal until {_long(self._deadlines['appeal_by'])}."
        )
        closes_at = window_closes_at(self._deadlines["appeal_by"])
        try:
            await workflow.wait_condition(
                lambda: self._appeal_request is not None or self._withdrawal is not None,
                timeout=max(closes_at - workflow.now(), timedelta(0)),
            )
        except TimeoutError:
            return await self._close(
                no_appeal_reason, "The appeal window ended without a request for appeal."
            )
        if self._withdrawal is not None:
            return await self._close_withdrawn()

        # The appeal: its own process follows; until then the SPOC records its outcome here.
        self._stage = CaseStage.APPEAL
        self._next_deadline = None
        await self._record("Case moved to appeal.")
        await self._send_letter(LetterCode.APPEAL_RECEIVED)
        await workflow.wait_condition(
            lambda: self._appeal_outcome is not None or self._withdrawal is not None
        )
        if self._withdrawal is not None:
            return await self._close_withdrawn()
        return await self._close(ClosedReason.APPEAL_DECIDED, "Case closed after the appeal was decided.")

    async def _await_step(
        self,
        step: str,
        due: dt.date,
        update_interval: int,
        update_letter: LetterCode,
        done: Callable[[], bool],
    ) -> None:
        """Wait for a step the SPOC owns; remind before its deadline, update and escalate after it."""
        assert self._input is not None
        rules = self._input.rules

        def finished() -> bool:
            return done() or self._withdrawal is not None

        self._next_deadline = (step, due)
        await self._record(f"Waiting to {STEP_NAMES[step]}, due by {_long(due)}.")
        events = step_events(
            due,
            reminder_before=rules.spoc_reminder_before,
            update_interval=update_interval,
            nation=rules.nation,
        )
        for event in events:
            if finished():
                return
            wait = event.at - workflow.now()
            if event.kind == StepEventKind.REMINDER and wait <= timedelta(0):
                continue  # too late to remind: the deadline itself comes next
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(finished, timeout=wait)
                    return
                except TimeoutError:
                    pass
            if event.kind == StepEventKind.REMINDER:
                await self._notify_staff(StaffNoticeKind.REMINDER, step, due, event.sequence)
                continue
            next_update_by = add_working_days(event.on, update_interval, rules.nation)
            self._next_deadline = (step, next_update_by)
            await self._record(
                f"Deadline to {STEP_NAMES[step]} ({_long(due)}) has passed; update {event.sequence} "
                f"sent to the applicant and escalated."
            )
            await self._send_letter(
                update_letter, sequence=event.sequence, dated=event.on, next_update_by=next_update_by
            )
            await self._notify_staff(StaffNoticeKind.ESCALATION, step, due, event.sequence)

    async def _close_withdrawn(self) -> CaseStatus:
        await self._send_letter(LetterCode.WITHDRAWAL)
        return await self._close(ClosedReason.WITHDRAWN, "Case closed: the application was withdrawn.")

    async def _close(self, reason: ClosedReason, event: str) -> CaseStatus:
        self._stage = CaseStage.CLOSED
        self._closed_reason = reason
        self._next_deadline = None
        await self._record(event)
        # Let chasing loops (they stop on withdrawal) and update handlers still recording finish first.
        if self._chasers:
            await asyncio.gather(*self._chasers)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    # ---- activities --------------------------------------------------------------------------

    def _today(self) -> dt.date:
        return london_date(workflow.now())

    def _event(self, text: str, actor: str = SYSTEM) -> ChronologyEvent:
        self._event_count += 1
        return ChronologyEvent(key=f"e{self._event_count:04d}", at=workflow.now(), actor=actor, event=text)

    async def _record(
        self, text: str, actor: str = SYSTEM, decisions: dict[str, dict[str, object]] | None = None
    ) -> None:
        """Write the case's current stage, deadlines and one chronology entry; refresh search attributes."""
        assert self._input is not None
        progress = CaseProgress(
            reference=self._input.reference,
            stage=self._stage,
            deadlines=dict(self._deadlines),
            next_deadline=self._next_deadline[1] if self._next_deadline else None,
            next_deadline_step=self._next_deadline[0] if self._next_deadline else None,
            closed_reason=self._closed_reason,
            decisions=decisions or {},
            events=[self._event(text, actor)],
        )
        workflow.upsert_search_attributes(
            [
                CASE_STAGE.value_set(self._stage.value),
                NEXT_DEADLINE.value_set(dt.datetime.combine(self._next_deadline[1], dt.time(), tzinfo=dt.UTC))
                if self._next_deadline
                else NEXT_DEADLINE.value_unset(),
            ]
        )
        await workflow.execute_activity_method(
            CaseActivities.record_progress,
            progress,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    async def _send_letter(
        self,
        code: LetterCode,
        *,
        sequence: int = 1,
        dated: dt.date | None = None,
        next_update_by: dt.date | None = None,
    ) -> LetterSent | None:
        """Send a letter; a permanent delivery failure is recorded for the SPOC and the case goes on."""
        assert self._input is not None
        # A letter reads the decision and the deadlines it reports from the case record: let the update
        # handler that took the decision finish recording it, and record the deadlines, first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record(f"Sending letter {code.value}.")
        request = LetterRequest(
            reference=self._input.reference,
            code=code,
            sequence=sequence,
            dated=dated or self._today(),
            next_update_by=next_update_by,
        )
        try:
            sent: LetterSent = await workflow.execute_activity_method(
                CaseActivities.send_letter,
                request,
                start_to_close_timeout=MAIL_TIMEOUT,
                heartbeat_timeout=MAIL_HEARTBEAT,
                schedule_to_close_timeout=MAIL_GIVE_UP_AFTER,
                retry_policy=MAIL_RETRY,
            )
        except ActivityError as error:
            cause = error.cause.message if isinstance(error.cause, ApplicationError) else str(error.cause)
            await self._record(
                f"Letter {code.value} could not be delivered: {cause}. The SPOC must send it by hand."
            )
            return None
        how = "queued for printing and posting" if sent.channel == "post" else "sent by email"
        number = (
            f" (update {sequence})"
            if code in (LetterCode.THRESHOLD_UPDATE, LetterCode.OUTCOME_UPDATE)
            else ""
        )
        await self._record(f"Letter {code.value}{number} {how}.")
        return sent

    async def _notify_staff(self, kind: StaffNoticeKind, step: str, due: dt.date, sequence: int) -> None:
        assert self._input is not None
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
                CaseActivities.notify_staff,
                notice,
                start_to_close_timeout=MAIL_TIMEOUT,
                heartbeat_timeout=MAIL_HEARTBEAT,
                schedule_to_close_timeout=MAIL_GIVE_UP_AFTER,
                retry_policy=MAIL_RETRY,
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

    async def _open_requests(self, purpose: InformationPurpose, due_in: int) -> None:
        assert self._input is not None
        rules = self._input.rules
        today = self._today()
        due_on = add_working_days(today, due_in, rules.nation)
        self._opening.add(purpose.value)
        keys: list[str] = await workflow.execute_activity_method(
            CaseActivities.open_information_requests,
            OpenRequests(
                reference=self._input.reference,
                purpose=purpose,
                requested_on=today,
                due_on=due_on,
                nation=rules.nation,
                link_valid_after_due=rules.agency_link_valid_after_due,
            ),
            start_to_close_timeout=MAIL_TIMEOUT,
            heartbeat_timeout=MAIL_HEARTBEAT,
            schedule_to_close_timeout=MAIL_GIVE_UP_AFTER,
            retry_policy=MAIL_RETRY,
        )
        self._opening.discard(purpose.value)
        for key in keys:
            self._requests.setdefault(key, "requested")
            self._request_due.setdefault(key, due_on)
            self._due_set_at.setdefault(key, workflow.now())
        await self._record(
            f"Information requested from {len(keys)} agencies ({purpose.value}), due by {_long(due_on)}."
        )
        if self._chasing and keys:
            self._chasers.append(asyncio.create_task(self._chase(purpose, keys)))

    async def _chase(self, purpose: InformationPurpose, keys: list[str]) -> None:
        """Chase the agencies of one stage until each has answered or been waived; then tell the SPOC.

        Runs beside the main flow. Sends the resends the SPOC asks for; reminds each agency before its
        answer is due and again on the due date, when the SPOC is told too. An extension moves the dates
        and chasing starts again for the new date.
        """
        assert self._input is not None
        rules = self._input.rules
        while True:
            if self._stopped():
                return
            await self._send_resends(keys)
            open_keys = [key for key in keys if self._requests.get(key) == "requested"]
            if not open_keys:
                break
            pending: list[tuple[dt.datetime, str, ChaseEvent, dt.date]] = []
            for key in open_keys:
                due = self._request_due[key]
                for event in chase_events(
                    due, reminder_before=rules.agency_reminder_before, nation=rules.nation
                ):
                    if self._chase_tag(key, event) in self._chased:
                        continue
                    if event.kind == ChaseKind.REMINDER and event.at <= self._due_set_at[key]:
                        continue  # too late to remind: the due-date chase comes next
                    pending.append((event.at, key, event, due))
            pending.sort(key=lambda item: (item[0], item[1]))
            now = workflow.now()
            ready = [item for item in pending if item[0] <= now]
            if ready:
                for _, key, event, due in ready:
                    if self._stopped():
                        return
                    # An answer, waiver or extension may have come in while the previous chase went.
                    if self._requests.get(key) == "requested" and self._request_due[key] == due:
                        self._chased.add(self._chase_tag(key, event))
                        await self._chase_agency(key, event)
                continue
            await self._wait_for_request_change(pending[0][0] - now if pending else None)
        # Let the last answer's handler record it first, so the chronology reads in order.
        await workflow.wait_condition(workflow.all_handlers_finished)
        answered = sum(1 for key in keys if self._requests.get(key) == "answered")
        waived = len(keys) - answered
        step = "threshold decision" if purpose == InformationPurpose.THRESHOLD else "panel's review"
        await self._record(
            f"Every information request for the {PURPOSE_NAMES[purpose]} is answered ({answered}) "
            f"or waived ({waived}): ready for the {step}."
        )
        await self._notify_staff(
            StaffNoticeKind.INFORMATION_COMPLETE,
            purpose.value,
            max(self._request_due[key] for key in keys),
            1,
        )

    async def _wait_for_request_change(self, wake_after: timedelta | None) -> None:
        seen = self._request_changes
        try:
            await workflow.wait_condition(
                lambda: self._request_changes != seen or self._stopped(), timeout=wake_after
            )
        except TimeoutError:
            pass

    def _stopped(self) -> bool:
        """Chasing ends when the application is withdrawn or the case closes."""
        return self._withdrawal is not None or self._stage == CaseStage.CLOSED

    @staticmethod
    def _chase_tag(key: str, event: ChaseEvent) -> str:
        return f"{key}|{event.kind.value}|{event.on.isoformat()}"

    async def _chase_agency(self, key: str, event: ChaseEvent) -> None:
        assert self._input is not None
        rules = self._input.rules
        due = self._request_due[key]
        try:
            sent: ChaseSent = await workflow.execute_activity_method(
                CaseActivities.chase_information_request,
                AgencyChase(
                    reference=self._input.reference,
                    request_key=key,
                    kind=event.kind.value,
                    due_on=due,
                    dated=self._today(),
                    nation=rules.nation,
                    link_valid_after_due=rules.agency_link_valid_after_due,
                ),
                start_to_close_timeout=MAIL_TIMEOUT,
                heartbeat_timeout=MAIL_HEARTBEAT,
                schedule_to_close_timeout=MAIL_GIVE_UP_AFTER,
                retry_policy=MAIL_RETRY,
            )
        except ActivityError as error:
            await self._record(f"Chasing information request {key} failed: {_cause(error)}.")
            return
        if sent.skipped:
            return  # answered or closed meanwhile: nothing was sent
        agency = "reminder sent to the agency" if sent.agency_emailed else "the agency's address has failed"
        if event.kind == ChaseKind.REMINDER:
            await self._record(f"Information request {key} is due by {_long(due)}: {agency}.")
        else:
            await self._record(
                f"Information request {key} is due today ({_long(due)}) and not answered: {agency}; "
                f"escalated to the SPOC."
            )

    async def _send_resends(self, keys: list[str]) -> None:
        assert self._input is not None
        rules = self._input.rules
        for entry in [entry for entry in self._resend_queue if entry[0] in keys]:
            if self._stopped():
                return
            self._resend_queue.remove(entry)
            key, generation, to = entry
            if self._requests.get(key) != "requested":
                continue  # answered or waived while the resend waited
            try:
                await workflow.execute_activity_method(
                    CaseActivities.resend_information_request,
                    ResendInformationRequest(
                        reference=self._input.reference,
                        request_key=key,
                        generation=generation,
                        to=to,
                        due_on=self._request_due[key],
                        dated=self._today(),
                        nation=rules.nation,
                        link_valid_after_due=rules.agency_link_valid_after_due,
                    ),
                    start_to_close_timeout=MAIL_TIMEOUT,
                    heartbeat_timeout=MAIL_HEARTBEAT,
                    schedule_to_close_timeout=MAIL_GIVE_UP_AFTER,
                    retry_policy=MAIL_RETRY,
                )
            except ActivityError as error:
                await self._record(
                    f"Resend {generation} of information request {key} failed: {_cause(error)}."
                )
                continue
            await self._record(
                f"Information request {key} sent again (resend {generation}) with a new link; "
                f"earlier links no longer work."
            )

    async def _record_request_change(
        self, key: str, *, due_on: dt.date | None = None, waived_reason: str | None = None
    ) -> None:
        assert self._input is not None
        rules = self._input.rules
        await workflow.execute_activity_method(
            CaseActivities.record_request_change,
            RequestChange(
                reference=self._input.reference,
                request_key=key,
                due_on=due_on,
                waived_reason=waived_reason,
                nation=rules.nation,
                link_valid_after_due=rules.agency_link_valid_after_due,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )

    # ---- queries and updates -----------------------------------------------------------------

    @workflow.query
    def status(self) -> CaseStatus:
        assert self._input is not None
        return CaseStatus(
            reference=self._input.reference,
            stage=self._stage,
            closed_reason=self._closed_reason,
            deadlines=dict(self._deadlines),
            open_requests=sorted(key for key, state in self._requests.items() if state == "requested"),
        )

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

    @workflow.update
    async def agency_response(self, actor: Actor, response: AgencyResponse) -> ActionResult:
        # Checked again here, not only in the validator: two answers accepted in the same workflow task
        # both pass the validator before either handler runs, and only the first may count.
        if self._requests.get(response.request_key) == "answered":
            raise ApplicationError(
                "That information request has already been answered.", type="AlreadyAnswered"
            )
        previous = self._requests.get(response.request_key)
        self._requests[response.request_key] = "answered"
        self._request_changes += 1
        assert self._input is not None
        try:
            await workflow.execute_activity_method(
                CaseActivities.record_agency_response,
                args=[self._input.reference, response, self._today()],
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RECORD_RETRY,
            )
        except ActivityError:
            # Only an unknown request fails for good (while requests were still being sent). If the
            # request has since been opened, it stays open; otherwise it was never one.
            if previous is not None:
                self._requests[response.request_key] = previous
            elif response.request_key in self._request_due:
                self._requests[response.request_key] = "requested"
            else:
                del self._requests[response.request_key]
            raise ApplicationError(
                f"There is no information request {response.request_key!r} on this case.",
                type="UnknownRequest",
            ) from None
        await self._record(
            f"Answer to information request {response.request_key} recorded ({response.received_by}).",
            actor.label,
        )
        return ActionResult(stage=self._stage, message="The agency's answer has been recorded.")

    @agency_response.validator
    def _validate_agency_response(self, actor: Actor, response: AgencyResponse) -> None:
        self._require_stage(CaseStage.THRESHOLD_CHECK, CaseStage.REVIEW, action="an agency's answer")
        state = self._requests.get(response.request_key)
        if state is None and response.request_key.split(":", 1)[0] not in self._opening:
            raise ApplicationError(
                f"There is no information request {response.request_key!r} on this case.",
                type="UnknownRequest",
            )
        if state == "answered":
            raise ApplicationError(
                "That information request has already been answered.", type="AlreadyAnswered"
            )

    @workflow.update
    async def threshold_decision(self, actor: Actor, decision: ThresholdDecision) -> ActionResult:
        self._threshold_decision = decision
        # The case moves on as soon as the decision is taken; its letter follows from the main loop.
        next_stage = CaseStage.REVIEW if decision.outcome == ThresholdOutcome.MET else CaseStage.APPEAL_WINDOW
        self._stage = next_stage
        if next_stage == CaseStage.REVIEW:
            # The review's requests go out after Letter 2a; until they have, the panel cannot decide.
            self._opening.add(InformationPurpose.REVIEW.value)
        below = " (accepted below the threshold)" if decision.below_threshold else ""
        ground = f" as {decision.rejection_ground.value}" if decision.rejection_ground else ""
        await self._record(
            f"Threshold decision: {decision.outcome.value}{ground}{below}. Reasons: {decision.reasons}",
            actor.label,
            {"threshold_decision": decision.model_dump(mode="json")},
        )
        return ActionResult(
            stage=next_stage, message=f"Threshold decision recorded: {decision.outcome.value}."
        )

    @threshold_decision.validator
    def _validate_threshold_decision(self, actor: Actor, decision: ThresholdDecision) -> None:
        self._require_stage(CaseStage.THRESHOLD_CHECK, action="the threshold decision")
        if self._threshold_decision is not None:
            raise ApplicationError("The threshold decision has already been recorded.", type="StageConflict")
        self._require_information(InformationPurpose.THRESHOLD, "the threshold decision")

    @workflow.update
    async def review_meeting(self, actor: Actor, meeting: ReviewMeeting) -> ActionResult:
        rescheduled = self._review_meeting is not None
        self._review_meeting = meeting
        when = meeting.meeting_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        yos = "; Youth Offending Service invited" if meeting.youth_offending_service_invited else ""
        await self._record(
            f"Review meeting {'rescheduled' if rescheduled else 'scheduled'} for {when} "
            f"at {meeting.location} with {len(meeting.attendees)} attendees{yos}.",
            actor.label,
            {"review_meeting": meeting.model_dump(mode="json")},
        )
        return ActionResult(stage=self._stage, message="Review meeting recorded.")

    @review_meeting.validator
    def _validate_review_meeting(self, actor: Actor, meeting: ReviewMeeting) -> None:
        self._require_stage(CaseStage.REVIEW, action="the review meeting")
        if self._panel_decision is not None:
            raise ApplicationError(
                "The panel has already decided; the meeting cannot change.", type="StageConflict"
            )

    @workflow.update
    async def impact_statement(self, actor: Actor, statement: ImpactStatement) -> ActionResult:
        self._impact_statement = statement
        await self._record(
            f"Personal impact statement arrangement recorded: {statement.method.value}.",
            actor.label,
            {"impact_statement": statement.model_dump(mode="json")},
        )
        return ActionResult(stage=self._stage, message="Impact statement arrangement recorded.")

    @impact_statement.validator
    def _validate_impact_statement(self, actor: Actor, statement: ImpactStatement) -> None:
        self._require_stage(CaseStage.REVIEW, action="the impact statement")
        if self._panel_decision is not None:
            raise ApplicationError("The panel has already decided.", type="StageConflict")

    @workflow.update
    async def panel_decision(self, actor: Actor, decision: PanelDecision) -> ActionResult:
        self._panel_decision = decision
        self._stage = CaseStage.APPEAL_WINDOW
        await self._record(
            f"Panel decision recorded with {len(decision.recommendations)} recommendations.",
            actor.label,
            {"panel_decision": decision.model_dump(mode="json")},
        )
        return ActionResult(
            stage=CaseStage.APPEAL_WINDOW, message="Panel decision recorded; Letter 3 follows."
        )

    @panel_decision.validator
    def _validate_panel_decision(self, actor: Actor, decision: PanelDecision) -> None:
        self._require_stage(CaseStage.REVIEW, action="the panel decision")
        if self._panel_decision is not None:
            raise ApplicationError("The panel decision has already been recorded.", type="StageConflict")
        if self._review_meeting is None:
            raise ApplicationError(
                "Record the review meeting before the panel decision.", type="StageConflict"
            )
        self._require_information(InformationPurpose.REVIEW, "the panel decision")

    def _require_information(self, purpose: InformationPurpose, action: str) -> None:
        """A decision waits for every information request it rests on to be answered or waived."""
        if not self._chasing:
            return
        if purpose.value in self._opening:
            raise ApplicationError(
                f"The information requests for the {PURPOSE_NAMES[purpose]} are still being sent.",
                type="InformationOutstanding",
            )
        waiting = sorted(
            key
            for key, state in self._requests.items()
            if state == "requested" and key.startswith(f"{purpose.value}:")
        )
        if waiting:
            raise ApplicationError(
                f"{len(waiting)} information request(s) for the {PURPOSE_NAMES[purpose]} are still open "
                f"({', '.join(waiting)}): record the answers, or proceed without them (waive, with reasons), "
                f"before {action}.",
                type="InformationOutstanding",
            )

    def _require_open_request(self, key: str, action: str) -> None:
        self._require_stage(CaseStage.THRESHOLD_CHECK, CaseStage.REVIEW, action=action)
        if not self._chasing:
            raise ApplicationError(
                "This case started before agency links; record the agency's answer instead.",
                type="StageConflict",
            )
        state = self._requests.get(key)
        if state is None:
            raise ApplicationError(
                f"There is no information request {key!r} on this case.", type="UnknownRequest"
            )
        if state != "requested":
            raise ApplicationError(f"Information request {key} is already {state}.", type="StageConflict")

    @workflow.update
    async def resend_request(self, actor: Actor, resend: ResendRequest) -> ActionResult:
        generation = self._resends.get(resend.request_key, 0) + 1
        self._resends[resend.request_key] = generation
        self._resend_queue.append((resend.request_key, generation, str(resend.to) if resend.to else None))
        self._request_changes += 1
        to = f" to {resend.to}" if resend.to else ""
        why = f" Reason: {resend.reason}" if resend.reason else ""
        await self._record(
            f"Resend {generation} of information request {resend.request_key}{to} asked for.{why}",
            actor.label,
        )
        return ActionResult(
            stage=self._stage,
            message="The request will be sent again with a new link; earlier links stop working.",
        )

    @resend_request.validator
    def _validate_resend_request(self, actor: Actor, resend: ResendRequest) -> None:
        self._require_open_request(resend.request_key, "a resend")

    @workflow.update
    async def extend_request(self, actor: Actor, extension: ExtendRequest) -> ActionResult:
        key = extension.request_key
        previous = self._request_due[key]
        self._request_due[key] = extension.due_on
        self._due_set_at[key] = workflow.now()
        self._request_changes += 1
        await self._record_request_change(key, due_on=extension.due_on)
        await self._record(
            f"Information request {key} extended from {_long(previous)} to {_long(extension.due_on)}. "
            f"Reason: {extension.reason}",
            actor.label,
        )
        return ActionResult(stage=self._stage, message=f"Due date moved to {_long(extension.due_on)}.")

    @extend_request.validator
    def _validate_extend_request(self, actor: Actor, extension: ExtendRequest) -> None:
        self._require_open_request(extension.request_key, "an extension")
        if extension.due_on <= self._request_due[extension.request_key]:
            raise ApplicationError(
                f"The new due date must be after the current one, "
                f"{_long(self._request_due[extension.request_key])}.",
                type="StageConflict",
            )
        if extension.due_on < self._today():
            raise ApplicationError("The new due date cannot be in the past.", type="StageConflict")

    @workflow.update
    async def waive_request(self, actor: Actor, waiver: WaiveRequest) -> ActionResult:
        self._requests[waiver.request_key] = "waived"
        self._request_changes += 1
        await self._record_request_change(waiver.request_key, waived_reason=waiver.reasons)
        await self._record(
            f"Proceeding without an answer to information request {waiver.request_key}. "
            f"Reasons: {waiver.reasons}",
            actor.label,
        )
        return ActionResult(
            stage=self._stage,
            message="Recorded: the case proceeds without this answer (a late one is still taken).",
        )

    @waive_request.validator
    def _validate_waive_request(self, actor: Actor, waiver: WaiveRequest) -> None:
        self._require_open_request(waiver.request_key, "a waiver")

    @workflow.signal
    async def new_link_requested(self, request_key: str) -> None:
        """An agency whose link no longer works asked for a new one: tell the SPOC, once a day at most."""
        if request_key not in self._requests or self._stage == CaseStage.CLOSED:
            return
        tag = f"{request_key}|{self._today().isoformat()}"
        if tag in self._new_link_notices:
            return
        self._new_link_notices.add(tag)
        await self._record(f"The agency asked for a new link to information request {request_key}.")
        await self._notify_staff(
            StaffNoticeKind.NEW_LINK_REQUESTED,
            request_key,
            self._request_due.get(request_key, self._today()),
            len(self._new_link_notices),
        )

    @workflow.update
    async def withdraw(self, actor: Actor, withdrawal: Withdrawal) -> ActionResult:
        self._withdrawal = withdrawal
        await self._record(
            f"Application withdrawn at the {self._stage.value} stage "
            f"(asked by the {withdrawal.requested_by}). Reason: {withdrawal.reason}",
            actor.label,
            {"withdrawal": withdrawal.model_dump(mode="json")},
        )
        return ActionResult(stage=CaseStage.CLOSED, message="Withdrawal recorded; the case will close.")

    @withdraw.validator
    def _validate_withdraw(self, actor: Actor, withdrawal: Withdrawal) -> None:
        self._require_stage(
            *(stage for stage in CaseStage if stage != CaseStage.CLOSED), action="a withdrawal"
        )

    @workflow.update
    async def appeal_request(self, actor: Actor, request: AppealRequest) -> ActionResult:
        self._appeal_request = request
        await self._record(
            f"Request for appeal received on {_long(request.received_on)}.",
            actor.label,
            {"appeal_request": request.model_dump(mode="json")},
        )
        return ActionResult(stage=CaseStage.APPEAL, message="Request for appeal recorded.")

    @appeal_request.validator
    def _validate_appeal_request(self, actor: Actor, request: AppealRequest) -> None:
        self._require_stage(CaseStage.APPEAL_WINDOW, action="a request for appeal")
        appeal_by = self._deadlines.get("appeal_by")
        if appeal_by is None:
            raise ApplicationError(
                "The decision letter is still being sent; try again in a moment.", type="StageConflict"
            )
        if request.received_on > appeal_by:
            raise ApplicationError(
                f"The request arrived after the appeal window closed on {_long(appeal_by)}.",
                type="StageConflict",
            )
        if request.received_on > self._today():
            raise ApplicationError("received_on cannot be in the future.", type="StageConflict")

    @workflow.update
    async def appeal_outcome(self, actor: Actor, outcome: AppealOutcome) -> ActionResult:
        self._appeal_outcome = outcome
        await self._record(
            f"Appeal outcome recorded: {'upheld' if outcome.upheld else 'not upheld'}.",
            actor.label,
            {"appeal_outcome": outcome.model_dump(mode="json")},
        )
        return ActionResult(stage=CaseStage.CLOSED, message="Appeal outcome recorded; the case will close.")

    @appeal_outcome.validator
    def _validate_appeal_outcome(self, actor: Actor, outcome: AppealOutcome) -> None:
        self._require_stage(CaseStage.APPEAL, action="the appeal outcome")
        if self._appeal_outcome is not None:
            raise ApplicationError("The appeal outcome has already been recorded.", type="StageConflict")


def _long(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _cause(error: ActivityError) -> str:
    return error.cause.message if isinstance(error.cause, ApplicationError) else str(error.cause)
