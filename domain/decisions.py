"""What staff and agencies submit about a case, in full: the decisions, arrangements and answers as the
API takes them (strictly: an unknown field is a 422) and the database keeps them (table `submissions`).

Their free texts (reasons, findings, names, an agency's notes) never go through Temporal: the API stores a
submission first and sends the case workflow only its id with the enums and dates the workflow decides by
(see workflows/models.py, the `...Record` models).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, model_validator

from domain.application import one_mailbox


def one_mailbox_or_other(value: Any) -> Any:
    return one_mailbox(value) if isinstance(value, str) else value


class _Submission(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RejectionGround(StrEnum):
    VEXATIOUS = "vexatious"
    MALICIOUS = "malicious"
    DISCRIMINATORY = "discriminatory"
    PREJUDICIAL = "prejudicial"
    UNREASONABLE = "unreasonable"
    FRIVOLOUS = "frivolous"


class ThresholdOutcome(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    REJECTED = "rejected"


class ThresholdDecision(_Submission):
    outcome: ThresholdOutcome
    reasons: str = Field(min_length=1, max_length=5000)
    # The SPOC accepts a case that does not meet the threshold (persistence, harm, vulnerability).
    below_threshold: bool = False
    rejection_ground: RejectionGround | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdDecision:
        if self.outcome == ThresholdOutcome.REJECTED and self.rejection_ground is None:
            raise ValueError("rejection_ground is required when the application is rejected")
        if self.outcome != ThresholdOutcome.REJECTED and self.rejection_ground is not None:
            raise ValueError("rejection_ground is only for a rejected application")
        if self.below_threshold and self.outcome != ThresholdOutcome.MET:
            raise ValueError("below_threshold applies only when the case is accepted (outcome met)")
        return self


class AgencyResponse(_Submission):
    """An agency's answer to an information request (entered by the SPOC or through its link)."""

    request_key: str = Field(min_length=1, max_length=120)
    records_found: str = Field(default="", max_length=10000)
    actions_taken: str = Field(default="", max_length=10000)
    behaviour_continues: bool | None = None
    risk_to_victim: str = Field(default="", max_length=5000)
    supports_threshold: bool | None = None
    notes: str = Field(default="", max_length=10000)
    received_by: Literal["api", "email_link", "phone", "email"] = "api"
    # Who at the agency answered (through the link, or on the phone to the SPOC).
    responder_name: str = Field(default="", max_length=200)
    responder_role: str = Field(default="", max_length=200)
    # Files sent with the answer through the link, already stored with the case (attachments table).
    attachment_ids: list[int] = Field(default_factory=list, max_length=10)


class ResendRequest(_Submission):
    """Send an information request again with a new link; the earlier links stop working."""

    request_key: str = Field(min_length=1, max_length=120)
    # Another address at the agency, when the policy's one bounced or is the wrong person: exactly one
    # mailbox (checked before EmailStr, which would quietly take the address out of "Name <address>").
    to: Annotated[EmailStr, BeforeValidator(one_mailbox_or_other)] | None = None
    reason: str = Field(default="", max_length=2000)


class ExtendRequest(_Submission):
    """Give an agency longer to answer: a later due date (its link lasts longer too)."""

    request_key: str = Field(min_length=1, max_length=120)
    due_on: dt.date
    reason: str = Field(min_length=1, max_length=2000)


class WaiveRequest(_Submission):
    """Proceed without an agency's answer (a late answer is still recorded if it comes)."""

    request_key: str = Field(min_length=1, max_length=120)
    reasons: str = Field(min_length=1, max_length=5000)


class Attendee(_Submission):
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=200)


class ReviewMeeting(_Submission):
    meeting_at: dt.datetime
    location: str = Field(min_length=1, max_length=500)
    attendees: list[Attendee] = Field(min_length=1, max_length=50)
    youth_offending_service_invited: bool = False

    @model_validator(mode="after")
    def _aware(self) -> ReviewMeeting:
        if self.meeting_at.tzinfo is None:
            raise ValueError(
                "meeting_at must include a time zone offset, for example 2026-12-01T10:00:00+00:00"
            )
        return self


