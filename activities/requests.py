"""Activities that ask agencies for information: open one request per agency, email it with a link to
answer, chase it, and resend it to a new address.

Idempotent on (case, request key) for requests and on outbox keys for emails, because Temporal runs an
activity at least once. A link is issued with the email that carries it, so a retry that finds the email
recorded does not issue another; only a link's hash is kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.case_files import CaseFiles, deliver_each
from activities.mail import PERMANENT_FAILURE, utc_now
from activities.records import submission_of
from db.models import AccessToken, Case, InformationRequest
from domain.agencies import agencies_to_ask, agency_key, incidents_reported_to
from domain.application import Application
from domain.calendar import add_working_days
from domain.links import TokenPurpose, agency_link_path, link_expires_at
from domain.policy import Agency, AgencyKind, LocalityPolicy
from workflows.models import AgencyChase, ChaseSent, CloseRequests, OpenRequests, ResendInformationRequest


class InformationRequests(CaseFiles):
    """Requests to agencies, their emails and their answer links."""

    @activity.defn
    async def open_information_requests(self, opening: OpenRequests) -> list[str]:
        """Create one request per agency to ask (once), email those with an address; return their keys.

        An agency whose address fails permanently does not stop the others: its request is marked
        `delivery: failed`, the SPOC is told, and the SPOC can resend it to another address.
        """
        emails = await asyncio.to_thread(self._create_requests, opening)
        await deliver_each(
            self._deliver_to_agency(outbox_key, request_id) for outbox_key, request_id in emails
        )
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
            issued_at=utc_now(),
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
            token.revoked_at = utc_now()
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
        results = await deliver_each(
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
                            **self._agency_context(case, policy, request),
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

    def _agency_context(
        self, case: Case, policy: LocalityPolicy, request: InformationRequest
    ) -> dict[str, Any]:
        """What every email to an agency about its request shows (nothing about the applicant)."""
        return {
            "case": self._case_summary(case),
            "council": policy,
            "case_url": self._case_url(case.reference),
            "agency": {"name": request.agency_name, "email": request.agency_email},
            "request": self._request_summary(request),
        }

    @activity.defn
    async def close_information_requests(self, closing: CloseRequests) -> int:
        """The case closed: its open requests close too, and each agency with an address is told that no
        answer is needed. Returns how many requests closed."""
        emails = await asyncio.to_thread(self._record_closing, closing)
        await deliver_each(self._mailer.deliver(key) for key in emails)
        return len(emails)

    def _record_closing(self, closing: CloseRequests) -> list[str]:
        emails: list[str] = []
        with self._sessions.begin() as session:
            case = self._case(session, closing.reference)
            policy = self._policy(case.locality)
            for request in case.information_requests:
                if request.state in ("requested", "no_contact"):
                    request.state = "closed"
                elif request.state != "closed":  # answered or waived: nothing to tell
                    continue
                if not request.agency_email or request.delivery == "failed":
                    continue
                key = f"{case.reference}:request-closed:{request.request_key}:{request.agency_email}"
                if not self._mailer.exists(session, key):
                    rendered = self._renderer.render(
                        "emails/agency-request-closed.j2",
                        self._agency_context(case, policy, request),
                    )
                    self._queue_email(
                        session, case, policy, key, "agency-request-closed", request.agency_email, rendered
                    )
                emails.append(key)
        return emails

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
            if resend.submission_id is not None:
                given = submission_of(session, case, resend.submission_id).body.get("to")
                to = str(given) if given else request.agency_email
            if to is None:
                raise ApplicationError(
                    f"no address for {resend.request_key}: give one to resend to", non_retryable=True
                )
            outbox_key = f"{case.reference}:request:{request.request_key}:resend-{resend.generation}:{to}"
            if not self._mailer.exists(session, outbox_key):
                self._revoke_links(session, request, "resent")
                request.agency_email = to
                if request.state == "no_contact":  # given an address: asked like any agency from now on
                    request.state = "requested"
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

    def _request_keys(self, opening: OpenRequests) -> list[str]:
        with self._sessions() as session:
            case = self._case(session, opening.reference)
            # Requests to organisations without an address (no_contact) are tracked too: the SPOC gives
            # them an address (a resend), records their answer, or proceeds without it.
            return [r.request_key for r in case.information_requests if r.purpose == opening.purpose.value]
