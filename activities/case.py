"""The case workflow's activities: keep the case record current, send letters, ask agencies, tell staff.

Each is idempotent on a business key, because Temporal runs an activity at least once: chronology
entries on (case, event key), letters on (case, code, sequence), requests on (case, request key), and
emails on their outbox key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.mail import Mailer, OutgoingEmail
from activities.rendering import Rendered, Renderer
from core.config import Settings
from db.models import Case, ChronologyEntry, InformationRequest, Letter
from domain.application import Application, ContactPreference, ReportedTo
from domain.policy import Agency, AgencyKind, LocalityPolicy
from workflows.models import (
    AgencyResponse,
    CaseProgress,
    LetterRequest,
    LetterSent,
    OpenRequests,
    StaffNotice,
    StaffNoticeKind,
)

STEP_DESCRIPTIONS = {
    "threshold_decision": "the threshold decision letter (Letter 2a or 2b) to the applicant",
    "outcome": "the review outcome letter (Letter 3) to the applicant",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:50] or "agency"


def agencies_to_ask(
    application: Application, policy: LocalityPolicy
) -> list[tuple[Agency | None, str, list[int]]]:
    """Who to ask for records: each agency an incident was reported to, plus the police and the ASB team.

    Returns (agency from the policy, or None when the organisation is not in the policy's list; the
    name to address; the indexes of the incidents reported to it).
    """
    chosen: dict[str, tuple[Agency | None, str, list[int]]] = {}

    def add(agency: Agency | None, name: str, index: int | None) -> None:
        key = agency.key if agency else f"unlisted-{_slug(name)}"
        entry = chosen.setdefault(key, (agency, agency.name if agency else name, []))
        if index is not None and index not in entry[2]:
            entry[2].append(index)

    def by_name(organisation: str, kinds: tuple[AgencyKind, ...] | None = None) -> Agency | None:
        wanted = organisation.casefold()
        for agency in policy.agencies:
            if kinds and agency.kind not in kinds:
                continue
            name = agency.name.casefold()
            if wanted and (wanted in name or name in wanted):
                return agency
        return None

    for agency in (
        policy.agencies_of_kind(AgencyKind.POLICE)[:1] + policy.agencies_of_kind(AgencyKind.COUNCIL_ASB)[:1]
    ):
        add(agency, agency.name, None)
    for index, incident in enumerate(application.incidents):
        if incident.reported_to == ReportedTo.POLICE:
            police = (
                by_name(incident.organisation, (AgencyKind.POLICE,))
                or policy.agencies_of_kind(AgencyKind.POLICE)[0]
            )
            add(police, police.name, index)
        elif incident.reported_to == ReportedTo.COUNCIL:
            council = (
                by_name(
                    incident.organisation,
                    (
                        AgencyKind.COUNCIL_ASB,
                        AgencyKind.ENVIRONMENTAL_HEALTH,
                        AgencyKind.COUNCIL_HOUSING,
                    ),
                )
                or policy.agencies_of_kind(AgencyKind.COUNCIL_ASB)[0]
            )
            add(council, council.name, index)
        elif incident.reported_to == ReportedTo.HOUSING_PROVIDER:
            add(
                by_name(incident.organisation, (AgencyKind.HOUSING_PROVIDER, AgencyKind.COUNCIL_HOUSING)),
                incident.organisation,
                index,
            )
        else:
            add(by_name(incident.organisation), incident.organisation, index)
    return list(chosen.values())


class CaseActivities:
    """Holds what the activities need: settings, locality policies, database sessions, the mailer."""

    def __init__(
        self, settings: Settings, policies: dict[str, LocalityPolicy], sessions: sessionmaker[Session]
    ) -> None:
        self._settings = settings
        self._policies = policies
        self._sessions = sessions
        self._mailer = Mailer(settings, sessions)
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

    # ---- agencies -----------------------------------------------------------------------------

    @activity.defn
    async def open_information_requests(self, opening: OpenRequests) -> list[str]:
        """Create one request per agency to ask (once), email those with an address; return their keys."""
        emails = await asyncio.to_thread(self._create_requests, opening)
        for key in emails:
            await self._mailer.deliver(key)
        return await asyncio.to_thread(self._request_keys, opening)

    def _create_requests(self, opening: OpenRequests) -> list[str]:
        outbox_keys: list[str] = []
        with self._sessions.begin() as session:
            case = self._case(session, opening.reference)
            policy = self._policy(case.locality)
            application = Application.model_validate(case.application)
            existing = {r.request_key: r for r in case.information_requests}
            for agency, name, incident_indexes in agencies_to_ask(application, policy):
                key = f"{opening.purpose.value}:{agency.key if agency else 'unlisted-' + _slug(name)}"
                request = existing.get(key)
                if request is None:
                    request = InformationRequest(
                        case_id=case.id,
                        request_key=key,
                        purpose=opening.purpose.value,
                        agency_key=agency.key if agency else key.split(":", 1)[1],
                        agency_name=name,
                        agency_email=agency.email if agency else None,
                        requested_on=opening.requested_on,
                        due_on=opening.due_on,
                        state="requested" if agency else "no_contact",
                    )
                    session.add(request)
                    session.flush()
                if agency is None:
                    continue
                incidents = [application.incidents[i] for i in incident_indexes]
                rendered = self._renderer.render(
                    "emails/information-request.j2",
                    {
                        **self._context(case, policy, application),
                        "agency": agency,
                        "purpose": opening.purpose.value,
                        "request": {
                            "key": key,
                            "requested_on": request.requested_on,
                            "due_on": request.due_on,
                        },
                        "incidents": incidents,
                    },
                )
                outbox_key = f"{case.reference}:request:{key}:{agency.email}"
                self._queue_email(
                    session, case, policy, outbox_key, "information-request", str(agency.email), rendered
                )
                outbox_keys.append(outbox_key)
        return outbox_keys

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
        for key in keys:
            await self._mailer.deliver(key)

    def _record_notice(self, notice: StaffNotice) -> list[str]:
        with self._sessions.begin() as session:
            case = self._case(session, notice.reference)
            policy = self._policy(case.locality)
            recipients = [policy.spoc]
            if notice.kind == StaffNoticeKind.ESCALATION:
                recipients.append(policy.manager)  # type: ignore[arg-type]
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
        """Record an email from the locality's SPOC in the outbox, in the caller's transaction."""
        self._mailer.record(
            OutgoingEmail(
                idempotency_key=key,
                case_reference=case.reference,
                purpose=purpose,
                sender=str(policy.spoc.email),
                reply_to=str(policy.spoc.email) if reply_to else None,
                recipient=recipient,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
            ),
            session,
        )

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
        ]