class ImpactStatementMethod(StrEnum):
    WRITTEN = "written"
    IN_PERSON = "in_person"
    REPRESENTATIVE = "representative"
    DECLINED = "declined"


class ImpactStatement(_Submission):
    method: ImpactStatementMethod
    representative_name: str | None = Field(default=None, max_length=200)
    representative_consent: bool = False
    minutes: int | None = Field(default=None, ge=1, le=240)

    @model_validator(mode="after")
    def _consistent(self) -> ImpactStatement:
        if self.method == ImpactStatementMethod.REPRESENTATIVE:
            if not self.representative_name:
                raise ValueError("representative_name is required when a representative gives the statement")
            if not self.representative_consent:
                raise ValueError("the victim's consent to the representative must be recorded")
        return self


class Recommendation(_Submission):
    agency: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=2000)
    due_on: dt.date


class PanelDecision(_Submission):
    findings: str = Field(min_length=1, max_length=20000)
    recommendations: list[Recommendation] = Field(default_factory=list, max_length=50)


class Withdrawal(_Submission):
    reason: str = Field(min_length=1, max_length=2000)
    requested_by: Literal["applicant", "spoc"] = "applicant"


class AppealRequest(_Submission):
    """The applicant's written request for appeal, as the SPOC records it (or the applicant sends it)."""

    received_on: dt.date
    # The numbers (1, 2, ...) of the locality's grounds the applicant says apply; at least one when the
    # policy lists grounds (checked against the policy by the API).
    grounds: list[Annotated[int, Field(ge=1, le=20)]] = Field(default_factory=list, max_length=20)
    # How the grounds are met, in the applicant's words.
    explanation: str = Field(min_length=1, max_length=10000)
    # Someone acting for the victim: the victim's signed consent came with the request.
    consent_received: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> AppealRequest:
        if len(set(self.grounds)) != len(self.grounds):
            raise ValueError("each ground may be named once")
        return self


class AppealOutcome(_Submission):
    """The appeal's outcome as the SPOC typed it in, before appeals ran in this service (kept for the
    cases recorded so)."""

    upheld: bool
    summary: str = Field(min_length=1, max_length=10000)


class AppealConsent(_Submission):
    """The victim's signed consent to a representative's appeal, received by the SPOC."""

    received_on: dt.date
    note: str = Field(default="", max_length=2000)


class ChairNaming(_Submission):
    """Who hears the appeal: the key of someone on the locality's list of appeal chairs."""

    chair: str = Field(min_length=1, max_length=80)


class AppealWithdrawal(_Submission):
    reason: str = Field(min_length=1, max_length=2000)
    requested_by: Literal["applicant", "spoc"] = "applicant"


class ChairLinkResend(_Submission):
    """Send the chair a new link to the appeal (earlier links stop working)."""

    reason: str = Field(default="", max_length=2000)


class ChairLinkExtension(_Submission):
    """Keep the chair's link working until the end of a later day."""

    valid_until: dt.date
    reason: str = Field(min_length=1, max_length=2000)


class ChairAcknowledgement(_Submission):
    """The chair has the bundle: Letter 4 goes to the applicant and the SPOC."""

    note: str = Field(default="", max_length=2000)


class AppealCriteria(_Submission):
    """Whether the appeal meets the grounds; not met ends the appeal with Letter 5."""

    met: bool
    reasons: str = Field(min_length=1, max_length=10000)
    # Organisational and procedural lessons: shared with partners when the appeal ends here.
    lessons: str = Field(default="", max_length=10000)


class PanelMember(_Submission):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=200)


