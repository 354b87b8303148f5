"""Starting a case: one function for the JSON API (`POST /api/cases`) and the online form (`/apply`), so
that an application is checked, stored, numbered and started the same way whichever way it came.

`start_case` checks the application as `/api/eligibility` does, stores it with its reference and starts its
workflow. With an idempotency key, a retry with the same application gets the same case. It raises
`ApplicationProblems` for what the applicant must correct, and HTTPException 409 (the key came with a
different application) or 503 (nothing was saved: try again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence

from fastapi import HTTPException, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.case_store import case_input_for, forget_case, store_case
from core.config import Settings
from domain.application import Application
from domain.policy import LocalityPolicy
from domain.threshold import Problem, assess, check_application
from workflows.case import CaseWorkflow, search_attributes_at_start
from workflows.models import case_workflow_id

log = logging.getLogger(__name__)

# The memo of a case workflow started for an application with an Idempotency-Key: its digest, so that two
# concurrent tries of the same application recognise each other's workflow.
APPLICATION_MEMO = "application"


class ApplicationProblems(Exception):
    """What the applicant must correct (unknown locality, dates in the future, ...): nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(problem.msg for problem in problems))
        self.problems = list(problems)


def application_digest(idempotency_key: str) -> str:
    return hashlib.sha256(f"application|{idempotency_key}".encode()).hexdigest()


async def start_case(
    application: Application,
    *,
    settings: Settings,
    sessions: sessionmaker[Session],
    policies: Mapping[str, LocalityPolicy],
    today: dt.date,
    client: Client,
    idempotency_key: str | None,
) -> tuple[str, bool]:
    """Check, store and start the application's case: (its reference, True when it is new)."""
    problems = check_application(application, today=today, policies=policies)
    if problems:
        raise ApplicationProblems(problems)
    policy = policies[application.locality]
    received_on = application.received_on or today
    assessment = assess(application, policy.threshold, received_on)
    reference, created = await run_in_threadpool(
        lambda: store_case(
            sessions,
            application=application,
            policy=policy,
            received_on=received_on,
            assessment=assessment,
            idempotency_key=idempotency_key,
        )
    )
    try:
        await client.start_workflow(
            CaseWorkflow.run,
            case_input_for(policy, reference, received_on),
            id=case_workflow_id(reference),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=search_attributes_at_start(reference, policy.key),
            static_summary=f"Case {reference} ({policy.council})",
            memo={APPLICATION_MEMO: application_digest(idempotency_key)} if idempotency_key else None,
        )
    except WorkflowAlreadyStartedError as error:
        if created and not await started_for_same_application(client, reference, idempotency_key):
            # A new case whose reference already has a workflow: the database and Temporal disagree
            # (say, a database restored without Temporal). Keep nothing rather than join another case,
            # and keep the number used up: giving it back would hand the next application the same clash.
            await run_in_threadpool(
                lambda: forget_case(sessions, reference=reference, give_number_back=False)
            )
            log.error("case reference %s already has a workflow; application not saved", reference)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The case service could not open a case; your application was not saved. Please try "
                "again shortly.",
            ) from error
        # Otherwise: a retry of an application whose case is already running.
    except RPCError as error:
        if created:
            # Nothing half-written: a case that could not start is not kept. Its number goes to the next
            # application only if the workflow surely does not exist (a timeout may have started it).
            started = await workflow_may_exist(client, reference)
            await run_in_threadpool(
                lambda: forget_case(sessions, reference=reference, give_number_back=not started)
            )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The case service is unavailable; your application was not saved. Please try again shortly.",
        ) from error
    return reference, created


async def workflow_may_exist(client: Client, reference: str) -> bool:
    """False only when Temporal answers that there is no workflow for this reference."""
    try:
        await client.get_workflow_handle(case_workflow_id(reference)).describe(
            rpc_timeout=dt.timedelta(seconds=5)
        )
    except RPCError as error:
        return error.status != RPCStatusCode.NOT_FOUND
    except Exception:  # not answering: it may have been started
        return True
    return True


async def started_for_same_application(client: Client, reference: str, idempotency_key: str | None) -> bool:
    """Whether the workflow already running for this reference was started by a concurrent try of the same
    application (the same Idempotency-Key), not for some other case."""
    if not idempotency_key:
        return False
    try:
        description = await client.get_workflow_handle(case_workflow_id(reference)).describe()
        memo = await description.memo_value(APPLICATION_MEMO, default=None)
    except (RPCError, ValueError, TypeError):
        return False
    return memo == application_digest(idempotency_key)
