"""POST /api/eligibility through the FastAPI app: 200 with the assessment, 422 naming every problem."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.deps import today_in_london
from api.main import create_app
from core.config import PROJECT_ROOT, get_settings

TODAY = date(2026, 11, 20)


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    localities = tmp_path / "localities"
    localities.mkdir()
    shutil.copy(PROJECT_ROOT / "localities" / "blaby.toml", localities / "blaby.toml")
    shutil.copytree(PROJECT_ROOT / "localities" / "appeal-chairs", localities / "appeal-chairs")
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{unused_port()}")
    monkeypatch.setenv("LOCALITIES_DIR", str(localities))
    get_settings.cache_clear()
    app = create_app()
    app.dependency_overrides[today_in_london] = lambda: TODAY
    with TestClient(app) as test_client:
        yield test_client
    get_settings.cache_clear()


def body(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "locality": "blaby",
        "received_on": "2026-11-20",
        "applicant": {"name": "Jane Smithson", "email": "jane@example.org"},
        "incidents": [
            {
                "occurred_on": "2026-08-02",
                "reported_on": "2026-08-03",
                "reported_to": "police",
                "organisation": "Leicestershire Police",
                "description": "Loud music until 3am.",
            },
            {
                "occurred_on": "2026-09-14",
                "reported_on": "2026-09-20",
                "reported_to": "council",
                "organisation": "Blaby District Council ASB Team",
                "description": "Rubbish thrown into the garden.",
            },
            {
                "occurred_on": "2026-10-30",
                "reported_on": "2026-11-02",
                "reported_to": "housing_provider",
                "organisation": "East Midlands Homes",
                "description": "Front door kicked at night.",
            },
        ],
        "hate_incident": False,
        "no_effective_action": True,
        "consent_to_share": True,
        "contact_preference": "email",
    }
    values.update(changes)
    return values


def with_incident(index: int, **changes: Any) -> dict[str, Any]:
    values = body()
    values["incidents"][index].update(changes)
    return values


def only_problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert len(detail) == 1, detail
    problem: dict[str, Any] = detail[0]
    assert set(problem) == {"loc", "msg", "type"}
    return problem


def test_post_eligibility_three_incidents_met(client: TestClient) -> None:
    response = client.post("/api/eligibility", json=body())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "met": True,
        "route": "three_incidents",
        "qualifying_incidents": [0, 1, 2],
        "needs_verification": False,
        "reasons": [
            "3 separate incidents were reported within the 6 months before 20 November 2026, each within "
            "1 month of happening: the threshold of 3 incidents is met."
        ],
    }


def test_post_eligibility_late_report_not_met(client: TestClient) -> None:
    response = client.post("/api/eligibility", json=with_incident(1, reported_on="2026-10-30"))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["met"] is False
    assert result["route"] is None
    assert result["qualifying_incidents"] == [0, 2]
    assert (
        "Incident 2 (14 September 2026) was reported on 30 October 2026, more than 1 month after it "
        "happened, so it does not count." in result["reasons"]
    )
    assert "Jane" not in " ".join(result["reasons"])


def test_post_eligibility_received_on_defaults_to_today(client: TestClient) -> None:
    values = body()
    del values["received_on"]
    response = client.post("/api/eligibility", json=values)
    assert response.status_code == 200, response.text
    assert "before 20 November 2026" in response.json()["reasons"][0]


def test_post_eligibility_today_from_dependency(client: TestClient) -> None:
    # Received "today" as overridden; a day later would be in the future.
    response = client.post("/api/eligibility", json=body(received_on="2026-11-21"))
    assert only_problem(response)["loc"] == ["body", "received_on"]


def test_post_eligibility_on_behalf_without_consent_422(client: TestClient) -> None:
    behalf = {"victim_name": "B. Resident", "relationship": "neighbour", "victim_consent": False}
    problem = only_problem(client.post("/api/eligibility", json=body(on_behalf_of=behalf)))
    assert problem == {
        "loc": ["body", "on_behalf_of", "victim_consent"],
        "msg": "Confirm the victim has agreed to you applying on their behalf",
        "type": "value_error",
    }


def test_post_eligibility_reported_before_occurred_422(client: TestClient) -> None:
    response = client.post("/api/eligibility", json=with_incident(1, reported_on="2026-09-13"))
    assert only_problem(response) == {
        "loc": ["body", "incidents", 1, "reported_on"],
        "msg": "Date reported must be on or after the date the incident happened",
        "type": "value_error",
    }


def test_post_eligibility_received_on_future_422(client: TestClient) -> None:
    problem = only_problem(client.post("/api/eligibility", json=body(received_on="2027-01-01")))
    assert problem == {
        "loc": ["body", "received_on"],
        "msg": "Date received must be today or in the past",
        "type": "value_error",
    }


def test_post_eligibility_incident_date_future_422(client: TestClient) -> None:
    response = client.post("/api/eligibility", json=with_incident(2, occurred_on="2026-11-21"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {
        "loc": ["body", "incidents", 2, "occurred_on"],
        "msg": ("Date the incident happened must be today or in the past"),
        "type": "value_error",
    } in detail


def test_post_eligibility_incident_reported_future_422(client: TestClient) -> None:
    response = client.post("/api/eligibility", json=with_incident(0, reported_on="2026-11-25"))
    assert only_problem(response) == {
        "loc": ["body", "incidents", 0, "reported_on"],
        "msg": "Date reported must be today or in the past",
        "type": "value_error",
    }


def test_post_eligibility_unknown_locality_422(client: TestClient) -> None:
    problem = only_problem(client.post("/api/eligibility", json=body(locality="atlantis")))
    assert problem["loc"] == ["body", "locality"]
    assert problem["msg"] == "Select a council area this service covers: blaby"


def test_post_eligibility_contact_email_missing_422(client: TestClient) -> None:
    applicant = {"name": "Jane Smithson", "phone": "0116 000 0000"}
    problem = only_problem(client.post("/api/eligibility", json=body(applicant=applicant)))
    assert problem["loc"] == ["body", "applicant", "email"]
    assert problem["msg"].startswith("Enter an email address")


def test_post_eligibility_several_problems_all_named(client: TestClient) -> None:
    values = with_incident(1, reported_on="2026-09-13")
    values["locality"] = "atlantis"
    values["received_on"] = "2027-01-01"
    response = client.post("/api/eligibility", json=values)
    assert response.status_code == 422
    assert [problem["loc"] for problem in response.json()["detail"]] == [
        ["body", "locality"],
        ["body", "received_on"],
        ["body", "incidents", 1, "reported_on"],
    ]


@pytest.mark.parametrize("malformed", ["2026-02-30", "yesterday", "20/11/2026"])
def test_post_eligibility_malformed_incident_date_422(client: TestClient, malformed: str) -> None:
    problem = only_problem(client.post("/api/eligibility", json=with_incident(1, occurred_on=malformed)))
    assert problem["loc"] == ["body", "incidents", 1, "occurred_on"]
    assert problem["msg"] == (
        "Date the incident happened must be a real date written as YYYY-MM-DD, for example 2026-03-12"
    )
    assert problem["type"].startswith("date_")


def test_post_eligibility_malformed_received_on_422(client: TestClient) -> None:
    problem = only_problem(client.post("/api/eligibility", json=body(received_on="yesterday")))
    assert problem["loc"] == ["body", "received_on"]
    assert problem["msg"].startswith("Date received must be a real date")


def test_post_eligibility_malformed_date_not_echoed(client: TestClient) -> None:
    response = client.post("/api/eligibility", json=body(received_on="Jane's birthday"))
    assert response.status_code == 422
    assert "Jane" not in response.text


def test_post_eligibility_missing_required_field_422(client: TestClient) -> None:
    values = body()
    del values["no_effective_action"]
    problem = only_problem(client.post("/api/eligibility", json=values))
    assert problem == {
        "loc": ["body", "no_effective_action"],
        "msg": "Whether you believe no effective action has been taken is required",
        "type": "missing",
    }


def test_post_eligibility_missing_incident_field_422(client: TestClient) -> None:
    values = body()
    del values["incidents"][0]["reported_on"]
    problem = only_problem(client.post("/api/eligibility", json=values))
    assert problem["loc"] == ["body", "incidents", 0, "reported_on"]
    assert problem["msg"] == "Date reported is required"


def test_post_eligibility_missing_body_422(client: TestClient) -> None:
    problem = only_problem(client.post("/api/eligibility"))
    assert problem["loc"] == ["body"]
    assert problem["msg"] == "Send the application as a JSON body"


def test_get_openapi_eligibility_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/eligibility"]["post"]
    assert operation["summary"]
    assert "threshold" in operation["description"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ThresholdAssessment"
    }
    assert "422" in operation["responses"]
    assert operation["requestBody"]["content"]["application/json"]["examples"]