class AppealPanel(_Submission):
    """The appeal panel: when it meets and who sits on it."""

    meeting_at: dt.datetime
    location: str = Field(min_length=1, max_length=500)
    members: list[PanelMember] = Field(min_length=1, max_length=30)
    # The victim (or their representative) may attend the start of the meeting for a set time.
    victim_attends_minutes: int | None = Field(default=None, ge=5, le=120)

    @model_validator(mode="after")
    def _aware(self) -> AppealPanel:
        if self.meeting_at.tzinfo is None:
            raise ValueError(
                "meeting_at must include a time zone offset, for example 2026-12-01T10:00:00+00:00"
            )
        return self


class AppealDecision(_Submission):
    """The appeal's outcome (Letter 6): final, with reasons and any new recommendations."""

    upheld: bool
    reasons: str = Field(min_length=1, max_length=20000)
    recommendations: list[Recommendation] = Field(default_factory=list, max_length=50)
    lessons: str = Field(default="", max_length=10000)


# Submission kinds: the case columns the decisions go to, and the information requests' changes.
DECISION_KINDS = (
    "threshold_decision",
    "review_meeting",
    "impact_statement",
    "panel_decision",
    "withdrawal",
    "appeal_request",
    "appeal_outcome",
)
REQUEST_KINDS = ("agency_response", "resend", "extension", "waiver")
# What is submitted about an appeal (kept on the appeal's row, see db/models.py `Appeal`).
APPEAL_KINDS = (
    "appeal_consent",
    "appeal_chair",
    "appeal_withdrawal",
    "chair_link_resend",
    "chair_link_extension",
    "appeal_acknowledgement",
    "appeal_criteria",
    "appeal_panel",
    "appeal_decision",
)


def chronology_detail(kind: str, body: dict[str, object]) -> str:
    """What a submission adds to its chronology entry: the words behind the decision."""

    def text(name: str) -> str:
        value = body.get(name)
        return str(value) if value else ""

    if kind == "threshold_decision":
        return f"Reasons: {text('reasons')}"
    if kind == "review_meeting":
        attendees = body.get("attendees")
        count = len(attendees) if isinstance(attendees, list) else 0
        return f"At {text('location')} with {count} attendees."
    if kind == "impact_statement" and text("representative_name"):
        return f"Through {text('representative_name')} (the victim's consent recorded)."
    if kind == "withdrawal" or kind == "extension":
        return f"Reason: {text('reason')}"
    if kind == "waiver":
        return f"Reasons: {text('reasons')}"
    if kind == "appeal_request":
        if isinstance(body.get("grounds"), str):  # requests recorded before appeals ran here
            return f"Grounds: {text('grounds')}"
        grounds = body.get("grounds") or []
        named = (
            f"Grounds {', '.join(str(g) for g in grounds)}. " if isinstance(grounds, list) and grounds else ""
        )
        consent = " The victim's signed consent came with it." if body.get("consent_received") else ""
        return f"{named}Explanation: {text('explanation')}{consent}"
    if kind == "appeal_consent":
        return f"Received on {text('received_on')}. {text('note')}".strip()
    if kind in ("appeal_withdrawal", "chair_link_extension") or (
        kind == "chair_link_resend" and text("reason")
    ):
        return f"Reason: {text('reason')}"
    if kind == "appeal_criteria" or kind == "appeal_decision":
        lessons = f" Lessons learnt: {text('lessons')}" if text("lessons") else ""
        return f"Reasons: {text('reasons')}{lessons}"
    if kind == "appeal_panel":
        members = body.get("members")
        count = len(members) if isinstance(members, list) else 0
        return f"At {text('location')} with {count} members."
    if kind == "appeal_acknowledgement" and text("note"):
        return f"Note: {text('note')}"
    if kind == "appeal_outcome":
        return f"Summary: {text('summary')}"
    if kind == "resend":
        parts = [
            f"To {text('to')}." if text("to") else "",
            f"Reason: {text('reason')}" if text("reason") else "",
        ]
        return " ".join(part for part in parts if part)
    return ""
