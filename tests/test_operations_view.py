"""What operations see of a case in the Temporal Web UI: its current details (stage, what it waits for
and from whom, the next deadline and what happens then), summaries on its timers and activities that read
as the case's story, and NextDeadline at the moment the escalation happens. None of it personal."""

from __future__ import annotations

import datetime as dt

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.calendar import LONDON, add_working_days, is_working_day
from tests import support
from tests.support import CaseService, application

pytestmark = pytest.mark.asyncio(loop_scope="session")

NATION = "england-and-wales"


async def current_details(service: CaseService, reference: str) -> str:
    handle = service.env.client.get_workflow_handle(f"Case:{reference}")
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def next_deadline_attribute(service: CaseService, reference: str) -> dt.datetime:
    response = await service.env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=service.env.client.namespace,
            execution=WorkflowExecution(workflow_id=f"Case:{reference}"),
        )
    )
    payload = response.workflow_execution_info.search_attributes.indexed_fields["NextDeadline"]
    value = pydantic_data_converter.payload_converter.from_payload(payload, str)
    return dt.datetime.fromisoformat(value)


async def test_a_case_reads_at_a_glance_in_the_web_ui(service: CaseService) -> None:
    start = await service.today() + dt.timedelta(days=1)
    while not is_working_day(start, NATION):
        start += dt.timedelta(days=1)
    await service.travel_to(start)
    body = application(today=start)
    reference = await service.open_case(body)
    due = add_working_days(start, 10, NATION)
    await service.wait_for(reference, lambda c: c["next_deadline"] == due.isoformat())

    history = await service.env.client.get_workflow_handle(f"Case:{reference}").fetch_history()
    started = history.events[0]
    codec = support.DATA_CONVERTER.payload_codec
    assert codec is not None
    summary = (await codec.decode([started.user_metadata.summary]))[0]
    assert pydantic_data_converter.payload_converter.from_payload(summary, str) == (
        f"Case {reference} (Blaby District Council)"
    )
    details = await current_details(service, reference)
    assert f"**Case {reference}** (blaby)" in details
    assert "**Stage:** threshold check" in details
    assert "answers from 3 agencies: " in details and "leicestershire-police" in details
    assert "the SPOC's threshold decision" in details
    assert f"{due.day} {due:%B %Y}, 17:00" in details
    # Ids, stages and dates only: nothing the applicant told us.
    for personal in (body["applicant"]["name"], body["applicant"]["email"], body["applicant"]["postcode"]):
        assert personal not in details

    # NextDeadline is when the escalation happens: 17:00 London time on the due date.
    assert await next_deadline_attribute(service, reference) == dt.datetime.combine(
        due, dt.time(17, 0), tzinfo=LONDON
    ).astimezone(dt.UTC)

    history = await service.env.client.get_workflow_handle(f"Case:{reference}").fetch_history()
    timers = [
        event.user_metadata.summary
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]
    activities = [
        event.user_metadata.summary
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    # Summaries go through the payload codec like every payload: decode them as the Web UI's codec does.
    codec = support.DATA_CONVERTER.payload_codec
    assert codec is not None
    converter = pydantic_data_converter.payload_converter
    timer_texts = [converter.from_payload(summary, str) for summary in await codec.decode(timers)]
    activity_texts = [converter.from_payload(summary, str) for summary in await codec.decode(activities)]
    assert any(text.startswith("Remind the SPOC on") and "threshold_decision" in text for text in timer_texts)
    assert "Send letter-1 to the applicant" in activity_texts
    assert "Ask the agencies for information (threshold)" in activity_texts

    withdrawn = await service.act(reference, "withdraw", {"reason": "Test over.", "requested_by": "spoc"})
    assert withdrawn.status_code == 200
    await service.result(reference)
    assert "**Stage:** closed (withdrawn)" in await current_details(service, reference)
