"""The case workflow's activities: keep the case record current, send letters, ask agencies, tell staff.

Each is idempotent on a business key, because Temporal runs an activity at least once: chronology
entries on (case, event key), letters on (case, code, sequence), requests on (case, request key), and
emails on their outbox key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import PERMANENT_FAILURE, Mailer, OutgoingEmail, activity_now
from activities.rendering import Rendered, Renderer
from core.config import Settings
from db.models import (
    AccessToken,
    Case,
    ChronologyEntry,
    InformationRequest,
    Letter,
    OutboxMessage,
)
from domain.agencies import agencies_to_ask, agency_key, incidents_reported_to
from domain.application import Application, ContactPreference
from domain.calendar import add_working_days
from domain.links import TokenPurpose, agency_link_path, link_expires_at
from domain.policy import Agency, AgencyKind, LocalityPolicy
from workflows.models import (
    AgencyChase,
    AgencyResponse,
    CaseProgress,
    ChaseSent,
    LetterRequest,
    LetterSent,
    OpenRequests,
    RequestChange,
    ResendInformationRequest,
    StaffNotice,
    StaffNoticeKind,
)

STEP_DESCRIPTIONS = {
    "threshold_decision": "the threshold decision letter (Letter 2a or 2b) to the applicant",
    "outcome": "the review outcome letter (Letter 3) to the applicant",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _each(*groups: Iterable[Awaitable[Any]]) -> list[Any]:
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


class CaseActivities:
    """Holds what the activities need: settings, locality policies, database sessions, the mailer."""

    def __init__(
        self, settings: Settings, policies: dict[str, LocalityPolicy], sessions: sessionmaker[Session]
    ) -> None:
        self._settings = settings
        self._policies = policies
        self._sessions = sessions
        self._mailer = Mailer(settings, sessions, on_permanent_failure=self._mail_failed)
        self._renderer = Renderer()

    # ---- records ---------------------------------------------------------------------------

    @activity.defn
    def record_progress(self, progress: CaseProgress) -> None:
        with self._sessions.begin() as session:
            case = self._case(session, progress.reference)
            case.stage = progress.stage.value
            case.closed_reason = progress.closed_reason.value if progress.closed_reason else None
            for name, day in progress.deadlines.items():
                if name in ("acknowledge_by", "threshold_decision_by", "outcome_by", "appeal_by"):
                    setattr(case, name, day)
            case.next_deadline = progress.next_deadline
            case.next_deadline_step = progress.next_deadline_step
            for column, value in progress.decisions.items():
                if column not in (
                    "threshold_decision",
                    "review_meeting",
                    "impact_statement",
                    "panel_decision",
                    "appeal_request",
                    "appeal_outcome",
                    "withdrawal",
                ):
                    raise ApplicationError(f"unknown decision column {column!r}", non_retryable=True)
                setattr(case, column, value)
            case.updated_at = _now()
            known = set(
                session.scalars(select(ChronologyEntry.event_key).where(ChronologyEntry.case_id == case.id))
            )
            for event in progress.events:
                if event.key not in known:
                    session.add(
                        ChronologyEntry(
                            case_id=case.id,
                            event_key=event.key,
                            at=event.at,
                            actor=event.actor,
                            event=event.event,
                        )
                    )

    @activity.defn
    def record_agency_response(self, reference: str, response: AgencyResponse, answered_on: dt.date) -> None:
        with self._sessions.begin() as session:
            case = self._case(session, reference)
            request = session.scalar(
                select(InformationRequest).where(
                    InformationRequest.case_id == case.id,
                    InformationRequest.request_key == response.request_key,
                )
            )
            if request is None:
                raise ApplicationError(f"no information request {response.request_key!r}", non_retryable=True)
            if request.state == "answered":
                return
            request.state = "answered"
            request.answered_on = answered_on
            request.response = response.model_dump(mode="json")
            for attachment in request.attachments:
                if attachment.id in response.attachment_ids:
                    attachment.accepted = True

    # ---- agencies -----------------------------------------------------------------------------

    @activity.defn
    async def open_information_requests(self, opening: OpenRequests) -> list[str]:
        """Create one request per agency to ask (once), email those with an address; return their keys.

        An agency whose address fails permanently does not stop the others: its request is marked
        `delivery: failed`, the SPOC is told, and the SPOC can resend it to another address.
        """
        emails = await asyncio.to_thread(self._create_requests, opening)
        await _each(self._deliver_to_agency(outbox_key, request_id) for outbox_key, request_id in emails)
        return await asyncio.to_thread(self._request_keys, opening)

    def _create_requests(self, opening: OpenRequests) -> list[tuple[str, int]]:
        emails: list[tuple[str, int]] = []
        with self._sessions.begin() as session:
            case = self._case(session, opening.reference)
            policy = self._policy(case.locality)
            application = Application.model_validate(case.application)
            existing = {r.request_key: r for r in case.information_requests}
            for agency, name, incident_indexes in agencies_to_ask(application, policy):
                key = f"{opening.purpose.value}:{agency_key(agency, name)}"
                request = existing.get(key)
                if request is None:
                    request = InformationRequest(
                        case_id=case.id,
                        request_key=key,
                        purpose=opening.purpose.value,
                        agency_key=agency_key(agency, name),
                        agency_name=name,
                        agency_email=agency.email if agency else None,
                        requested_on=opening.requested_on,
                        due_on=opening.due_on,
                        state="requested" if agency else "no_contact",
                        delivery="pending" if agency else "none",
                        resent_count=0,
                    )
                    session.add(request)
                    session.flush()
                if agency is None:
                    continue
                outbox_key = f"{case.reference}:request:{key}:{agency.email}"
                # A retry finds the email recorded: its link was issued with it, and is not issued again.
                if not self._mailer.exists(session, outbox_key):
                    self._queue_request_email(
                        session,
                        case,
                        policy,
                        application,
                        request,
                        agency,
                        [application.incidents[i] for i in incident_indexes],
                        outbox_key,
                        nation=opening.nation,
                        valid_after_due=opening.link_valid_after_due,
                    )
                emails.append((outbox_key, request.id))
        return emails

    def _queue_request_email(
        self,
        session: Session,
        case: Case,
        policy: LocalityPolicy,
        application: Application,
        request: InformationRequest,
        agency: Agency,
        incidents: list[Any],
        outbox_key: str,
        *,
        nation: str,
        valid_after_due: int,
        generation: int = 0,
    ) -> None:
        link = self._issue_link(session, case, request, nation=nation, valid_after_due=valid_after_due)
        rendered = self._renderer.render(
            "emails/information-request.j2",
            {
                **self._context(case, policy, application),
                "agency": agency,
                "purpose": request.purpose,
                "request": {
                    "key": request.request_key,
                    "requested_on": request.requested_on,
                    "due_on": request.due_on,
                },
                "incidents": incidents,
                "link": link,
                "resent": generation > 0,
                "generation": generation,
            },
        )
        self._queue_email(
            session, case, policy, outbox_key, "information-request", str(request.agency_email), rendered
        )

    def _issue_link(
        self, session: Session, case: Case, request: InformationRequest, *, nation: str, valid_after_due: int
    ) -> dict[str, Any]:
        """A new link for the agency to answer `request`; only its hash is kept."""
        token, link = AccessToken.issue(
            TokenPurpose.AGENCY_LINK.value,
            case_id=case.id,
            request_id=request.id,
            issued_at=_now(),
            expires_at=link_expires_at(request.due_on, valid_after_due, nation),
        )
        session.add(link)
        return {
            "url": f"{self._settings.public_base_url.rstrip('/')}{agency_link_path(token)}",
            "expires_on": add_working_days(request.due_on, valid_after_due, nation),
        }

    @staticmethod
    def _revoke_links(session: Session, request: InformationRequest, reason: str) -> None:
        tokens = session.scalars(
            select(AccessToken).where(AccessToken.request_id == request.id, AccessToken.revoked_at.is_(None))
        )
        for token in tokens:
            token.revoked_at = _now()
            token.revoked_reason = reason

    async def _deliver_to_agency(self, outbox_key: str, request_id: int) -> bool:
        """Deliver an email to an agency; a permanent failure marks the request and returns False."""
        try:
            await self._mailer.deliver(outbox_key)
        except ApplicationError as error:
            if error.type != PERMANENT_FAILURE:
                raise
            await asyncio.to_thread(self._set_delivery, request_id, "failed")
            return False
        await asyncio.to_thread(self._set_delivery, request_id, "sent")
        return True

    def _set_delivery(self, request_id: int, delivery: str) -> None:
        with self._sessions.begin() as session:
            request = session.get(InformationRequest, request_id)
            assert request is not None
            request.delivery = delivery

    @activity.defn
    async def chase_information_request(self, chase: AgencyChase) -> ChaseSent:
        """Remind an agency, with a fresh link (earlier ones still work); on the due date tell the SPOC."""
        recorded = await asyncio.to_thread(self._record_chase, chase)
        if recorded is None:
            return ChaseSent(agency_emailed=False, spoc_told=False, skipped=True)
        agency_email, spoc_emails, request_id = recorded
        results = await _each(
            [self._deliver_to_agency(agency_email, request_id)] if agency_email is not None else [],
            (self._mailer.deliver(key) for key in spoc_emails),
        )
        return ChaseSent(
            agency_emailed=bool(agency_email) and results[0] is True, spoc_told=bool(spoc_emails)
        )

    def _record_chase(self, chase: AgencyChase) -> tuple[str | None, list[str], int] | None:
        with self._sessions.begin() as session:
            case = self._case(session, chase.reference)
            policy = self._policy(case.locality)
            request = self._request(session, case, chase.request_key)
            if request.state != "requested" or case.stage == "closed" or case.withdrawal is not None:
                return None  # answered, waived or closed while the chase was on its way
            agency_key: str | None = None
            # An address that failed for good is not tried again: the SPOC resends to a better one.
            if request.delivery != "failed" and request.agency_email:
                agency_key = (
                    f"{case.reference}:chase:{request.request_key}:{chase.kind}:{chase.due_on}:"
                    f"{request.agency_email}"
                )
                if not self._mailer.exists(session, agency_key):
                    link = self._issue_link(
                        session,
                        case,
                        request,
                        nation=chase.nation,
                        valid_after_due=chase.link_valid_after_due,
                    )
                    rendered = self._renderer.render(
                        "emails/agency-reminder.j2",
                        {
                            "case": self._case_summary(case),
                            "council": policy,
                            "case_url": self._case_url(case.reference),
                            "agency": {"name": request.agency_name, "email": request.agency_email},
                            "request": self._request_summary(request),
                            "chase": {"kind": chase.kind},
                            "link": link,
                        },
                    )
                    self._queue_email(
                        session, case, policy, agency_key, "agency-reminder", request.agency_email, rendered
                    )
            spoc_keys: list[str] = []
            if chase.kind == "due":
                key = (
                    f"{case.reference}:chase-escalation:{request.request_key}:{chase.due_on}:"
                    f"{policy.spoc.email}"
                )
                if not self._mailer.exists(session, key):
                    rendered = self._renderer.render(
                        "emails/agency-overdue.j2",
                        {
                            "case": self._case_summary(case),
                            "council": policy,
                            "recipient": policy.spoc,
                            "case_url": self._case_url(case.reference),
                            "request": self._request_summary(request),
                        },
                    )
                    self._queue_email(
                        session,
                        case,
                        policy,
                        key,
                        "agency-overdue",
                        str(policy.spoc.email),
                        rendered,
                        reply_to=False,
                    )
                spoc_keys.append(key)
            return agency_key, spoc_keys, request.id

    @activity.defn
    async def resend_information_request(self, resend: ResendInformationRequest) -> None:
        """Send a request again with a new link, to a new address if given; earlier links stop working."""
        outbox_key, request_id = await asyncio.to_thread(self._record_resend, resend)
        if not await self._deliver_to_agency(outbox_key, request_id):
            raise ApplicationError(
                "the mail server refused the address", type=PERMANENT_FAILURE, non_retryable=True
            )

    def _record_resend(self, resend: ResendInformationRequest) -> tuple[str, int]:
        with self._sessions.begin() as session:
            case = self._case(session, resend.reference)
            policy = self._policy(case.locality)
            application = Application.model_validate(case.application)
            request = self._request(session, case, resend.request_key)
            to = resend.to or request.agency_email
            if to is None:
                raise ApplicationError(
                    f"no address for {resend.request_key}: give one to resend to", non_retryable=True
                )
            outbox_key = f"{case.reference}:request:{request.request_key}:resend-{resend.generation}:{to}"
            if not self._mailer.exists(session, outbox_key):
                self._revoke_links(session, request, "resent")
                request.agency_email = to
                request.resent_count = resend.generation
                request.delivery = "pending"
                agency = policy.agency(request.agency_key) or Agency(
                    key=request.agency_key, name=request.agency_name, kind=AgencyKind.OTHER, email=to
                )
                self._queue_request_email(
                    session,
                    case,
                    policy,
                    application,
                    request,
                    agency.model_copy(update={"email": to}),
                    incidents_reported_to(application, policy, request.agency_key),
                    outbox_key,
                    nation=resend.nation,
                    valid_after_due=resend.link_valid_after_due,
                    generation=resend.generation,
                )
            return outbox_key, request.id

    @activity.defn
    def record_request_change(self, change: RequestChange) -> None:
        """A new due date (links last longer with it) or a waiver of an information request."""
        with self._sessions.begin() as session:
            case = self._case(session, change.reference)
            request = self._request(session, case, change.request_key)
            if change.due_on is not None:
                request.due_on = change.due_on
                expires_at = link_expires_at(change.due_on, change.link_valid_after_due, change.nation)
                for token in session.scalars(
                    select(AccessToken).where(
                        AccessToken.request_id == request.id,
                        AccessToken.purpose == TokenPurpose.AGENCY_LINK.value,
                        AccessToken.revoked_at.is_(None),
                    )
                ):
                    token.expires_at = expires_at
            if change.waived_reason is not None and request.state == "requested":
                request.state = "waived"
                request.waived_reason = change.waived_reason

    def _request_keys(self, opening: OpenRequests) -> list[str]:
        with self._sessions() as session:
            case = self._case(session, opening.reference)
            return [
                r.request_key
                for r in case.information_requests
                if r.purpose == opening.purpose.value and r.state != "no_contact"
            ]

    # ---- letters -----------------------------------------------------------------------------

    @activity.defn
    async def send_letter(self, request: LetterRequest) -> LetterSent:
        letter, outbox_key = await asyncio.to_thread(self._prepare_letter, request)
        if outbox_key is not None and letter.status != "sent":
            await self._mailer.deliver(outbox_key)
            await asyncio.to_thread(self._letter_sent, letter.id)
        return LetterSent(
            code=request.code,
            sequence=request.sequence,
            channel=letter.channel,
            status="sent" if outbox_key else letter.status,
            sent_on=letter.sent_on,
        )

    def _prepare_letter(self, request: LetterRequest) -> tuple[Letter, str | None]:
        with self._sessions.begin() as session:
            case = self._case(session, request.reference)
            letter = session.scalar(
                select(Letter).where(
                    Letter.case_id == case.id,
                    Letter.code == request.code.value,
                    Letter.sequence == request.sequence,
                )
            )
            if letter is not None:
                return letter, letter.outbox_key
            policy = self._policy(case.locality)
            application = Application.model_validate(case.application)
            rendered = self._renderer.render(
                f"letters/{request.code.value}.j2",
                {
                    **self._context(case, policy, application),
                    "letter": {
                        "code": request.code.value,
                        "sequence": request.sequence,
                        "dated": request.dated,
                        "next_update_by": request.next_update_by,
                    },
                },
            )
            email = application.applicant.email
            by_email = bool(email) and application.contact_preference != ContactPreference.POST
            outbox_key = (
                f"{case.reference}:letter:{request.code.value}:{request.sequence}:{email}"
                if by_email
                else None
            )
            letter = Letter(
                case_id=case.id,
                code=request.code.value,
                sequence=request.sequence,
                sent_on=request.dated,
                channel="email" if by_email else "post",
                status="sending" if by_email else "queued_for_printing",
                subject=rendered.subject,
                body_text=rendered.text,
                outbox_key=outbox_key,
                created_at=_now(),
            )
            session.add(letter)
            if by_email and email and outbox_key:
                self._queue_email(session, case, policy, outbox_key, request.code.value, email, rendered)
            session.flush()
            return letter, outbox_key

    def _letter_sent(self, letter_id: int) -> None:
        with self._sessions.begin() as session:
            letter = session.get(Letter, letter_id)
            assert letter is not None
            letter.status = "sent"

    # ---- staff -------------------------------------------------------------------------------

    @activity.defn
    async def notify_staff(self, notice: StaffNotice) -> None:
        keys = await asyncio.to_thread(self._record_notice, notice)
        await _each(self._mailer.deliver(key) for key in keys)

    def _record_notice(self, notice: StaffNotice) -> list[str]:
        with self._sessions.begin() as session:
            case = self._case(session, notice.reference)
            policy = self._policy(case.locality)
            recipients = [policy.spoc]
            if notice.kind == StaffNoticeKind.ESCALATION:
                recipients.append(policy.manager)  # type: ignore[arg-type]
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
        event_key = f"mail-failed:{message.id}"
        exists = session.scalar(
            select(ChronologyEntry.id).where(
                ChronologyEntry.case_id == case.id, ChronologyEntry.event_key == event_key
            )
        )
        if exists is None:
            session.add(
                ChronologyEntry(
                    case_id=case.id,
                    event_key=event_key,
                    # Temporal's time, so that it sorts with the workflow's own entries.
                    at=activity_now(),
                    actor="Community Trigger service",
                    event=(
                        f"Email '{message.purpose}' to {message.recipient} could not be delivered and "
                        f"will not be retried: {message.last_error or 'refused'}."
                    ),
                )
            )
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

    # ---- helpers -----------------------------------------------------------------------------

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
            "case_url": self._case_url(case.reference),
        }

    def all(self) -> list[Any]:
        return [
            self.record_progress,
            self.record_agency_response,
            self.open_information_requests,
            self.send_letter,
            self.notify_staff,
            self.chase_information_request,
            self.resend_information_request,
            self.record_request_change,
        ]
