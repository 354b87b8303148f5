"""No personal data and no staff's words in Temporal: a case run to closure with a canary string in every
free-text field leaves none of them in its workflow history (decoded), while the database keeps them all.

Real parts: the time-skipping Temporal server, the worker, the API, the SMTP sink, SQLite.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from google.protobuf import json_format
from sqlalchemy import select
from temporalio.api.common.v1 import Payload

from core.codec import ENCODING, codec_for
from core.config import Settings
from db.models import Case, ChronologyEntry, InformationRequest
from domain.calendar import add_working_days, is_working_day
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"
# The key the test worker and API use (derived from the development SECRET_KEY).
CODEC = codec_for(Settings(_env_file=None))  # type: ignore[call-arg]


def canary(field: str) -> str:
    return f"CANARY{field.upper().replace('_', '')}{uuid.uuid4().hex[:6].upper()}"


def texts_in(value: Any, encrypted: list[int]) -> list[str]:
    """Every string in a history as JSON, each payload decrypted (as the Web UI's codec would) and its
    data decoded; `encrypted` counts the payloads that were encrypted."""
    found: list[str] = []
    if isinstance(value, dict):
        if "data" in value and "metadata" in value:
            payload = json_format.ParseDict(value, Payload())
            if payload.metadata.get("encoding") == ENCODING:
                encrypted.append(1)
            opened = CODEC.open(payload)
            found.append(opened.data.decode("utf-8", "replace"))
            found.extend(item.decode("utf-8", "replace") for item in opened.metadata.values())
            return found
        for item in value.values():
            found.extend(texts_in(item, encrypted))
    elif isinstance(value, list):
        for item in value:
            found.extend(texts_in(item, encrypted))
    elif isinstance(value, str):
        found.append(value)
    return found


async def test_no_free_text_reaches_the_workflow_history(service: CaseService) -> None:
    start = await service.today() + dt.timedelta(days=1)
    while not is_working_day(start, NATION):
        start += dt.timedelta(days=1)
    await service.travel_to(start)

    canaries: dict[str, str] = {}

    def mark(field: str) -> str:
        canaries[field] = canary(field)
        return canaries[field]

    body = application(today=start)
    body["applicant"].update(
        name=mark("applicant_name"),
        address=mark("address"),
        postcode="LE19 2AA",
        phone="07700 900123",
        email=f"{mark('email').lower()}@example.test",
    )
    for index, incident in enumerate(body["incidents"]):
        incident["description"] = mark(f"description_{index}")
        incident["reference"] = mark(f"incident_reference_{index}")
    body["hate_incident"] = True
    body["hate_incident_details"] = mark("hate_details")
    reference = await service.open_case(body)

    # The threshold stage's three requests: one resent elsewhere, one extended, one waived; then answered.
    case = await service.wait_for(
        reference, lambda c: any("agencies (threshold)" in e["event"] for e in c["chronology"])
    )
    keys = sorted(r["request_key"] for r in case["information_requests"] if r["state"] == "requested")
    assert len(keys) == 3
    resend = {
        "request_key": keys[0],
        "to": f"{mark('resend_to').lower()}@example.com",
        "reason": mark("resend"),
    }
    response = await service.act(reference, "information-requests/resend", resend)
    assert response.status_code == 200, response.text
    due = add_working_days(start, 8, NATION)
    extend = {"request_key": keys[1], "due_on": due.isoformat(), "reason": mark("extend")}
    response = await service.act(reference, "information-requests/extend", extend)
    assert response.status_code == 200, response.text
    waive = {"request_key": keys[2], "reasons": mark("waive")}
    response = await service.act(reference, "information-requests/waive", waive)
    assert response.status_code == 200, response.text
    for key in keys[:2]:
        answer = {
            "request_key": key,
            "records_found": mark(f"records_{key}"),
            "actions_taken": mark(f"actions_{key}"),
            "risk_to_victim": mark(f"risk_{key}"),
            "notes": mark(f"notes_{key}"),
            "responder_name": mark(f"responder_{key}"),
            "responder_role": mark(f"role_{key}"),
            "received_by": "phone",
        }
        response = await service.act(reference, "agency-responses", answer)
        assert response.status_code == 200, response.text

    decided = await service.act(
        reference, "threshold-decision", {"outcome": "met", "reasons": mark("threshold_reasons")}
    )
    assert decided.status_code == 200, decided.text
    await service.wait_for(
        reference, lambda c: any("agencies (review)" in e["event"] for e in c["chronology"])
    )
    meeting = {
        "meeting_at": (await service.now() - dt.timedelta(hours=1)).isoformat(),
        "location": mark("meeting_location"),
        "attendees": [{"name": mark("attendee"), "organisation": mark("attendee_organisation")}],
    }
    assert (await service.act(reference, "review-meeting", meeting)).status_code == 200
    statement = {
        "method": "representative",
        "representative_name": mark("representative"),
        "representative_consent": True,
    }
    assert (await service.act(reference, "impact-statement", statement)).status_code == 200
    await service.answer_requests(reference, "review")
    panel = {
        "findings": mark("findings"),
        "recommendations": [
            {
                "agency": mark("recommendation_agency"),
                "action": mark("recommendation"),
                "due_on": "2031-01-01",
            }
        ],
    }
    assert (await service.act(reference, "panel-decision", panel)).status_code == 200
    await service.wait_for(
        reference, lambda c: c["deadlines"]["appeal_by"] and service.letters(c, "letter-3")
    )
    appeal = {"grounds": [1], "explanation": mark("appeal_grounds")}
    assert (await service.act(reference, "appeal-request", appeal)).status_code == 200
    await service.wait_for(reference, lambda c: bool(c["appeal"]))
    assert (await service.act(reference, "appeal/chair", {"chair": "rutland-csp-chair"})).status_code == 200
    await service.wait_for(reference, lambda c: c["appeal"]["deadlines"]["acknowledge_by"] is not None)
    assert (await service.act(reference, "appeal/acknowledge", {"note": mark("ack_note")})).status_code == 200
    criteria = {"met": True, "reasons": mark("criteria_reasons")}
    assert (await service.act(reference, "appeal/criteria", criteria)).status_code == 200
    appeal_panel = {
        "meeting_at": (await service.now() - dt.timedelta(hours=1)).isoformat(),
        "location": mark("appeal_location"),
        "members": [{"name": mark("appeal_member"), "role": mark("appeal_member_role")}],
    }
    assert (await service.act(reference, "appeal/panel", appeal_panel)).status_code == 200
    outcome = {
        "upheld": False,
        "reasons": mark("appeal_reasons"),
        "recommendations": [
            {"agency": mark("appeal_agency"), "action": mark("appeal_action"), "due_on": "2031-02-01"}
        ],
        "lessons": mark("lessons"),
    }
    assert (await service.act(reference, "appeal/outcome", outcome)).status_code == 200
    status = await service.result(reference)
    assert status.closed_reason.value == "appeal_decided"

    encrypted: list[int] = []
    texts: list[str] = []
    for workflow_id in (f"Case:{reference}", f"Appeal:{reference}"):
        history = await service.env.client.get_workflow_handle(workflow_id).fetch_history()
        texts += texts_in(history.to_json_dict(), encrypted)
    everything = "\n".join(texts)
    assert reference in everything  # the decoding works: ids are there
    assert "Threshold decision: met." in everything  # and the chronology's words without the reasons
    assert len(encrypted) > 50  # every payload went through Temporal encrypted
    leaked = sorted(field for field, value in canaries.items() if value in everything)
    assert not leaked, f"personal data or staff's words in the workflow history: {leaked}"
    # Staff are named by id only.
    assert "Community Trigger SPOC" not in everything

    # ... and every word is kept in the database, where staff read it.
    with service.sessions() as session:
        row = session.scalar(select(Case).where(Case.reference == reference))
        assert row is not None and row.threshold_decision is not None
        assert row.threshold_decision["reasons"] == canaries["threshold_reasons"]
        assert row.panel_decision is not None and row.panel_decision["findings"] == canaries["findings"]
        assert row.appeal_request is not None
        assert row.appeal_request["explanation"] == canaries["appeal_grounds"]
        assert row.appeal is not None and row.appeal.decision is not None
        assert row.appeal.decision["reasons"] == canaries["appeal_reasons"]
        chronology = "\n".join(
            f"{entry.actor}: {entry.event}"
            for entry in session.scalars(select(ChronologyEntry).where(ChronologyEntry.case_id == row.id))
        )
        for field in (
            "threshold_reasons",
            "resend",
            "extend",
            "waive",
            "meeting_location",
            "appeal_grounds",
            "criteria_reasons",
            "appeal_location",
            "appeal_reasons",
            "lessons",
        ):
            assert canaries[field] in chronology, field
        assert "staff #" not in chronology  # named from the staff table
        waived = session.scalar(
            select(InformationRequest).where(
                InformationRequest.case_id == row.id, InformationRequest.request_key == keys[2]
            )
        )
        assert waived is not None and waived.waived_reason == canaries["waive"]
