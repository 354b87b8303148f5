"""Before a deploy: replay the histories of every running case (and check) against this checkout's code.

    python -m scripts.replay_running_cases            # every running workflow of the worker's kinds
    python -m scripts.replay_running_cases --query 'CaseStage="review"'

Connects as the worker does (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, TEMPORAL_API_KEY, ...).
Exits 1, naming each failing workflow, if the new code would not replay a running workflow: that change
needs `workflow.patched(...)` before it can be deployed. Prints only workflow ids (case references).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from temporalio.client import Client
from temporalio.worker import Replayer

from core.config import get_settings
from core.temporal import connect
from workflows.appeal import AppealWorkflow
from workflows.calendar_check import CalendarCheckWorkflow
from workflows.case import WORKFLOW_RUNNER, CaseWorkflow
from workflows.outbox_sweep import OutboxSweepWorkflow
from workflows.yearly_figures import YearlyFiguresWorkflow

RUNNING = (
    '(WorkflowType="CaseWorkflow" OR WorkflowType="AppealWorkflow" OR WorkflowType="CalendarCheckWorkflow" '
    'OR WorkflowType="YearlyFiguresWorkflow" OR WorkflowType="OutboxSweepWorkflow") '
    'AND ExecutionStatus="Running"'
)


async def replay_running(client: Client, query: str = RUNNING) -> int:
    """Replay the workflows the query finds; 0 if all replay, 1 if any would fail (each is printed)."""
    replayer = Replayer(
        workflows=[
            CaseWorkflow,
            AppealWorkflow,
            CalendarCheckWorkflow,
            YearlyFiguresWorkflow,
            OutboxSweepWorkflow,
        ],
        # The client's own: pydantic JSON through the payload codec (core/codec.py).
        data_converter=client.data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    histories = client.list_workflows(query).map_histories()
    results = await replayer.replay_workflows(histories, raise_on_replay_failure=False)
    failed = results.replay_failures
    print(f"replayed running workflows; {len(failed)} would fail with this code")
    for run_id, error in failed.items():
        print(f"  run {run_id}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query", default=RUNNING, help="a Temporal visibility query (default: running)")
    arguments = parser.parse_args()

    async def run() -> int:
        return await replay_running(await connect(get_settings()), arguments.query)

    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
