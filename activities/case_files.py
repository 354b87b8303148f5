"""What the case activities share: the case and its locality's policy, template context, case URLs, and
queueing an email in the outbox in the caller's transaction.

`CaseFiles` holds the settings, policies, database sessions, mailer and renderer; the activity groups
(records, requests, letters, notices) extend it, and `activities.case.CaseActivities` composes them.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import ApplicationError

from activities.mail import MailAttachment, Mailer, OutgoingEmail
from activities.rendering import Rendered, Renderer
from core.config import Settings
from db.models import Case, InformationRequest, OutboxMessage
from domain.application import Application
from domain.policy import LocalityPolicy


async def deliver_each(*groups: Iterable[Awaitable[Any]]) -> list[Any]:
    """Await each delivery in turn, carrying on past failures, so that one agency's struggling mail
    server does not hold back the others' emails; then raise the first failure for Temporal to retry
    (the ones that went are not sent again). Returns each result."""
    results: list[Any] = []
    first_error: BaseException | None = None
    for group in groups:
        for delivery in group:
            try:
                results.append(await delivery)
            except Exception as error:
                results.append(error)
                first_error = first_error or error
    if first_error is not None:
        raise first_error
    return results


def appeal_summary(case: Case, policy: LocalityPolicy) -> dict[str, Any] | None:
    """The appeal as letters, emails and pages show it (None when the case has no appeal)."""
    appeal = case.appeal
    if appeal is None:
        return None
    request = case.appeal_request or {}
    grounds = policy.appeal.grounds
    criteria, decision = appeal.criteria, appeal.decision
    # Lessons may come with the decision on the grounds, with the outcome, or both.
    lessons = "\n\n".join(
        str(part["lessons"]) for part in (criteria, decision) if part and part.get("lessons")
    )
    return {
        "stage": appeal.stage,
        "result": appeal.result,
        "route": appeal.route,
        "received_on": appeal.received_on,
        "grounds": [grounds[number - 1] for number in appeal.grounds if 0 < number <= len(grounds)],
        "explanation": str(request.get("explanation") or request.get("grounds") or ""),
        "chair": {"name": appeal.chair_name, "partnership": appeal.chair_partnership}
        if appeal.chair_key
        else None,
        "name_chair_by": appeal.name_chair_by,
        "bundle_by": appeal.bundle_by,
        "acknowledge_by": appeal.acknowledge_by,
        "decision_by": appeal.decision_by,
        "bundle_sent_on": appeal.bundle_sent_on,
        "acknowledged_on": _acknowledged_on(case),
        "criteria": criteria,
        "panel": appeal.panel,
        "decision": decision,
        "withdrawal": appeal.withdrawal,
        "lessons": str(lessons),
    }


def _acknowledged_on(case: Case) -> dt.date | None:
    letter = next((letter for letter in case.letters if letter.code == "letter-4"), None)
    return letter.sent_on if letter else None


class CaseFiles(ABC):
    """Holds what the activities need: settings, locality policies, database sessions, the mailer."""

    def __init__(
        self, settings: Settings, policies: dict[str, LocalityPolicy], sessions: sessionmaker[Session]
    ) -> None:
        self._settings = settings
        self._policies = policies
        self._sessions = sessions
        self._mailer = Mailer(
            settings, sessions, on_permanent_failure=self._mail_failed, attachments_for=self._mail_attachments
        )
        self._renderer = Renderer()

    @abstractmethod
    def _mail_failed(self, session: Session, message: OutboxMessage) -> list[str]:
        """The mailer's hook for an email that failed for good (see `activities.notices`); it is wired
        here because the one mailer is built here."""

    def _mail_attachments(self, session: Session, message: OutboxMessage) -> list[MailAttachment]:
        """The mailer's hook for the files an email carries: none, unless an activity group gives some
        (a letter's PDF: `activities.letters`)."""
        return []

    def _queue_email(
        self,
        session: Session,
        case: Case,
        policy: LocalityPolicy,
        key: str,
        purpose: str,
        recipient: str,
        rendered: Rendered,
        *,
        reply_to: bool = True,
    ) -> None:
        """Record an email from the locality in the outbox, in the caller's transaction.

        From: the locality's mailbox (the SPOC's address unless the policy names another); replies go to
        the SPOC.
        """
        self._mailer.record(
            OutgoingEmail(
                idempotency_key=key,
                case_reference=case.reference,
                purpose=purpose,
                sender=str(policy.email_from or policy.spoc.email),
                reply_to=str(policy.spoc.email) if reply_to else None,
                recipient=recipient,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
            ),
            session,
        )

    @staticmethod
    def _request(session: Session, case: Case, request_key: str) -> InformationRequest:
        request = session.scalar(
            select(InformationRequest).where(
                InformationRequest.case_id == case.id, InformationRequest.request_key == request_key
            )
        )
        if request is None:
            raise ApplicationError(
                f"no information request {request_key!r} on {case.reference}", non_retryable=True
            )
        return request

    @staticmethod
    def _request_summary(request: InformationRequest) -> dict[str, Any]:
        return {
            "key": request.request_key,
            "purpose": request.purpose,
            "agency_name": request.agency_name,
            "agency_email": request.agency_email,
            "requested_on": request.requested_on,
            "due_on": request.due_on,
            "state": request.state,
            "delivery": request.delivery,
        }

    def _case(self, session: Session, reference: str) -> Case:
        case = session.scalar(select(Case).where(Case.reference == reference))
        if case is None:
            raise ApplicationError(f"no case {reference}", type="UnknownCase", non_retryable=True)
        return case

    def _policy(self, locality: str) -> LocalityPolicy:
        try:
            return self._policies[locality]
        except KeyError:
            raise ApplicationError(f"no policy for locality {locality!r}", non_retryable=True) from None

    def _case_url(self, reference: str) -> str:
        return f"{self._settings.public_base_url.rstrip('/')}/api/cases/{reference}"

    @staticmethod
    def _case_summary(case: Case) -> dict[str, Any]:
        return {
            "reference": case.reference,
            "stage": case.stage,
            "received_on": case.received_on,
            "acknowledge_by": case.acknowledge_by,
            "threshold_decision_by": case.threshold_decision_by,
            "outcome_by": case.outcome_by,
            "appeal_by": case.appeal_by,
        }

    def _context(self, case: Case, policy: LocalityPolicy, application: Application) -> dict[str, Any]:
        return {
            "case": self._case_summary(case),
            "applicant": application.applicant,
            "on_behalf_of": application.on_behalf_of,
            "application": application,
            "council": policy,
            "assessment": case.assessment,
            "decision": case.threshold_decision,
            "review_meeting": case.review_meeting,
            "impact_statement": case.impact_statement,
            "panel": case.panel_decision,
            "appeal_request": case.appeal_request,
            "appeal": policy.appeal,
            "withdrawal": case.withdrawal,
            "appeal_case": appeal_summary(case, policy),
            "case_url": self._case_url(case.reference),
        }
