"""Replays stored histories of real case runs against today's workflow code.

A change to the workflow that would break a case already running (a non-deterministic change without
`workflow.patched`) fails here. Histories are recorded by the end-to-end tests with RECORD_HISTORIES=1
(see the README) and committed under tests/histories/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.case import WORKFLOW_RUNNER, CaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_replay_histories_are_committed() -> None:
    names = {path.stem for path in HISTORIES}
    assert {"met-path", "not-met", "rejected", "threshold-late-withdrawn", "appeal-decided"} <= names


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_replay_stored_history_with_current_workflow_code(path: Path) -> None:
    history = WorkflowHistory.from_json(f"Case:{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[CaseWorkflow], data_converter=pydantic_data_converter, workflow_runner=WORKFLOW_RUNNER
    )
    await replayer.replay_workflow(history)
