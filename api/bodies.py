"""Request bodies of the staff actions: the workflow's own models, refusing fields they do not know.

The workflow's payload models ignore unknown fields, so that two versions can run side by side during a
deploy. A person or an integration calling the API should hear about a misspelt field instead: 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, EmailStr

from domain.application import one_mailbox
from domain.decisions import (
    AgencyResponse,
    AppealOutcome,
    ExtendRequest,
    ImpactStatement,
    PanelDecision,
    ResendRequest,
    ReviewMeeting,
    ThresholdDecision,
    WaiveRequest,
    Withdrawal,
)


def known_fields_only(model: type[BaseModel]) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(model.model_fields))
            if unknown:
                raise ValueError(f"Unknown field(s): {', '.join(unknown)}")
        return value

    return BeforeValidator(check)


def _one_mailbox_as_sent(value: Any) -> Any:
    # Before EmailStr, which would quietly take the address out of "Name <address>" or trim spaces.
    return one_mailbox(value) if isinstance(value, str) else value


class ResendRequestInput(ResendRequest):
    """A resend as the API takes it: `to` is exactly one address (no list, no name, no line breaks)."""

    to: Annotated[EmailStr, BeforeValidator(_one_mailbox_as_sent)] | None = None


AgencyResponseBody = Annotated[AgencyResponse, known_fields_only(AgencyResponse)]
ResendRequestBody = Annotated[ResendRequestInput, known_fields_only(ResendRequest)]
ExtendRequestBody = Annotated[ExtendRequest, known_fields_only(ExtendRequest)]
WaiveRequestBody = Annotated[WaiveRequest, known_fields_only(WaiveRequest)]
ThresholdDecisionBody = Annotated[ThresholdDecision, known_fields_only(ThresholdDecision)]
ReviewMeetingBody = Annotated[ReviewMeeting, known_fields_only(ReviewMeeting)]
ImpactStatementBody = Annotated[ImpactStatement, known_fields_only(ImpactStatement)]
PanelDecisionBody = Annotated[PanelDecision, known_fields_only(PanelDecision)]
WithdrawalBody = Annotated[Withdrawal, known_fields_only(Withdrawal)]
AppealOutcomeBody = Annotated[AppealOutcome, known_fields_only(AppealOutcome)]
