"""The appeal's bundle email, with a real worker process killed while sending it: the chair gets exactly one
bundle email, and the appeal goes on with the next worker. And an appeal workflow ended by hand (from the
Web UI): its case does not fail, and the SPOC records the outcome.

A stack of its own on a real Temporal dev server (see `tests.stack.start_dev_server` for why a killed
worker needs one), shared with tests/test_mail_delivery.py's killed-worker fixtures.
"""

from __future__ import annotations

import uuid

import pytest

from tests.stack import end_killed_attempt, wait_until
from tests.support import application
from tests.test_mail_delivery import (  # noqa: F401 - fixtures used by name
    KillableStack,
    Once,
    assert_each_sent_exactly_once,
    dev_server,
    killable,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def appeal_waiting_for_a_chair(stack: KillableStack) -> str:
    """A case whose appeal waits for a chair to be named, every email so far sent (in real time)."""
    service = stack.service
    stack.start_worker()
    response = await service.apply(application(today=await service.today()), key=uuid.uuid4().hex)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    await service.wait_for(reference, lambda c: bool(c["information_requests"]), timeout=30)
    await service.answer_requests(reference, "threshold")
    decided = await service.act(
        reference, "threshold-decision", {"outcome": "not_met", "reasons": "Two only."}
    )
    assert decided.status_code == 200, decided.text
    await service.wait_for(reference, lambda c: bool(c["deadlines"]["appeal_by"]), timeout=30)
    appeal = {"grounds": [2], "explanation": "The police log was missed."}
    assert (await service.act(reference, "appeal-request", appeal)).status_code == 200
    await service.wait_for(
        reference,
        lambda c: bool(c["appeal"]) and any("asked to name" in e["event"] for e in c["appeal"]["chronology"]),
        timeout=30,
    )
    await wait_until(
        lambda: all(row.status == "sent" for row in service.outbox(reference)), "every email so far went"
    )
    return reference


async def test_worker_killed_while_sending_the_bundle_sends_exactly_one(
    killable: KillableStack,  # noqa: F811 - the fixture of that name
) -> None:
    service, sink = killable.service, killable.sink
    reference = await appeal_waiting_for_a_chair(killable)

    # The next email is the bundle: the worker dies as it starts to send it (the sink hangs up).
    kill = Once(killable.kill_worker)
    sink.on_mail_from = kill
    # The SPOC's client names the chair with an Idempotency-Key, as the API asks of a client that may retry.
    naming = {"chair": "melton-csp-chair"}
    headers = {**service.spoc(), "Idempotency-Key": uuid.uuid4().hex}
    named = await service.api.post(f"/api/cases/{reference}/appeal/chair", json=naming, headers=headers)
    # The worker may die before the update's answer is out (its record and the bundle run together): then
    # the API says 503, "retry with the same Idempotency-Key", which the client does once a worker is back.
    assert named.status_code in (200, 503), named.text
    await wait_until(kill.fired.is_set, f"the bundle's send began\n{killable.output()}", timeout=20)
    assert not killable.workers[-1].alive()
    [left] = service.outbox(reference, "appeal-bundle")
    assert (left.status, left.attempts) == ("sending", 1)

    killable.start_worker()
    if named.status_code == 503:
        named = await service.api.post(f"/api/cases/{reference}/appeal/chair", json=naming, headers=headers)
        assert named.status_code == 200, named.text
    assert await end_killed_attempt(service.env, reference, "send_appeal_bundle", workflow="Appeal") == 1
    await wait_until(
        lambda: (
            service.case_row(reference).appeal is not None
            and service.case_row(reference).appeal.acknowledge_by is not None
        ),  # type: ignore[union-attr]
        f"the appeal went on with the new worker\n{killable.output()}",
        timeout=45,
    )
    [sent] = service.outbox(reference, "appeal-bundle")
    assert (sent.status, sent.message_id, sent.attempts) == ("sent", left.message_id, 2)
    bundles = [m for m in sink.messages() if str(m["To"]) == "csp.chair@melton.council.example"]
    assert len(bundles) == 1 and "/appeal/r/" in bundles[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert_each_sent_exactly_once(service, sink, reference)
    case = await service.case(reference)
    assert case["appeal"]["stage"] == "appeal_chair_named"
    assert any("bundle was sent to the chair" in e["event"] for e in case["appeal"]["chronology"])


async def test_an_appeal_ended_by_hand_leaves_the_case_to_the_spoc(
    killable: KillableStack,  # noqa: F811 - the fixture of that name
) -> None:
    service = killable.service
    reference = await appeal_waiting_for_a_chair(killable)
    # While the appeal runs, its chair decides: the SPOC's outcome is refused.
    refused = await service.act(reference, "appeal-outcome", {"upheld": False, "summary": "Sound."})
    assert refused.status_code == 409 and "its chair records the outcome" in refused.json()["detail"]
    await service.env.client.get_workflow_handle(f"Appeal:{reference}").terminate(reason="test: by hand")
    await service.wait_for(
        reference, lambda c: any("ended without a result" in e["event"] for e in c["chronology"]), timeout=30
    )
    response = await service.act(reference, "appeal-outcome", {"upheld": False, "summary": "Sound."})
    assert response.status_code == 200, response.text
    await service.wait_for(reference, lambda c: c["stage"] == "closed", timeout=30)
    case = await service.case(reference)
    assert case["closed_reason"] == "appeal_decided"
