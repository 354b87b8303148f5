"""What the tests share besides fixtures: the `CaseService` that the `service` fixture (conftest.py) and
tests/stack.py build, a realistic `application`, and the manifest of released replay histories.

The manifest, tests/histories/MANIFEST.sha256, lists each released history as `<sha256>  <file name>`
(the format of `sha256sum`, so `cd tests/histories && sha256sum -c MANIFEST.sha256` checks it too).
A released history is never re-recorded: a change to the workflow is checked against the runs that
already happened, so a new run is recorded under a new name and added deliberately with

    .venv/bin/python -m tests.support manifest

which appends the files not yet listed and leaves every listed line as it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.enums.v1 import WorkflowExecutionStatus as WorkflowExecutionStatusProto
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from core.codec import data_converter_for
from core.config import PROJECT_ROOT, Settings
from core.temporal import SEARCH_ATTRIBUTES
from db.models import Case, OutboxMessage
from db.seed import development_api_key
from devstack.mail_sink import MailSink
from domain.calendar import LONDON, london_date
from workflows.models import CaseStatus

HISTORIES = Path(__file__).parent / "histories"

# What the API and the worker use with the development settings: pydantic JSON, encrypted with the key
# derived from the development SECRET_KEY (core/codec.py). Test servers and replayers use it too.
DATA_CONVERTER = data_converter_for(Settings(_env_file=None))  # type: ignore[call-arg]
MANIFEST_NAME = "MANIFEST.sha256"
ADD_TO_MANIFEST = ".venv/bin/python -m tests.support manifest"


# ---- the manifest of released replay histories ---------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(directory: Path = HISTORIES) -> dict[str, str]:
    """File name -> sha256 of each released history, as listed in the directory's manifest."""
    path = directory / MANIFEST_NAME
    if not path.exists():
        return {}
    listed: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not name or name in listed:
            raise ValueError(f"{path}:{number}: expected `<sha256>  <file name>` once per file: {line!r}")
        listed[name] = digest
    return listed


def history_files(directory: Path = HISTORIES) -> list[Path]:
    return sorted(directory.glob("*.json"))


def refuse_to_overwrite_released(name: str, directory: Path = HISTORIES) -> None:
    """Raise if `name` is a released history (listed in the manifest)."""
    if name in read_manifest(directory):
        raise RuntimeError(
            f"{name} is a released history (listed in tests/histories/{MANIFEST_NAME}): released histories"
            " are never re-recorded. Record a new one under a new name (the test's `history=`), then add it"
            f" with `{ADD_TO_MANIFEST}`."
        )


def add_missing_to_manifest(directory: Path = HISTORIES) -> list[str]:
    """Append the sha256 of each history file not yet in the manifest; listed lines are left as they are.

    Returns the names added.
    """
    listed = read_manifest(directory)
    new = [path for path in history_files(directory) if path.name not in listed]
    if new:
        manifest = directory / MANIFEST_NAME
        text = manifest.read_text() if manifest.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{sha256_of(path)}  {path.name}\n" for path in new)
        manifest.write_text(text)
    return [path.name for path in new]


def manifest_problems(directory: Path = HISTORIES) -> list[str]:
    """Listed histories that are missing or differ from their recorded hash."""
    problems = []
    for name, digest in read_manifest(directory).items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name} is missing")
        elif sha256_of(path) != digest:
            problems.append(f"{name} differs from its sha256 in the manifest")
    return problems


def main(argv: list[str]) -> int:
    if argv != ["manifest"]:
        print(f"usage: {ADD_TO_MANIFEST}", file=sys.stderr)
        return 2
    for name in add_missing_to_manifest():
        print(f"added {name} to tests/histories/{MANIFEST_NAME}")
    problems = manifest_problems()
    for problem in problems:
        print(f"released history {problem}: restore it (git checkout), and record a new one under a new name")
    return 1 if problems else 0


# ---- the service under test -----------------------------------------------------------------------


INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


