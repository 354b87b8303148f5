"""The appeal workflow's activities: keep the appeal's record (and the case's chronology) current, ask the
policy's contact to name the chair, send the chair the bundle through a link, and share the lessons learnt.

Idempotent, because Temporal runs an activity at least once: the appeal row on its case, chronology
entries on (case, event key), emails on their outbox key. A link is issued in the transaction that records
the email carrying it, so a retry that finds the email recorded delivers it and issues nothing new; only a
link's hash is kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import CaseFiles, appeal_summary, deliver_each
from activities.mail import utc_now
from activities.records import add_to_chronology, submission_of
from db.models import Appeal, AppealToken, Case
from domain.deadlines import window_closes_at
from domain.links import AppealTokenPurpose, appeal_link_path
from domain.policy import AppealChair, LocalityPolicy
from workflows.appeal_models import (
    AppealProgress,
    BundleEmail,
    BundleSent,
    ChairLinkValidity,
    ChairNamingEmail,
    LessonsEmail,
)

# AppealProgress.submissions key -> the column of `appeals` the submission's body is copied into.
SUBMISSION_COLUMNS = ("consent", "chair", "acknowledgement", "criteria", "panel", "decision", "withdrawal")
DEADLINE_COLUMNS = ("name_chair_by", "bundle_by", "acknowledge_by", "decision_by")


class AppealRecords(CaseFiles):
    """The appeal's record, its chair's and contact's links, and its emails."""

    @activity.defn
    def record_appeal(self, progress: AppealProgress) -> None:
        with self._sessions.begin() as session:
            case = self._case(session, progress.reference)
            policy = self._policy(case.locality)
            now = utc_now()
            appeal = case.appeal
            if appeal is None:
                appeal = Appeal(
                    case_id=case.id,
                    stage=progress.stage.value,
                    route=progress.route,
                    received_on=progress.received_on,
                    grounds=list(progress.grounds),
                    needs_consent=progress.needs_consent,
                    record_version=0,
                    created_at=now,
                    updated_at=now,
                )
                session.add(appeal)
                case.appeal = appeal
            # A retried write that finishes after a newer one adds its chronology entry, not its state.
            current = progress.version >= (appeal.record_version or 0)
            if current:
                appeal.record_version = progress.version
                appeal.stage = progress.stage.value
                appeal.result = progress.result.value if progress.result else None
                for name, day in progress.deadlines.items():
                    if name in DEADLINE_COLUMNS:
                        setattr(appeal, name, day)
                appeal.next_deadline = progress.next_deadline
                appeal.next_deadline_step = progress.next_deadline_step
            if current and progress.chair_key and appeal.chair_key != progress.chair_key:
                chair = self._chair(policy, progress.chair_key)
                appeal.chair_key = chair.key
                appeal.chair_name = chair.name
                appeal.chair_email = str(chair.email)
                appeal.chair_partnership = chair.partnership
            for column, submission_id in progress.submissions.items():
                body = submission_of(session, case, submission_id).body
                if column == "request":
                    case.appeal_request = body
                elif column in SUBMISSION_COLUMNS:
                    setattr(appeal, column, body)
                else:
                    raise ApplicationError(f"unknown appeal column {column!r}", non_retryable=True)
            appeal.updated_at = now
            if current:
                # The case's own next deadline is the appeal's while the appeal runs: lists show one date.
                case.next_deadline = progress.next_deadline
                case.next_deadline_step = progress.next_deadline_step
            case.updated_at = now
            add_to_chronology(session, case, progress.events)

    @staticmethod
    def _chair(policy: LocalityPolicy, key: str) -> AppealChair:
        chair = policy.appeal.chair(key)
        if chair is None:
            raise ApplicationError(f"no appeal chair {key!r} in the policy", non_retryable=True)
        return chair

    @staticmethod
    def _appeal(case: Case) -> Appeal:
        if case.appeal is None:
            raise ApplicationError(f"no appeal on {case.reference}", non_retryable=True)
        return case.appeal

    # ---- naming the chair --------------------------------------------------------------------

    @activity.defn
    async def ask_for_appeal_chair(self, email: ChairNamingEmail) -> None:
        """Email the policy's contact a link to name who hears the appeal (a new link each email)."""
        key = await asyncio.to_thread(self._record_naming_email, email)
        if key is not None:
            await self._mailer.deliver(key)

    def _record_naming_email(self, email: ChairNamingEmail) -> str | None:
        with self._sessions.begin() as session:
            case = self._case(session, email.reference)
            appeal = self._appeal(case)
            if appeal.chair_key is not None or appeal.result is not None:
                return None  # named (or ended) while the email was on its way
            policy = self._policy(case.locality)
            contact = policy.appeal.contact
            key = f"{case.reference}:appeal-chair:{email.kind}:{email.sequence}:{contact.email}"
            if not self._mailer.exists(session, key):
                link = self._issue(session, appeal, AppealTokenPurpose.CONTACT_LINK, None, email.valid_until)
                rendered = self._renderer.render(
                    "emails/appeal-chair-request.j2",
                    {
                        **self._appeal_context(case, policy),
                        "naming": {"kind": email.kind, "sequence": email.sequence},
                        "due_on": email.due_on,
                        "valid_until": email.valid_until,
                        "link": link,
                        "chairs": policy.eligible_appeal_chairs(),
                        "recipient": contact,
                    },
                )
                self._queue_email(
                    session, case, policy, key, "appeal-chair-request", str(contact.email), rendered
                )
            return key

    # ---- the bundle --------------------------------------------------------------------------

    @activity.defn
    async def send_appeal_bundle(self, bundle: BundleEmail) -> BundleSent:
        """Email the chair a link to their page with the bundle; a resend (a later generation) revokes
        the earlier links first."""
        key, sent_on = await asyncio.to_thread(self._record_bundle_email, bundle)
        await self._mailer.deliver(key)
        if bundle.generation > 0:
            # Only once the new link has gone: until then the chair can still use the one they have.
            await asyncio.to_thread(self._revoke_earlier_chair_links, bundle)
        return BundleSent(sent_on=sent_on, delivered=True)

    def _record_bundle_email(self, bundle: BundleEmail) -> tuple[str, dt.date]:
        with self._sessions.begin() as session:
            case = self._case(session, bundle.reference)
            appeal = self._appeal(case)
            policy = self._policy(case.locality)
            chair = self._chair(policy, bundle.chair_key)
            key = f"{case.reference}:appeal-bundle:{chair.key}:{bundle.generation}:{chair.email}"
            if not self._mailer.exists(session, key):
                link = self._issue(
                    session,
                    appeal,
                    AppealTokenPurpose.CHAIR_LINK,
                    chair.key,
                    bundle.valid_until,
                    generation=bundle.generation,
                )
                appeal.chair_link_valid_until = max(
                    appeal.chair_link_valid_until or bundle.valid_until, bundle.valid_until
                )
                if appeal.bundle_sent_on is None:
                    appeal.bundle_sent_on = bundle.dated
                rendered = self._renderer.render(
                    "emails/appeal-bundle.j2",
                    {
                        **self._appeal_context(case, policy),
                        "chair": chair,
                        "link": link,
                        "valid_until": bundle.valid_until,
                        "resent": bundle.generation > 0,
                        "recipient": chair,
                    },
                )
                self._queue_email(session, case, policy, key, "appeal-bundle", str(chair.email), rendered)
            return key, appeal.bundle_sent_on or bundle.dated

    @activity.defn
    def extend_chair_link(self, validity: ChairLinkValidity) -> None:
        """Set how long the chair's links work: to the SPOC's date, or (`only_later`) at least until the
        day the workflow needs."""
        with self._sessions.begin() as session:
            case = self._case(session, validity.reference)
            appeal = self._appeal(case)
            until = validity.valid_until
            if validity.only_later and appeal.chair_link_valid_until is not None:
                until = max(until, appeal.chair_link_valid_until)
            appeal.chair_link_valid_until = until
            for token in session.scalars(
                select(AppealToken).where(
                    AppealToken.appeal_id == appeal.id,
                    AppealToken.purpose == AppealTokenPurpose.CHAIR_LINK.value,
                    AppealToken.revoked_at.is_(None),
                )
            ):
                token.expires_at = window_closes_at(until)

    # ---- lessons learnt ----------------------------------------------------------------------

    @activity.defn
    async def send_appeal_lessons(self, lessons: LessonsEmail) -> None:
        keys = await asyncio.to_thread(self._record_lessons, lessons)
        await deliver_each(self._mailer.deliver(key) for key in keys)

    def _record_lessons(self, lessons: LessonsEmail) -> list[str]:
        with self._sessions.begin() as session:
            case = self._case(session, lessons.reference)
            policy = self._policy(case.locality)
            keys = []
            for recipient in policy.appeal.lessons_to or (policy.manager.email,):
                key = f"{case.reference}:appeal-lessons:{recipient}"
                if not self._mailer.exists(session, key):
                    rendered = self._renderer.render(
                        "emails/appeal-lessons.j2",
                        {**self._appeal_context(case, policy), "recipient": str(recipient)},
                    )
                    self._queue_email(
                        session, case, policy, key, "appeal-lessons", str(recipient), rendered, reply_to=False
                    )
                keys.append(key)
            return keys

    # ---- shared ------------------------------------------------------------------------------

    def _appeal_context(self, case: Case, policy: LocalityPolicy) -> dict[str, Any]:
        """What the appeal's emails may say: no applicant's personal data (that is behind the links)."""
        return {
            "case": self._case_summary(case),
            "council": policy,
            "appeal": policy.appeal,
            "appeal_case": appeal_summary(case, policy),
        }

    def _issue(
        self,
        session: Session,
        appeal: Appeal,
        purpose: AppealTokenPurpose,
        chair_key: str | None,
        valid_until: dt.date,
        generation: int | None = None,
    ) -> str:
        token, row = AppealToken.issue(
            purpose.value,
            appeal_id=appeal.id,
            chair_key=chair_key,
            issued_at=utc_now(),
            expires_at=window_closes_at(valid_until),
            generation=generation,
        )
        session.add(row)
        return f"{self._settings.public_base_url.rstrip('/')}{appeal_link_path(token)}"

    def _revoke_earlier_chair_links(self, bundle: BundleEmail) -> None:
        """Revoke the chair's links of earlier bundle emails (their sessions end with them). Idempotent, and
        a resend that finishes late never revokes a newer link."""
        with self._sessions.begin() as session:
            appeal = self._appeal(self._case(session, bundle.reference))
            earlier = list(
                session.scalars(
                    select(AppealToken).where(
                        AppealToken.appeal_id == appeal.id,
                        AppealToken.purpose == AppealTokenPurpose.CHAIR_LINK.value,
                        AppealToken.generation < bundle.generation,
                        AppealToken.revoked_at.is_(None),
                    )
                )
            )
            now = utc_now()
            for link in earlier:
                link.revoked_at = now
                link.revoked_reason = "resent"
                for opened in session.scalars(
                    select(AppealToken).where(
                        AppealToken.link_id == link.id, AppealToken.revoked_at.is_(None)
                    )
                ):
                    opened.revoked_at = now
                    opened.revoked_reason = "resent"
