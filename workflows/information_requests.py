"""The case workflow's information requests: ask the agencies, chase them until each answers or is
waived, and take the SPOC's answers, resends, extensions and waivers.

A part of `CaseWorkflow` (its handlers are the workflow's own). Workflow code: no I/O, time from
`workflow.now()`; the pure rules of when to chase are in `domain/deadlines.py`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import add_working_days, long_date
    from domain.deadlines import AwaitedAnswer, ChaseDue, ChaseKind, chases_to_come
    from workflows.case_base import PURPOSE_NAMES, CaseBase, cause_of
    from workflows.models import (
        ActionResult,
        Actor,
        AgencyAnswerRecord,
        AgencyChase,
        CaseStage,
        ChaseSent,
        ExtendRecord,
        InformationPurpose,
        OpenRequests,
        RequestChange,
        ResendInformationRequest,
        ResendRecord,
        StaffNoticeKind,
        WaiveRecord,
    )
    from workflows.options import mail_options, record_options


class RequestState(StrEnum):
    REQUESTED = "requested"
    ANSWERED = "answered"
    WAIVED = "waived"


@dataclass
class TrackedRequest:
    """What the workflow knows of one information request."""

    key: str
    state: RequestState
    # None until the request is opened: an agency may answer while its request is still being sent.
    due_on: dt.date | None = None
    # When the due date was last set: a reminder that would fall before it is not sent.
    due_set_at: dt.datetime | None = None
    # (requested on, working days) while the due date is the policy's; None once the SPOC set a date.
    basis: tuple[dt.date, int] | None = None
    resends: int = 0

    @property
    def purpose(self) -> str:
        return self.key.split(":", 1)[0]


@dataclass(frozen=True)
class QueuedResend:
    key: str
    generation: int
    # The SPOC's submission, which holds another address if one was given.
    submission_id: int | None


class InformationRequests(CaseBase):
    """Information requests: the requests, their chasing, and the handlers that change them."""

    def _init_requests(self) -> None:
        self._requests: dict[str, TrackedRequest] = {}
        # Tags (domain.deadlines.chase_tag) of every chase already sent.
        self._chased: set[str] = set()
        self._resend_queue: list[QueuedResend] = []
        # Bumped by every answer, waiver, extension, resend and calendar change, to wake the chasing loops.
        self._request_changes = 0
        self._chasers: list[asyncio.Task[None]] = []
        self._new_link_notices: set[str] = set()
        # Purposes whose requests are being created and emailed: an agency may answer one (or the SPOC
        # record an answer) before the workflow has heard the keys back.
        self._opening: set[str] = set()

    def _state(self, key: str) -> RequestState | None:
        request = self._requests.get(key)
        return request.state if request else None

    def _open_keys(self) -> list[str]:
        return sorted(key for key, r in self._requests.items() if r.state == RequestState.REQUESTED)

    # ---- asking and chasing ------------------------------------------------------------------

    async def _open_requests(self, purpose: InformationPurpose, due_in: int) -> None:
        rules = self._rules
        today = self._today()
        due_on = add_working_days(today, due_in, self._calendar)
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
            **mail_options(f"Ask the agencies for information ({purpose.value})"),
        )
        self._opening.discard(purpose.value)
        for key in keys:
            request = self._requests.setdefault(key, TrackedRequest(key, RequestState.REQUESTED))
            if request.due_on is None:
                request.due_on = due_on
                request.due_set_at = workflow.now()
                request.basis = (today, due_in)
        await self._record(
            f"Information requested from {len(keys)} agencies ({purpose.value}), due by {long_date(due_on)}."
        )
        if self._chasing and keys:
            self._chasers.append(asyncio.create_task(self._chase(purpose, keys)))

    async def _chase(self, purpose: InformationPurpose, keys: list[str]) -> None:
        """Chase the agencies of one stage until each has answered or been waived; then tell the SPOC.

        Runs beside the main flow. Sends the resends the SPOC asks for; reminds each agency before its
        answer is due and again on the due date, when the SPOC is told too. An extension moves the dates
        and chasing starts again for the new date.
        """
        while True:
            if self._stopped():
                return
            await self._send_resends(keys)
            awaited = [
                AwaitedAnswer(key, request.due_on, request.due_set_at)
                for key in keys
                if (request := self._requests[key]).state == RequestState.REQUESTED
                and request.due_on is not None
                and request.due_set_at is not None
            ]
            if not awaited:
                break
            planned = chases_to_come(
                awaited,
                chased=self._chased,
                reminder_before=self._rules.agency_reminder_before,
                nation=self._calendar,
            )
            now = workflow.now()
            ready = [chase for chase in planned if chase.event.at <= now]
            if ready:
                for chase in ready:
                    if self._stopped():
                        return
                    # An answer, waiver or extension may have come in while the previous chase went.
                    request = self._requests[chase.key]
                    if request.state == RequestState.REQUESTED and request.due_on == chase.due:
                        self._chased.add(chase.tag)
                        await self._chase_agency(chase)
                continue
            if planned:
                first = planned[0]
                await self._wait_for_request_change(
                    first.event.at - now, f"Chase {first.key}: {first.event.kind.value} on {first.event.on}"
                )
            else:
                await self._wait_for_request_change(None)
        # Let the last answer's handler record it first, so the chronology reads in order.
        await workflow.wait_condition(workflow.all_handlers_finished)
        answered = sum(1 for key in keys if self._requests[key].state == RequestState.ANSWERED)
        waived = len(keys) - answered
        step = "threshold decision" if purpose == InformationPurpose.THRESHOLD else "panel's review"
        await self._record(
            f"Every information request for the {PURPOSE_NAMES[purpose]} is answered ({answered}) "
            f"or waived ({waived}): ready for the {step}."
        )
        due_dates = [d for key in keys if (d := self._requests[key].due_on) is not None]
        await self._notify_staff(StaffNoticeKind.INFORMATION_COMPLETE, purpose.value, max(due_dates), 1)

    async def _wait_for_request_change(
        self, wake_after: timedelta | None, summary: str | None = None
    ) -> None:
        seen = self._request_changes
        try:
            await workflow.wait_condition(
                lambda: self._request_changes != seen or self._stopped(),
                timeout=wake_after,
                timeout_summary=summary,
            )
        except TimeoutError:
            pass

    async def _chase_agency(self, chase: ChaseDue) -> None:
        rules = self._rules
        key = chase.key
        due = chase.due
        try:
            sent: ChaseSent = await workflow.execute_activity_method(
                CaseActivities.chase_information_request,
                AgencyChase(
                    reference=self._input.reference,
                    request_key=key,
                    kind=chase.event.kind.value,
                    due_on=due,
                    dated=self._today(),
                    nation=rules.nation,
                    link_valid_after_due=rules.agency_link_valid_after_due,
                ),
                **mail_options(f"Chase {key}: {chase.event.kind.value}"),
            )
        except ActivityError as error:
            await self._record(f"Chasing information request {key} failed: {cause_of(error)}.")
            return
        if sent.skipped:
            return  # answered or closed meanwhile: nothing was sent
        agency = "reminder sent to the agency" if sent.agency_emailed else "the agency's address has failed"
        if chase.event.kind == ChaseKind.REMINDER:
            await self._record(f"Information request {key} is due by {long_date(due)}: {agency}.")
        else:
            await self._record(
                f"Information request {key} is due today ({long_date(due)}) and not answered: {agency}; "
                f"escalated to the SPOC."
            )

    async def _send_resends(self, keys: list[str]) -> None:
        rules = self._rules
        for resend in [resend for resend in self._resend_queue if resend.key in keys]:
            if self._stopped():
                return
            self._resend_queue.remove(resend)
            request = self._requests[resend.key]
            if request.state != RequestState.REQUESTED or request.due_on is None:
                continue  # answered or waived while the resend waited
            try:
                await workflow.execute_activity_method(
                    CaseActivities.resend_information_request,
                    ResendInformationRequest(
                        reference=self._input.reference,
                        request_key=resend.key,
                        generation=resend.generation,
                        submission_id=resend.submission_id,
                        due_on=request.due_on,
                        dated=self._today(),
                        nation=rules.nation,
                        link_valid_after_due=rules.agency_link_valid_after_due,
                    ),
                    **mail_options(f"Resend {resend.key} (resend {resend.generation})"),
                )
            except ActivityError as error:
                await self._record(
                    f"Resend {resend.generation} of information request {resend.key} failed: "
                    f"{cause_of(error)}."
                )
                continue
            await self._record(
                f"Information request {resend.key} sent again (resend {resend.generation}) with a new link; "
                f"earlier links no longer work."
            )

    async def _record_request_change(
        self,
        key: str,
        *,
        due_on: dt.date | None = None,
        waived: bool = False,
        submission_id: int | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            CaseActivities.record_request_change,
            RequestChange(
                reference=self._input.reference,
                request_key=key,
                due_on=due_on,
                waived=waived,
                submission_id=submission_id,
                nation=self._rules.nation,
                link_valid_after_due=self._rules.agency_link_valid_after_due,
            ),
            **record_options(f"Record a change to {key}"),
        )

    # ---- checks the decisions rest on --------------------------------------------------------

    def _require_information(self, purpose: InformationPurpose, action: str) -> None:
        """A decision waits for every information request it rests on to be answered or waived."""
        if not self._chasing:
            return
        if purpose.value in self._opening:
            raise ApplicationError(
                f"The information requests for the {PURPOSE_NAMES[purpose]} are still being sent.",
                type="InformationOutstanding",
            )
        waiting = [key for key in self._open_keys() if key.startswith(f"{purpose.value}:")]
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
        state = self._state(key)
        if state is None:
            raise ApplicationError(
                f"There is no information request {key!r} on this case.", type="UnknownRequest"
            )
        if state != RequestState.REQUESTED:
            raise ApplicationError(
                f"Information request {key} is already {state.value}.", type="StageConflict"
            )

    # ---- handlers ----------------------------------------------------------------------------

    @workflow.update
    async def agency_response(self, actor: Actor, response: AgencyAnswerRecord) -> ActionResult:
        key = response.request_key
        # Checked again here, not only in the validator: two answers accepted in the same workflow task
        # both pass the validator before either handler runs, and only the first may count.
        if self._state(key) == RequestState.ANSWERED:
            raise ApplicationError(
                "That information request has already been answered.", type="AlreadyAnswered"
            )
        known = key in self._requests
        request = self._requests.setdefault(key, TrackedRequest(key, RequestState.ANSWERED))
        previous = request.state if known else None
        request.state = RequestState.ANSWERED
        self._request_changes += 1
        try:
            await workflow.execute_activity_method(
                CaseActivities.record_agency_response,
                args=[self._input.reference, response, self._today()],
                **record_options(f"Record the answer to {key}"),
            )
        except ActivityError:
            # Only an unknown request fails for good (while requests were still being sent). If the
            # request has since been opened, it stays open; otherwise it was never one.
            if previous is not None:
                request.state = previous
            elif request.due_on is not None:
                request.state = RequestState.REQUESTED
            else:
                del self._requests[key]
            raise ApplicationError(
                f"There is no information request {key!r} on this case.", type="UnknownRequest"
            ) from None
        await self._record(
            f"Answer to information request {key} recorded ({response.received_by}).",
            actor,
            submission_id=response.submission_id,
        )
        return ActionResult(stage=self._stage, message="The agency's answer has been recorded.")

    @agency_response.validator
    def _validate_agency_response(self, actor: Actor, response: AgencyAnswerRecord) -> None:
        self._require_stage(CaseStage.THRESHOLD_CHECK, CaseStage.REVIEW, action="an agency's answer")
        state = self._state(response.request_key)
        if state is None and response.request_key.split(":", 1)[0] not in self._opening:
            raise ApplicationError(
                f"There is no information request {response.request_key!r} on this case.",
                type="UnknownRequest",
            )
        if state == RequestState.ANSWERED:
            raise ApplicationError(
                "That information request has already been answered.", type="AlreadyAnswered"
            )

    @workflow.update
    async def resend_request(self, actor: Actor, resend: ResendRecord) -> ActionResult:
        request = self._requests[resend.request_key]
        request.resends += 1
        self._resend_queue.append(QueuedResend(resend.request_key, request.resends, resend.submission_id))
        self._request_changes += 1
        elsewhere = " to another address" if resend.to_another_address else ""
        await self._record(
            f"Resend {request.resends} of information request {resend.request_key}{elsewhere} asked for.",
            actor,
            submission_id=resend.submission_id,
        )
        return ActionResult(
            stage=self._stage,
            message="The request will be sent again with a new link; earlier links stop working.",
        )

    @resend_request.validator
    def _validate_resend_request(self, actor: Actor, resend: ResendRecord) -> None:
        self._require_open_request(resend.request_key, "a resend")

    @workflow.update
    async def extend_request(self, actor: Actor, extension: ExtendRecord) -> ActionResult:
        key = extension.request_key
        request = self._requests[key]
        previous = request.due_on
        assert previous is not None
        request.due_on = extension.due_on
        request.due_set_at = workflow.now()
        request.basis = None  # the SPOC's date: a calendar change does not move it
        self._request_changes += 1
        await self._record_request_change(key, due_on=extension.due_on)
        await self._record(
            f"Information request {key} extended from {long_date(previous)} to "
            f"{long_date(extension.due_on)}.",
            actor,
            submission_id=extension.submission_id,
        )
        return ActionResult(stage=self._stage, message=f"Due date moved to {long_date(extension.due_on)}.")

    @extend_request.validator
    def _validate_extend_request(self, actor: Actor, extension: ExtendRecord) -> None:
        self._require_open_request(extension.request_key, "an extension")
        current = self._requests[extension.request_key].due_on
        assert current is not None
        if extension.due_on <= current:
            raise ApplicationError(
                f"The new due date must be after the current one, {long_date(current)}.",
                type="StageConflict",
            )
        if extension.due_on < self._today():
            raise ApplicationError("The new due date cannot be in the past.", type="StageConflict")

    @workflow.update
    async def waive_request(self, actor: Actor, waiver: WaiveRecord) -> ActionResult:
        self._requests[waiver.request_key].state = RequestState.WAIVED
        self._request_changes += 1
        await self._record_request_change(waiver.request_key, waived=True, submission_id=waiver.submission_id)
        await self._record(
            f"Proceeding without an answer to information request {waiver.request_key}.",
            actor,
            submission_id=waiver.submission_id,
        )
        return ActionResult(
            stage=self._stage,
            message="Recorded: the case proceeds without this answer (a late one is still taken).",
        )

    @waive_request.validator
    def _validate_waive_request(self, actor: Actor, waiver: WaiveRecord) -> None:
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
            self._requests[request_key].due_on or self._today(),
            len(self._new_link_notices),
        )
