"""Workflow payloads load with fields they do not know (a newer API beside an older worker, or the
reverse, during a deploy); the API's request bodies refuse them, so a misspelt field is a clear 422."""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any

import pytest
from pydantic import BaseModel

from domain.calendar import add_working_days
from tests.support import CaseService, application
from workflows import models


def payload_models() -> list[type[BaseModel]]:
    return [
        model
        for _, model in inspect.getmembers(models, inspect.isclass)
        if issubclass(model, models._Model) and model is not models._Model
    ]


def test_every_workflow_payload_model_ignores_fields_it_does_not_know() -> None:
    assert len(payload_models()) > 20
    for model in payload_models():
        assert model.model_config.get("extra") == "ignore", model.__name__


def test_a_case_input_from_a_newer_version_loads() -> None:
    received = dt.date(2026, 11, 27)
    newer: dict[str, Any] = {
        "reference": "CT-BLA-2026-0001",
        "locality": "blaby",
        "received_on": received.isoformat(),
        "rules": {
            "nation": "england-and-wales",
            "acknowledge": 5,
            "threshold_information": 5,
            "threshold_decision": 10,
            "threshold_update_interval": 10,
            "review_information": 10,
            "outcome": 20,
            "outcome_update_interval": 20,
            "appeal_window": 20,
            "spoc_reminder_before": 2,
            "a_rule_of_the_future": 3,
        },
        "appeal_route": "independent_chair",
    }
    case = models.CaseInput.model_validate(newer)
    assert case.rules.threshold_decision == 10 and case.bank_holidays is None
    assert add_working_days(received, 10, "england-and-wales") == dt.date(2026, 12, 11)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_staff_action_with_a_misspelt_field_is_refused(service: CaseService) -> None:
    reference = await service.open_case(application(today=await service.today()))
    response = await service.act(
        reference,
        "threshold-decision",
        {"outcome": "met", "reasons": "Three reports.", "below_treshold": True},
    )
    assert response.status_code == 422, response.text
    assert "below_treshold" in response.text
    withdrawn = await service.act(reference, "withdraw", {"reason": "Test over.", "requested_by": "spoc"})
    assert withdrawn.status_code == 200, withdrawn.text
