"""Activities that tell staff: notices to the SPOC (and the manager on escalation), and a note to the SPOC
when an email could not be delivered.

Idempotent on outbox keys and on the failure's chronology entry, because Temporal runs an activity at
least once and the mailer calls the failure hook again when a retry finds a message failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from activities.case_files import CaseFiles, deliver_each
from activities.mail import activity_now
from db.models import Case, ChronologyEntry, OutboxMessage
from workflows.models import StaffNotice, StaffNoticeKind

STEP_DESCRIPTIONS = {
    "threshold_decision": "the threshold decision letter (Letter 2a or 2b) to the applicant",
    "outcome": "the review outcome letter (Letter 3) to the applicant",
    "appeal_consent": "the victim's signed consent to the appeal",
    "appeal_chair": "naming who hears the appeal",
    "appeal_acknowledge": "the chair's acknowledgement of the appeal (Letter 4) to the applicant",
    "appeal_decision": "the chair's decision on the appeal (Letter 5 or 6) to the applicant",
}


class StaffNotices(CaseFiles):
    """Emails to the SPOC and manager, and the mailer's failure hook (`_mail_failed`)."""

    @activity.defn
    async def notify_staff(self, notice: StaffNotice) -> None:
        keys = await asyncio.to_thread(self._record_notice, notice)
        await deliver_each(self._mailer.deliver(key) for key in keys)

    def _record_notice(self, notice: StaffNotice) -> list[str]:
        with self._sessions.begin() as session:
            case = self._case(session, notice.reference)
            policy = self._policy(case.locality)
            recipients: list[Any] = [policy.spoc]
            if notice.kind == StaffNoticeKind.ESCALATION:
                recipients.append(policy.manager)
            chair = None
            if notice.to_chair and case.appeal is not None and case.appeal.chair_key:
                chair = policy.appeal.chair(case.appeal.chair_key)
                if chair is not None:
                    recipients.insert(0, chair)
            extra: dict[str, Any] = {}
            if notice.kind == StaffNoticeKind.INFORMATION_COMPLETE:
                extra["requests"] = [
                    {
                        "key": r.request_key,
                        "agency_name": r.agency_name,
                        "state": r.state,
                        "answered_on": r.answered_on,
                        "waived_reason": r.waived_reason,
                    }
                    for r in case.information_requests
                    if r.purpose == notice.step and r.state in ("answered", "waived")
                ]
            elif notice.kind == StaffNoticeKind.NEW_LINK_REQUESTED:
                extra["request"] = self._request_summary(self._request(session, case, notice.step))
            keys = []
            for recipient in recipients:
                rendered = self._renderer.render(
                    f"emails/{notice.kind.value}.j2",
                    {
                        "case": self._case_summary(case),
                        "council": policy,
                        "recipient": recipient,
                        "notice": notice,
                        "what": STEP_DESCRIPTIONS.get(notice.step, notice.step),
                        "case_url": self._case_url(case.reference),
                        "to_the_chair": recipient is chair,
                        **extra,
                    },
                )
                key = (
                    f"{case.reference}:{notice.kind.value}:{notice.step}:{notice.sequence}:{recipient.email}"
                )
                self._queue_email(
                    session,
                    case,
                    policy,
                    key,
                    notice.kind.value,
                    str(recipient.email),
                    rendered,
                    reply_to=False,
                )
                keys.append(key)
            return keys

    # ---- mail that could not be delivered ------------------------------------------------------

    def _mail_failed(self, session: Session, message: OutboxMessage) -> list[str]:
        """Mark a permanently failed email on its case and queue a note to the SPOC (once each).

        Called by the mailer in the transaction that marks the message failed, and again (harmlessly)
        when a retry finds it failed, so that the SPOC's note goes out even if the first try to send it
        met a transient error. Returns the outbox keys of the notes to deliver.
        """
        if message.case_reference is None:
            return []
        case = session.scalar(select(Case).where(Case.reference == message.case_reference))
        if case is None:
            return []
        policy = self._policy(case.locality)
        note_mail_failed(session, case.id, message)
        for letter in case.letters:
            if letter.outbox_key == message.idempotency_key:
                letter.status = "failed"
        # A note about a failed note would only fail again the same way.
        if message.purpose == "mail-failed":
            return []
        # When the SPOC's own address is the one failing, the manager is told instead.
        told = policy.manager if message.recipient.lower() == str(policy.spoc.email).lower() else policy.spoc
        key = f"{case.reference}:mail-failed:{message.id}:{told.email}"
        if not self._mailer.exists(session, key):
            rendered = self._renderer.render(
                "emails/mail-failed.j2",
                {
                    "case": self._case_summary(case),
                    "council": policy,
                    "recipient": told,
                    "case_url": self._case_url(case.reference),
                    "failed": {
                        "purpose": message.purpose,
                        "recipient": message.recipient,
                        "subject": message.subject,
                        "error": message.last_error or "refused",
                        "created_at": message.created_at,
                    },
                },
            )
            self._queue_email(
                session, case, policy, key, "mail-failed", str(told.email), rendered, reply_to=False
            )
        return [key]


def note_mail_failed(session: Session, case_id: int, message: OutboxMessage) -> None:
    """The case's chronology entry for an email that failed for good, once (kept by the message's id)."""
    event_key = f"mail-failed:{message.id}"
    exists = session.scalar(
        select(ChronologyEntry.id).where(
            ChronologyEntry.case_id == case_id, ChronologyEntry.event_key == event_key
        )
    )
    if exists is None:
        session.add(
            ChronologyEntry(
                case_id=case_id,
                event_key=event_key,
                # Temporal's time in an activity, so that it sorts with the workflow's own entries.
                at=activity_now(),
                actor="Community Trigger service",
                event=(
                    f"Email '{message.purpose}' to {message.recipient} could not be delivered and "
                    f"will not be retried: {message.last_error or 'refused'}."
                ),
            )
        )
