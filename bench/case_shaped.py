"""The engine's own reference: a workflow shaped like a case (the same number of activities, staff updates
and deadline timers as a recorded met-path case) whose activities do nothing, so that its rate on a server
is what Temporal and the SDK alone allow there."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

# A case through application, threshold met, meeting, impact statement, panel decision and appeal window.
SHAPE_FROM = "tests/histories/met-path-v3.json"


@dataclass(frozen=True)
class Shape:
    activities_at_start: int
    updates: int
    activities_per_update: int
    appeal_window_days: int = 30

    @classmethod
    def of_recorded_case(cls) -> Shape:
        recorded = Path(__file__).resolve().parent.parent / SHAPE_FROM
        counts = Counter(event["eventType"] for event in json.loads(recorded.read_text())["events"])
        activities = counts["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
        updates = counts["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
        per_update = activities // (updates + 1)
        return cls(activities - per_update * updates, updates, per_update)


@activity.defn(name="bench_nothing")
async def nothing(step: int) -> int:
    return step


@workflow.defn(name="BenchCaseShaped")
class CaseShapedWorkflow:
    def __init__(self) -> None:
        self.actions = 0
        self.shape: Shape | None = None

    async def _work(self, count: int) -> None:
        for step in range(count):
            await workflow.execute_activity(nothing, step, start_to_close_timeout=timedelta(seconds=30))

    def _acted(self, done: int) -> Callable[[], bool]:
        return lambda: self.actions > done

    @workflow.run
    async def run(self, shape: Shape) -> int:
        self.shape = shape
        await self._work(shape.activities_at_start)
        for done in range(shape.updates):
            # Each step waits on its deadline (a timer), cancelled when the staff action comes.
            try:
                await workflow.wait_condition(self._acted(done), timeout=timedelta(days=10))
            except TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.sleep(timedelta(days=shape.appeal_window_days))
        return self.actions

    @workflow.update
    async def act(self) -> int:
        await workflow.wait_condition(lambda: self.shape is not None)
        assert self.shape is not None
        await self._work(self.shape.activities_per_update)
        self.actions += 1
        return self.actions
