"""Staff decisions reach the case workflow as Temporal updates: a retry with the same Idempotency-Key is
applied once, and with no worker to take the update the API answers 503 in time and writes nothing.

The real API, the real workflow on the time-skipping server, a real SQLite database (conftest's
`service`), and for the worker-less case a stack of the test's own on a real dev server.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api import case_updates
from api.case_decisions import NOT_ANSWERED_IN_TIME
from db.models import AuditEntry, Case, ChronologyEntry
from domain.calendar import london_date
from tests.stack import own_stack, start_dev_server
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLICE_KEY = "threshold:leicestershire-police"
KEY_SHAPE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


def events(case: dict[str, Any], text: str) -> list[dict[str, Any]]:
    return [entry for entry in case["chronology"] if text in entry["event"]]


async def post_action(
    service: CaseService, reference: str, action: str, body: dict[str, Any], key: str | None = None
) -> Any:
    headers = {**service.spoc(), **({"Idempotency-Key": key} if key else {})}
    return await service.api.post(f"/api/cases/{reference}/{action}", json=body, headers=headers)


async def test_waive_twice_with_same_idempotency_key_is_applied_once(service: CaseService) -> None:
    reference = await service.open_case(application(today=await service.today()))
    waiver = {"request_key": POLICE_KEY, "reasons": "The police log was shared at the partnership meeting."}
    key = f"waive-{uuid.uuid4().hex}"

    first = await post_action(service, reference, "information-requests/waive", waiver, key)
    assert first.status_code == 200, first.text
    assert first.headers["Idempotency-Key"] == key
    # A client that lost the answer sends it again: the first result, and nothing applied twice.
    again = await post_action(service, reference, "information-requests/waive", waiver, key)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # The same key with other words is refused: the case would keep the first, the record the second.
    edited = {**waiver, "reasons": "Something else entirely."}
    mixed = await post_action(service, reference, "information-requests/waive", edited, key)
    assert mixed.status_code == 409 and "different" in mixed.json()["detail"]
    # A new key is a new action, refused now that the request is waived.
    other = await post_action(service, reference, "information-requests/waive", waiver, uuid.uuid4().hex)
    assert other.status_code == 409 and "already waived" in other.json()["detail"]

    # Without a key, the API makes one up and returns it; a retry with it is applied once too.
    case = await service.case(reference)
    requests = case["information_requests"]
    other_agency = next(r for r in requests if r["purpose"] == "threshold" and r["request_key"] != POLICE_KEY)
    extended_key = other_agency["request_key"]
    extension = {
        "request_key": extended_key,
        "due_on": (dt.date.fromisoformat(other_agency["due_on"]) + dt.timedelta(days=7)).isoformat(),
        "reason": "Their officer is on leave this week.",
    }
    extended = await post_action(service, reference, "information-requests/extend", extension)
    assert extended.status_code == 200, extended.text
    made_up = extended.headers["Idempotency-Key"]
    assert KEY_SHAPE.match(made_up)
    retried = await post_action(service, reference, "information-requests/extend", extension, made_up)
    assert retried.status_code == 200 and retried.json() == extended.json()

    case = await service.wait_for(
        reference,
        lambda c: events(c, "Proceeding without an answer") and events(c, f"{extended_key} extended"),
    )
    assert len(events(case, "Proceeding without an answer")) == 1
    assert len(events(case, f"{extended_key} extended")) == 1
    assert len(events(case, f"{POLICE_KEY} extended")) == 0

    refused = await post_action(service, reference, "information-requests/waive", waiver, "not a key!")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    await service.act(reference, "withdraw", {"reason": "Resolved.", "requested_by": "applicant"})
    await service.result(reference)


@pytest_asyncio.fixture(loop_scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    # A real server of its own: an update left waiting for a worker that never comes upsets the session's
    # time-skipping server for the tests after this one.
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def test_action_with_no_worker_answers_503_in_time_and_writes_nothing(
    service: CaseService, dev_server: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(case_updates, "UPDATE_TIMEOUT", dt.timedelta(seconds=1))
    today = london_date(await dev_server.get_current_time())  # the dev server's clock is the real one
    # A stack of its own whose task queue no worker polls: the case starts, but nothing runs it.
    async with own_stack(dev_server, service.mail, tmp_path, in_process_worker=False) as stack:
        applied = await stack.apply(application(today=today), key=uuid.uuid4().hex)
        assert applied.status_code == 201, applied.text
        reference = applied.json()["reference"]
        key = f"withdraw-{uuid.uuid4().hex}"

        started = time.monotonic()
        response = await stack.api.post(
            f"/api/cases/{reference}/withdraw",
            json={"reason": "Resolved.", "requested_by": "applicant"},
            headers={**stack.spoc(), "Idempotency-Key": key},
        )
        waited = time.monotonic() - started

        assert response.status_code == 503, response.text
        assert response.json()["detail"] == NOT_ANSWERED_IN_TIME
        assert response.headers["Idempotency-Key"] == key
        assert int(response.headers["Retry-After"]) > 0
        assert waited < 5, f"waited {waited:.1f}s for a 1s update timeout"
        with stack.sessions() as session:
            case = session.scalar(select(Case).where(Case.reference == reference))
            assert case is not None and case.withdrawal is None and case.stage == "received"
            assert session.scalar(select(func.count()).select_from(ChronologyEntry)) == 0
            audited = session.scalars(select(AuditEntry.action).where(AuditEntry.case_reference == reference))
            assert "withdraw" not in set(audited)
