"""The Community Trigger case workflow: from the application to closure, one durable run per case.

Orchestration only. Time comes from `workflow.now()`, dates are Europe/London dates counted with the
case's own bank holidays (from its input), and every side effect (records, letters, emails) is an activity
that is idempotent on the case reference and step. Staff decisions arrive as Temporal updates, validated
against the stage so that a decision that does not fit answers with why and changes nothing.

The workflow is in four parts: `CaseBase` (state, the case record, letters, staff emails),
`InformationRequests` (asking and chasing agencies), `BankHolidayChanges` (the `calendar_changed`
update) and this module (the lifecycle and the decisions).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import long_date
    from domain.deadlines import StepEvent, window_closes_at
    from domain.decisions import ThresholdOutcome
    from workflows.appeal import AppealWorkflow
    from workflows.appeal_models import AppealInput, AppealResult, AppealStatus, appeal_workflow_id
    from workflows.calendar_changes import STEP_DEADLINES, BankHolidayChanges
    from workflows.case_base import (
        AGENCY_CHASING,
        APPEAL_WORKFLOW,
        LEAN_HISTORY,
        STEP_NAMES,
        cause_of,
    )
    from workflows.models import (
        ActionResult,
        Actor,
        AppealOutcomeRecord,
        AppealRequestRecord,
        BankHolidays,
        CalendarChange,
        CaseInput,
        CaseStage,
        CaseStatus,
        ClosedReason,
        CloseRequests,
        ImpactStatementRecord,
        InformationPurpose,
        LetterCode,
        PanelDecisionRecord,
        ReviewMeetingRecord,
        StaffNoticeKind,
        ThresholdDecisionRecord,
        WithdrawalRecord,
    )
    from workflows.options import mail_options
    from workflows.search_attributes import search_attributes_at_start
    from workflows.steps import Step, await_step

__all__ = [
    "AGENCY_CHASING",
    "APPEAL_WORKFLOW",
    "LEAN_HISTORY",
    "WORKFLOW_RUNNER",
    "CaseWorkflow",
    "search_attributes_at_start",
]

# `holidays` imports its country data lazily, and `dateutil` reads the clock at import: both are used
# deterministically here, so workers share the modules loaded outside the sandbox.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "holidays", "dateutil", "email_validator", "idna"
    )
)


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow(BankHolidayChanges):
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        super().__init__(case)
        self._init_requests()
        self._threshold_decision: ThresholdDecisionRecord | None = None
        self._review_meeting: ReviewMeetingRecord | None = None
        self._impact_statement: ImpactStatementRecord | None = None
        self._panel_decision: PanelDecisionRecord | None = None
        self._appeal_request: AppealRequestRecord | None = None
        self._appeal_outcome: AppealOutcomeRecord | None = None
        # True once the appeal runs as its own workflow (cases that reach it from APPEAL_WORKFLOW on).
        self._appeal_running = False

    # ---- the lifecycle ----------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        self._chasing = workflow.patched(AGENCY_CHASING)
        self._lean = workflow.patched(LEAN_HISTORY)
        rules = self._rules
        today = self._today()
        self._set_deadline("acknowledge_by", case.received_on, rules.acknowledge)
        await self._record("Application received; case opened.")

        # 1. Received: Letter 1 goes at once, dated today, and tells the applicant when the threshold
        # decision is due; the acknowledgement deadline is kept for the record all the same.
        self._set_deadline("threshold_decision_by", today, rules.threshold_decision)
        await self._send_letter(LetterCode.ACKNOWLEDGEMENT, dated=today)

        # 2. Threshold check: ask the agencies for their records of the complaints.
        self._stage = CaseStage.THRESHOLD_CHECK
        await self._open_requests(InformationPurpose.THRESHOLD, rules.threshold_information)
        await self._await_step(
            "threshold_decision",
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
            self._set_deadline("outcome_by", decided_on, rules.outcome)
            await self._send_letter(LetterCode.THRESHOLD_MET, dated=decided_on)
            # 4. Review preparation: full reports from the agencies, the meeting, the impact statement.
            self._stage = CaseStage.REVIEW
            await self._open_requests(InformationPurpose.REVIEW, rules.review_information)
            # 5. Panel decision.
            await self._await_step(
                "outcome",
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
        appeal_by = self._set_deadline("appeal_by", result_on, rules.appeal_window)
        await self._send_letter(result_letter, dated=result_on)
        self._stage = CaseStage.APPEAL_WINDOW
        self._next_deadline = ("appeal_by", appeal_by)
        await self._record(f"The applicant may ask for an appeal until {long_date(appeal_by)}.")
        if not await self._appeal_window():
            return await self._close(
                no_appeal_reason, "The appeal window ended without a request for appeal."
            )
        if self._withdrawal is not None:
            return await self._close_withdrawn()

        self._stage = CaseStage.APPEAL
        self._next_deadline = None
        request = self._appeal_request
        assert request is not None
        if workflow.patched(APPEAL_WORKFLOW) and request.rules is not None:
            return await self._run_appeal(request)

        # Cases that reached their appeal before appeals ran as workflows: the SPOC records the outcome.
        await self._record("Case moved to appeal.")
        await self._send_letter(LetterCode.APPEAL_RECEIVED)
        await workflow.wait_condition(
            lambda: self._appeal_outcome is not None or self._withdrawal is not None
        )
        if self._withdrawal is not None:
            return await self._close_withdrawn()
        return await self._close(ClosedReason.APPEAL_DECIDED, "Case closed after the appeal was decided.")

    async def _run_appeal(self, request: AppealRequestRecord) -> CaseStatus:
        """Run the appeal as a child workflow and close with its result.

        A child, not a separately started workflow: its start is part of this case's history (exactly
        once, whatever crashes or restarts), its result comes back here durably, and the Temporal Web UI
        links the two."""
        assert request.rules is not None
        self._appeal_running = True
        reference = self._input.reference
        await self._record(f"Case moved to appeal; the appeal runs as {appeal_workflow_id(reference)}.")
        try:
            result: AppealStatus = await workflow.execute_child_workflow(
                AppealWorkflow.run,
                AppealInput(
                    reference=reference,
                    locality=self._input.locality,
                    received_on=request.received_on,
                    rules=request.rules,
                    request_submission_id=request.submission_id,
                    grounds=list(request.ground_numbers),
                    needs_consent=request.needs_consent,
                    bank_holidays=BankHolidays.of(self._calendar),
                ),
                id=appeal_workflow_id(reference),
                # The appeal belongs to its case: a case terminated by hand takes its appeal with it.
                parent_close_policy=ParentClosePolicy.TERMINATE,
                search_attributes=search_attributes_at_start(
                    reference, self._input.locality, "appeal_chair_requested"
                ),
                static_summary=f"Appeal of case {reference} ({self._input.locality})",
            )
        except ChildWorkflowError as error:
            # Terminated or failed by hand (the Web UI), say: the case does not fail with it. The SPOC
            # records the appeal's outcome, or a withdrawal, as before appeals ran as workflows.
            self._appeal_running = False
            await self._record(
                f"The appeal's workflow ended without a result ({cause_of_child(error)}): the SPOC records "
                f"the appeal's outcome or a withdrawal."
            )
            await workflow.wait_condition(
                lambda: self._appeal_outcome is not None or self._withdrawal is not None
            )
            if self._withdrawal is not None:
                return await self._close_withdrawn()
            return await self._close(ClosedReason.APPEAL_DECIDED, "Case closed after the appeal was decided.")
        if result.result == AppealResult.WITHDRAWN:
            return await self._close(ClosedReason.APPEAL_WITHDRAWN, "Case closed: the appeal was withdrawn.")
        return await self._close(ClosedReason.APPEAL_DECIDED, "Case closed after the appeal was decided.")

    async def _calendar_changed_elsewhere(self) -> None:
        if not self._appeal_running:
            return
        # The appeal counts its working days with the case's bank holidays: it hears of the change.
        appeal = workflow.get_external_workflow_handle(appeal_workflow_id(self._input.reference))
        change = CalendarChange(
            bank_holidays=BankHolidays.of(self._calendar), reason="The case's bank holidays changed."
        )
        try:
            await appeal.signal(AppealWorkflow.calendar_changed, change)
        except ApplicationError:
            # The appeal ended a moment ago (its result is on its way to the case): nothing to move.
            return

    async def _appeal_window(self) -> bool:
        """Wait until the applicant asks for an appeal or withdraws (True), or the window ends (False)."""

        def asked() -> bool:
            return self._appeal_request is not None or self._withdrawal is not None

        while True:
            # The window's last day can move with the bank holidays while it is open.
            closes_at = window_closes_at(self._deadlines["appeal_by"])
            try:
                await workflow.wait_condition(
                    self._woken_by(asked),
                    timeout_summary=f"Appeal window closes at the end of {self._deadlines['appeal_by']}",
                    timeout=max(closes_at - workflow.now(), timedelta(0)),
                )
            except TimeoutError:
                return False
            if asked():
                return True

    def _woken_by(self, done: Callable[[], bool]) -> Callable[[], bool]:
        """`done`, or the dates moved (a calendar change) since the wait began."""
        seen = self._dates_version
        return lambda: done() or self._dates_version != seen

    async def _await_step(
        self, step: str, update_interval: int, update_letter: LetterCode, done: Callable[[], bool]
    ) -> None:
        """Wait for a step the SPOC owns; remind before its deadline, update and escalate after it."""
        deadline = STEP_DEADLINES[step]
        due = self._deadlines[deadline]
        self._next_deadline = (step, due)
        await self._record(f"Waiting to {STEP_NAMES[step]}, due by {long_date(due)}.")

        async def remind(event: StepEvent, due: dt.date) -> None:
            await self._notify_staff(StaffNoticeKind.REMINDER, step, due, event.sequence)

        async def overdue(event: StepEvent, due: dt.date, next_update_by: dt.date) -> None:
            self._next_deadline = (step, next_update_by)
            await self._record(
                f"Deadline to {STEP_NAMES[step]} ({long_date(due)}) has passed; update {event.sequence} "
                f"sent to the applicant and escalated."
            )
            await self._send_letter(
                update_letter, sequence=event.sequence, dated=event.on, next_update_by=next_update_by
            )
            await self._notify_staff(StaffNoticeKind.ESCALATION, step, due, event.sequence)

        await await_step(
            Step(
                name=step,
                due=lambda: self._deadlines[deadline],
                calendar=lambda: self._calendar,
                reminder_before=self._rules.spoc_reminder_before,
                update_interval=update_interval,
                finished=lambda: done() or self._withdrawal is not None,
                dates_version=lambda: self._dates_version,
                remind=remind,
                overdue=overdue,
            )
        )

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
        if self._lean and self._requests:
            # Requests still open close with the case, and their agencies hear that no answer is needed.
            try:
                await workflow.execute_activity_method(
                    CaseActivities.close_information_requests,
                    CloseRequests(reference=self._input.reference),
                    **mail_options("Close the open information requests and tell their agencies"),
                )
            except ActivityError as error:
                # An agency's address that fails is in the failed-mail list; the case closes all the same.
                await self._record(f"Telling the agencies that the case closed failed: {cause_of(error)}.")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    # ---- what operations see ----------------------------------------------------------------

    def _waiting_for(self) -> list[str]:
        stage = self._stage
        waiting: list[str] = []
        if self._withdrawal is not None or stage == CaseStage.CLOSED:
            return waiting
        if stage in (CaseStage.THRESHOLD_CHECK, CaseStage.REVIEW):
            purpose = "threshold" if stage == CaseStage.THRESHOLD_CHECK else "review"
            agencies = [key.split(":", 1)[1] for key in self._open_keys() if key.startswith(f"{purpose}:")]
            if agencies:
                waiting.append(f"answers from {len(agencies)} agencies: {', '.join(agencies)}")
        if stage == CaseStage.THRESHOLD_CHECK:
            waiting.append("the SPOC's threshold decision")
        elif stage == CaseStage.REVIEW:
            if self._review_meeting is None:
                waiting.append("the SPOC to record the review meeting")
            if self._impact_statement is None:
                waiting.append("the SPOC to record how the applicant gives the impact statement")
            waiting.append("the panel's decision, recorded by the SPOC")
        elif stage == CaseStage.APPEAL_WINDOW:
            waiting.append("the applicant: a request for appeal, if they make one")
        elif stage == CaseStage.APPEAL and self._appeal_running:
            waiting.append(f"the appeal, {appeal_workflow_id(self._input.reference)}, to end")
        elif stage == CaseStage.APPEAL:
            waiting.append("the SPOC to record the appeal's outcome")
        return waiting

    # ---- queries ----------------------------------------------------------------------------

    @workflow.query
    def status(self) -> CaseStatus:
        return CaseStatus(
            reference=self._input.reference,
            stage=self._stage,
            closed_reason=self._closed_reason,
            deadlines=dict(self._deadlines),
            open_requests=self._open_keys(),
        )

    # ---- decisions (updates) ----------------------------------------------------------------

    @workflow.update
    async def threshold_decision(self, actor: Actor, decision: ThresholdDecisionRecord) -> ActionResult:
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
            f"Threshold decision: {decision.outcome.value}{ground}{below}.",
            actor,
            self._decision("threshold_decision", decision, decision.submission_id),
            decision.submission_id,
        )
        return ActionResult(
            stage=next_stage, message=f"Threshold decision recorded: {decision.outcome.value}."
        )

    @threshold_decision.validator
    def _validate_threshold_decision(self, actor: Actor, decision: ThresholdDecisionRecord) -> None:
        self._require_stage(CaseStage.THRESHOLD_CHECK, action="the threshold decision")
        if self._threshold_decision is not None:
            raise ApplicationError("The threshold decision has already been recorded.", type="StageConflict")
        self._require_information(InformationPurpose.THRESHOLD, "the threshold decision")

    @workflow.update
    async def review_meeting(self, actor: Actor, meeting: ReviewMeetingRecord) -> ActionResult:
        rescheduled = self._review_meeting is not None
        self._review_meeting = meeting
        when = meeting.meeting_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        yos = "; Youth Offending Service invited" if meeting.youth_offending_service_invited else ""
        await self._record(
            f"Review meeting {'rescheduled' if rescheduled else 'scheduled'} for {when}{yos}.",
            actor,
            self._decision("review_meeting", meeting, meeting.submission_id),
            meeting.submission_id,
        )
        return ActionResult(stage=self._stage, message="Review meeting recorded.")

    @review_meeting.validator
    def _validate_review_meeting(self, actor: Actor, meeting: ReviewMeetingRecord) -> None:
        self._require_stage(CaseStage.REVIEW, action="the review meeting")
        if self._panel_decision is not None:
            raise ApplicationError(
                "The panel has already decided; the meeting cannot change.", type="StageConflict"
            )

    @workflow.update
    async def impact_statement(self, actor: Actor, statement: ImpactStatementRecord) -> ActionResult:
        self._impact_statement = statement
        await self._record(
            f"Personal impact statement arrangement recorded: {statement.method.value}.",
            actor,
            self._decision("impact_statement", statement, statement.submission_id),
            statement.submission_id,
        )
        return ActionResult(stage=self._stage, message="Impact statement arrangement recorded.")

    @impact_statement.validator
    def _validate_impact_statement(self, actor: Actor, statement: ImpactStatementRecord) -> None:
        self._require_stage(CaseStage.REVIEW, action="the impact statement")
        if self._panel_decision is not None:
            raise ApplicationError("The panel has already decided.", type="StageConflict")

    @workflow.update
    async def panel_decision(self, actor: Actor, decision: PanelDecisionRecord) -> ActionResult:
        self._panel_decision = decision
        self._stage = CaseStage.APPEAL_WINDOW
        await self._record(
            f"Panel decision recorded with {decision.recommendation_count} recommendations.",
            actor,
            self._decision("panel_decision", decision, decision.submission_id),
            decision.submission_id,
        )
        return ActionResult(
            stage=CaseStage.APPEAL_WINDOW, message="Panel decision recorded; Letter 3 follows."
        )

    @panel_decision.validator
    def _validate_panel_decision(self, actor: Actor, decision: PanelDecisionRecord) -> None:
        self._require_stage(CaseStage.REVIEW, action="the panel decision")
        if self._panel_decision is not None:
            raise ApplicationError("The panel decision has already been recorded.", type="StageConflict")
        if self._review_meeting is None:
            raise ApplicationError(
                "Record the review meeting before the panel decision.", type="StageConflict"
            )
        self._require_information(InformationPurpose.REVIEW, "the panel decision")
        if self._review_meeting.meeting_at > workflow.now():
            when = self._review_meeting.meeting_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise ApplicationError(
                f"The review meeting is recorded for {when}, which has not happened yet: record the panel "
                f"decision after the meeting (or record the meeting's new date first).",
                type="StageConflict",
            )

    @workflow.update
    async def withdraw(self, actor: Actor, withdrawal: WithdrawalRecord) -> ActionResult:
        self._withdrawal = withdrawal
        await self._record(
            f"Application withdrawn at the {self._stage.value} stage "
            f"(asked by the {withdrawal.requested_by}).",
            actor,
            self._decision("withdrawal", withdrawal, withdrawal.submission_id),
            withdrawal.submission_id,
        )
        return ActionResult(stage=CaseStage.CLOSED, message="Withdrawal recorded; the case will close.")

    @withdraw.validator
    def _validate_withdraw(self, actor: Actor, withdrawal: WithdrawalRecord) -> None:
        if self._appeal_running:
            raise ApplicationError(
                "The case is at appeal: withdraw the appeal instead (it closes the case).",
                type="StageConflict",
            )
        self._require_stage(
            *(stage for stage in CaseStage if stage != CaseStage.CLOSED), action="a withdrawal"
        )

    @workflow.update
    async def appeal_request(self, actor: Actor, request: AppealRequestRecord) -> ActionResult:
        self._appeal_request = request
        await self._record(
            f"Request for appeal received on {long_date(request.received_on)}.",
            actor,
            self._decision("appeal_request", request, request.submission_id),
            request.submission_id,
        )
        return ActionResult(stage=CaseStage.APPEAL, message="Request for appeal recorded.")

    @appeal_request.validator
    def _validate_appeal_request(self, actor: Actor, request: AppealRequestRecord) -> None:
        self._require_stage(CaseStage.APPEAL_WINDOW, action="a request for appeal")
        appeal_by = self._deadlines.get("appeal_by")
        if appeal_by is None:
            raise ApplicationError(
                "The decision letter is still being sent; try again in a moment.", type="StageConflict"
            )
        if request.received_on > appeal_by:
            raise ApplicationError(
                f"The request arrived after the appeal window closed on {long_date(appeal_by)}.",
                type="StageConflict",
            )
        if request.received_on > self._today():
            raise ApplicationError("received_on cannot be in the future.", type="StageConflict")

    @workflow.update
    async def appeal_outcome(self, actor: Actor, outcome: AppealOutcomeRecord) -> ActionResult:
        self._appeal_outcome = outcome
        await self._record(
            f"Appeal outcome recorded: {'upheld' if outcome.upheld else 'not upheld'}.",
            actor,
            self._decision("appeal_outcome", outcome, outcome.submission_id),
            outcome.submission_id,
        )
        return ActionResult(stage=CaseStage.CLOSED, message="Appeal outcome recorded; the case will close.")

    @appeal_outcome.validator
    def _validate_appeal_outcome(self, actor: Actor, outcome: AppealOutcomeRecord) -> None:
        if self._appeal_running:
            raise ApplicationError(
                "The appeal runs as its own workflow: its chair records the outcome.", type="StageConflict"
            )
        self._require_stage(CaseStage.APPEAL, action="the appeal outcome")
        if self._appeal_outcome is not None:
            raise ApplicationError("The appeal outcome has already been recorded.", type="StageConflict")


def cause_of_child(error: ChildWorkflowError) -> str:
    """Why a child workflow ended without a result, in a few words (no payloads)."""
    cause = error.cause
    return type(cause).__name__ if cause is not None else "no result"
