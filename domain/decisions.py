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
    received_on: dt.date
    grounds: str = Field(min_length=1, max_length=10000)


class AppealOutcome(_Submission):
    upheld: bool
    summary: str = Field(min_length=1, max_length=10000)


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
        return f"Grounds: {text('grounds')}"
    if kind == "appeal_outcome":
        return f"Summary: {text('summary')}"
    if kind == "resend":
        parts = [
            f"To {text('to')}." if text("to") else "",
            f"Reason: {text('reason')}" if text("reason") else "",
        ]
        return " ".join(part for part in parts if part)
    return ""
