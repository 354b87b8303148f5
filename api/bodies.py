"""Request bodies of the staff actions: the workflow's own models, refusing fields they do not know.

The workflow's payload models ignore unknown fields, so that two versions can run side by side during a
deploy. A person or an integration calling the API should hear about a misspelt field instead: 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from workflows.models import (
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


AgencyResponseBody = Annotated[AgencyResponse, known_fields_only(AgencyResponse)]
ResendRequestBody = Annotated[ResendRequest, known_fields_only(ResendRequest)]
ExtendRequestBody = Annotated[ExtendRequest, known_fields_only(ExtendRequest)]
WaiveRequestBody = Annotated[WaiveRequest, known_fields_only(WaiveRequest)]
ThresholdDecisionBody = Annotated[ThresholdDecision, known_fields_only(ThresholdDecision)]
ReviewMeetingBody = Annotated[ReviewMeeting, known_fields_only(ReviewMeeting)]
ImpactStatementBody = Annotated[ImpactStatement, known_fields_only(ImpactStatement)]
PanelDecisionBody = Annotated[PanelDecision, known_fields_only(PanelDecision)]
WithdrawalBody = Annotated[Withdrawal, known_fields_only(Withdrawal)]
AppealOutcomeBody = Annotated[AppealOutcome, known_fields_only(AppealOutcome)]
