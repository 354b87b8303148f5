"""The appeal's decisions, taken by the SPOC and the chair as Temporal updates (consent, naming the chair,
the chair's link, the acknowledgement, the grounds, the panel, the outcome, a withdrawal), and the chair's
bundle, sent again beside the main flow when the link is resent or another chair is named.

A part of `AppealWorkflow` (workflows/appeal.py): workflow code, every write an idempotent activity; each
decision carries ids, enums and dates, its texts staying in the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case import CaseActivities
    from domain.calendar import add_working_days, long_date
    from workflows.appeal_base import AppealBase
    from workflows.appeal_models import (
        OPEN_STAGES,
        AcknowledgementRecord,
        AppealActionResult,
        AppealConsentRecord,
        AppealDecisionRecord,
        AppealPanelRecord,
        AppealStage,
        AppealWithdrawalRecord,
        BundleEmail,
        BundleSent,
        ChairLinkRecord,
        ChairLinkValidity,
        ChairRecord,
        CriteriaRecord,
    )
    from workflows.case_base import cause_of
    from workflows.models import (
        Actor,
    )
    from workflows.options import mail_options, record_options


class AppealDecisions(AppealBase):
    """The updates of the appeal workflow and the chair's bundle."""

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

    async def _finish_resends(self) -> None:
        if self._resends:
            await asyncio.gather(*self._resends)

    def _send_bundle_beside(self) -> None:
        """Send the bundle again beside the main flow: a letter or a deadline never waits for it."""
        self._bundle_generation += 1
        self._resends.append(asyncio.create_task(self._send_bundle(self._bundle_generation)))

    # ---- decisions of the SPOC and the chair (updates) ---------------------------------------

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
