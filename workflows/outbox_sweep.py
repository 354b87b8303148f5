"""The outbox sweep: every 5 minutes, the API's own emails that their request could not send are sent.

The API sends some emails itself, once, from the request that records them (the applicant's new link, the
SPOC's notice of added information, a letter staff sent again: activities.api_mail). When that attempt
fails (the mail server down for a while, the API process gone mid-send), nothing else would try again:
a Temporal Schedule that the worker creates starts this workflow every 5 minutes (a run still going when
the next is due makes it skip), and its one activity delivers them (activities.outbox_sweep). Workflows'
own emails are retried by their activities and are never the sweep's. The history holds counts only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.models import OutboxSweepResult

OUTBOX_SWEEP_SCHEDULE_ID = "outbox-sweep"
OUTBOX_SWEEP_WORKFLOW_ID = "outbox-sweep"
SWEEP_EVERY = timedelta(minutes=5)

# One attempt sends at most a sweep's limit of emails (activities.outbox_sweep), each within its SMTP
# timeout: a mail server that hangs on every one could take most of an hour. The mailer heartbeats every
# few seconds while it sends, so a worker that dies is noticed within the heartbeat timeout; the retry
# finds what went already sent.
SWEEP_TIMEOUT = timedelta(hours=1)
SWEEP_HEARTBEAT = timedelta(minutes=1)
# Only the sweep's own trouble (the database away) fails an attempt; a message's failure never does. The
# next run, 5 minutes on, does the same work, so a few tries are enough.
SWEEP_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=3)


@workflow.defn(name="OutboxSweepWorkflow")
class OutboxSweepWorkflow:
    @workflow.run
    async def run(self) -> OutboxSweepResult:
        result: OutboxSweepResult = await workflow.execute_activity(
            "deliver_stalled_api_mail",
            start_to_close_timeout=SWEEP_TIMEOUT,
            heartbeat_timeout=SWEEP_HEARTBEAT,
            retry_policy=SWEEP_RETRY,
            result_type=OutboxSweepResult,
            summary="Send the API's emails that their requests could not",
        )
        return result


async def ensure_outbox_sweep_schedule(client: Client, task_queue: str) -> bool:
    """Create the schedule unless it exists (every 5 minutes); True if created."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            OutboxSweepWorkflow.run,
            id=OUTBOX_SWEEP_WORKFLOW_ID,
            task_queue=task_queue,
            # A run stuck past its activity's retries would make every later one skip: it ends instead.
            execution_timeout=SWEEP_TIMEOUT * 4,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=SWEEP_EVERY)]),
        # A sweep missed while Temporal was down is not made up: the next one does the same work.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=SWEEP_EVERY),
    )
    try:
        await client.create_schedule(OUTBOX_SWEEP_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
