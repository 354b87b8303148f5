"""Sending an update (a staff decision, an agency's answer) to a case's workflow: its update id and the
time the API waits for it, so that a retry is applied once and no request waits for ever.

Temporal keeps the result of each update id for the workflow run, and answers a repeat of the id with
that first result instead of applying it again: whoever sends an update names it after what makes it
the same action (the staff member and their Idempotency-Key, say), never after personal data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError

from workflows.models import case_workflow_id

# How long the API waits for the case workflow to take an update and answer. Longer means a worker that
# is down or busy ties up a request; the caller is told to retry with the same id, which is safe.
UPDATE_TIMEOUT = dt.timedelta(seconds=10)


def update_id_for(action: str, *parts: str) -> str:
    """`<action>:<32 hex digits>`, the same for the same parts; the parts themselves are not readable in
    it (they may carry whatever a client chose to send as a key)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{action}:{digest}"


async def execute_case_update(
    client: Client, reference: str, update: Any, *, args: Sequence[Any], update_id: str
) -> Any:
    """The case workflow's answer to the update (see `execute_workflow_update`)."""
    return await execute_workflow_update(
        client, case_workflow_id(reference), update, args=args, update_id=update_id
    )


async def execute_workflow_update(
    client: Client, workflow_id: str, update: Any, *, args: Sequence[Any], update_id: str
) -> Any:
    """The update's result. Raises what `execute_update` raises; past UPDATE_TIMEOUT, always
    `WorkflowUpdateRPCTimeoutOrCancelledError` (the update may still be applied later)."""
    timeout = UPDATE_TIMEOUT
    handle = client.get_workflow_handle(workflow_id)
    try:
        # rpc_timeout bounds each call to the server, but the SDK calls again whenever the server answers
        # before a worker has accepted the update; the outer timeout bounds the whole wait.
        async with asyncio.timeout(timeout.total_seconds()):
            return await handle.execute_update(update, args=list(args), id=update_id, rpc_timeout=timeout)
    except TimeoutError as error:
        raise WorkflowUpdateRPCTimeoutOrCancelledError() from error
