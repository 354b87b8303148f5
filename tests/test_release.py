"""The release procedure's check: replay every running case's history against the code about to be
deployed (scripts/replay_running_cases.py), on a real Temporal server (the time-skipping test server has
no visibility queries)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devstack.mail_sink import MailSink
from scripts.replay_running_cases import replay_running
from tests.stack import own_stack, start_dev_server
from tests.support import application

pytestmark = pytest.mark.asyncio(loop_scope="session")


@workflow.defn(name="CaseWorkflow", sandboxed=False)
class EarlierCaseWorkflow:
    """A case workflow as an incompatible earlier release might have run it: it waits a day first."""

    @workflow.run
    async def run(self, case: dict[str, object]) -> None:
        await workflow.sleep(dt.timedelta(days=1))


@pytest_asyncio.fixture(loop_scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def replay_when_listed(env: WorkflowEnvironment, workflow_id: str) -> int:
    """Visibility is eventually consistent: wait until the workflow is listed, then replay it."""
    query = f'WorkflowId="{workflow_id}" AND ExecutionStatus="Running"'
    for _ in range(100):
        if [execution async for execution in env.client.list_workflows(query)]:
            return await replay_running(env.client, query)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never listed")


async def test_running_cases_replay_and_an_incompatible_one_is_named(
    dev_server: WorkflowEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MailSink(tmp_path / "mail", port=0) as sink:
        async with own_stack(dev_server, sink, tmp_path, in_process_worker=True) as service:
            reference = await service.open_case(application(today=await service.today()))
            assert await replay_when_listed(dev_server, f"Case:{reference}") == 0
            assert "0 would fail" in capsys.readouterr().out

    # A running case whose history this code cannot replay: the check fails and names its run.
    queue = f"earlier-{uuid.uuid4().hex[:8]}"
    async with Worker(dev_server.client, task_queue=queue, workflows=[EarlierCaseWorkflow]):
        handle = await dev_server.client.start_workflow(
            "CaseWorkflow", {"reference": "CT-OLD-1"}, id=f"Case:{queue}", task_queue=queue
        )
        for _ in range(100):  # until its first task is done and its timer started
            events = [event async for event in handle.fetch_history_events()]
            if any(event.HasField("timer_started_event_attributes") for event in events):
                break
            await asyncio.sleep(0.1)
        assert await replay_when_listed(dev_server, f"Case:{queue}") == 1
        assert "1 would fail" in capsys.readouterr().out
        await handle.terminate()