def venv_tool(name: str) -> str | None:
    """A command from the venv's bin folder (the dev extras), or from PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server rejects unregistered custom search attributes: register them first."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: INDEXED_TYPES[kind] for name, kind in SEARCH_ATTRIBUTES.items()},
        )
    )


@dataclass
class CaseService:
    """The service under test, with helpers that read what a user would see."""

    env: WorkflowEnvironment
    api: httpx.AsyncClient
    settings: Settings
    mail: MailSink
    sessions: Any
    # The ASGI app itself, for tests that need a client of their own (an agency's browser and its cookies).
    app: Any = None

    def browser(self) -> httpx.AsyncClient:
        """A fresh client with its own cookie jar, as a separate person's browser would be."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")

    def spoc(self, locality: str = "blaby") -> dict[str, str]:
        return {"Authorization": f"Bearer {development_api_key(locality)}"}

    async def now(self) -> dt.datetime:
        return (await self.env.get_current_time()).astimezone(dt.UTC)

    async def today(self) -> dt.date:
        return london_date(await self.now())

    async def travel_to(self, day: dt.date, at: dt.time = dt.time(10, 0)) -> None:
        """Skip the test server's clock forward to `at` (London time) on `day`."""
        target = dt.datetime.combine(day, at, tzinfo=LONDON)
        gap = target - await self.now()
        if gap > dt.timedelta(0):
            await self.env.sleep(gap)

    async def apply(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.api.post("/api/cases", json=body, headers=headers)

    async def open_case(self, body: dict[str, Any]) -> str:
        response = await self.apply(body, key=uuid.uuid4().hex)
        assert response.status_code == 201, response.text
        reference: str = response.json()["reference"]
        await self.wait_for(
            reference,
            lambda case: (
                case["stage"] == "threshold_check"
                and any(r["purpose"] == "threshold" for r in case["information_requests"])
            ),
        )
        return reference

    async def act(
        self, reference: str, action: str, body: dict[str, Any], locality: str = "blaby"
    ) -> httpx.Response:
        return await self.api.post(f"/api/cases/{reference}/{action}", json=body, headers=self.spoc(locality))

    async def answer_requests(self, reference: str, purpose: str, locality: str = "blaby") -> None:
        """Record an answer by phone to each open information request of `purpose`, as the SPOC would,
        so that the decision waiting on them can be taken."""
        case = await self.wait_for(
            reference,
            lambda c: any(r["purpose"] == purpose for r in c["information_requests"]),
            locality=locality,
        )
        for request in case["information_requests"]:
            if request["purpose"] == purpose and request["state"] in ("requested", "no_contact"):
                response = await self.act(
                    reference,
                    "agency-responses",
                    {
                        "request_key": request["request_key"],
                        "records_found": "Reports on file match the application.",
                        "supports_threshold": True,
                        "received_by": "phone",
                    },
                    locality,
                )
                assert response.status_code == 200, response.text

    async def case(self, reference: str, locality: str = "blaby") -> dict[str, Any]:
        response = await self.api.get(f"/api/cases/{reference}", headers=self.spoc(locality))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def wait_for(
        self,
        reference: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 20.0,
        locality: str = "blaby",
    ) -> dict[str, Any]:
        """The case once `predicate` holds (the workflow and its activities run in real time)."""
        deadline = time.monotonic() + timeout
        while True:
            case = await self.case(reference, locality)
            if predicate(case):
                return case
            if time.monotonic() > deadline:
                raise AssertionError(f"case {reference} never reached the expected state: {case}")
            await asyncio.sleep(0.1)

    async def result(
        self, reference: str, history: str | None = None, appeal_history: str | None = None
    ) -> Any:
        """Wait (skipping time) until the case workflow completes.

        With RECORD_HISTORIES=1, the run's history is saved as tests/histories/<history>.json (and its
        appeal's as <appeal_history>.json), for the replay test that checks later workflow code against
        runs that already happened. A name listed in tests/histories/MANIFEST.sha256 (a released history)
        is refused before the case is waited for.
        """
        recording = bool(history or appeal_history) and os.environ.get("RECORD_HISTORIES") == "1"
        if recording:
            for name in (history, appeal_history):
                if name:
                    refuse_to_overwrite_released(f"{name}.json")
        handle = self.env.client.get_workflow_handle(f"Case:{reference}", result_type=CaseStatus)
        # Only handles from env.client.start_workflow skip time while waiting for a result; this case was
        # started by the API, so skip time here, a day at a time, until the case has closed.
        for _ in range(400):
            if self.case_row(reference).stage == "closed":
                break
            await self.env.sleep(dt.timedelta(days=1))
        result = await handle.result()
        if recording:
            HISTORIES.mkdir(exist_ok=True)
            if history:
                (HISTORIES / f"{history}.json").write_text((await handle.fetch_history()).to_json())
            if appeal_history:
                appeal = self.env.client.get_workflow_handle(f"Appeal:{reference}")
                (HISTORIES / f"{appeal_history}.json").write_text((await appeal.fetch_history()).to_json())
        return result

    def letters(self, case: dict[str, Any], code: str | None = None) -> list[dict[str, Any]]:
        return [letter for letter in case["letters"] if code is None or letter["code"] == code]

    def mail_about(self, reference: str) -> list[EmailMessage]:
        return [message for message in self.mail.messages() if reference in str(message["Subject"])]

    def outbox(self, reference: str, purpose: str | None = None) -> list[OutboxMessage]:
        with self.sessions() as session:
            query = select(OutboxMessage).where(OutboxMessage.case_reference == reference)
            if purpose:
                query = query.where(OutboxMessage.purpose == purpose)
            return list(session.scalars(query.order_by(OutboxMessage.id)))

    def case_row(self, reference: str) -> Case:
        with self.sessions() as session:
            case = session.scalar(select(Case).where(Case.reference == reference))
            assert case is not None
            return case


_ACTIVITY_ENDED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
_WORKFLOW_TASK_ENDED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


async def _idle(client: Client, workflow_id: str) -> bool:
    """Whether the workflow has no workflow task and no activity in flight, as its history tells: every
    task scheduled has ended."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        # The raw answer: the SDK's describe() decodes search attributes, and a cleared datetime one
        # (NextDeadline) comes back from the test server as something it cannot read.
        description = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    if (
        description.workflow_execution_info.status
        != WorkflowExecutionStatusProto.WORKFLOW_EXECUTION_STATUS_RUNNING
    ):
        return True
    activities: set[int] = set()
    workflow_task = False
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.add(event.event_id)
        elif event.event_type in _ACTIVITY_ENDED:
            activities.discard(getattr(event, _ACTIVITY_ENDED[event.event_type]).scheduled_event_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            workflow_task = True
        elif event.event_type in _WORKFLOW_TASK_ENDED:
            workflow_task = False
    if activities or workflow_task or description.pending_activities:
        return False
    return True


async def end_case_when_idle(client: Client, reference: str, patience: float = 10.0) -> None:
    """Terminate a case's workflow (and so its appeal) once nothing of it is in flight; left running if it
    never settles within `patience` seconds.

    Only when idle: the time-skipping test server keeps a lock for a workflow task or activity that was in
    flight when its workflow ended, and then never skips time again (temporalio/sdk-java#1138).
    """
    workflow_id = f"Case:{reference}"
    deadline = time.monotonic() + patience
    # The appeal, a child workflow, ends with its case (ParentClosePolicy.TERMINATE): it must be idle too.
    # Idle twice in a row, a moment apart: a task that began between the two reads is seen by the second.
    settled = 0
    while settled < 2:
        if await _idle(client, workflow_id) and await _idle(client, f"Appeal:{reference}"):
            settled += 1
        else:
            settled = 0
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)
    try:
        await client.get_workflow_handle(workflow_id).terminate("the test is over")
    except RPCError as error:
        if error.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):  # closed
            raise


def test_settings(tmp_path: Path, mail: MailSink) -> Settings:
    return Settings(
        environment="development",  # the development SPOCs are seeded
        database_url=f"sqlite:///{tmp_path / 'cases.db'}",
        smtp_host=mail.host,
        smtp_port=mail.port,
        public_base_url="http://testserver",
        localities_dir=PROJECT_ROOT / "localities",
        mail_sink_dir=mail.directory,
        temporal_task_queue=f"cases-{uuid.uuid4().hex[:8]}",
    )


def application(**overrides: Any) -> dict[str, Any]:
    """A realistic application to Blaby that meets the threshold on the date it is sent."""
    today: dt.date = overrides.pop("today")
    body: dict[str, Any] = {
        "locality": "blaby",
        "applicant": {
            "name": "Alex Example",
            "email": "alex@example.test",
            "phone": None,
            "address": "1 High Street, Narborough",
            "postcode": "LE19 2AA",
            "is_business": False,
        },
        "on_behalf_of": None,
        "incidents": [
            {
                "occurred_on": (today - dt.timedelta(days=days)).isoformat(),
                "reported_on": (today - dt.timedelta(days=days - 1)).isoformat(),
                "reported_to": reported_to,
                "organisation": organisation,
                "reference": f"REF-{days}",
                "description": "Loud music and shouting late at night.",
            }
            for days, reported_to, organisation in (
                (60, "police", "Leicestershire Police"),
                (40, "council", "Blaby District Council"),
                (20, "housing_provider", "East Midlands Homes"),
            )
        ],
        "hate_incident": False,
        "hate_incident_details": None,
        "no_effective_action": True,
        "consent_to_share": True,
        "contact_preference": "email",
    }
    body.update(overrides)
    return body


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
