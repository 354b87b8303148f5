"""Replays stored histories of real case runs against today's workflow code.

A change to the workflow that would break a case already running (a non-deterministic change without
`workflow.patched`) fails here. Histories are recorded by the end-to-end tests with RECORD_HISTORIES=1
(see the README) and committed under tests/histories/. Released ones are listed with their sha256 in
tests/histories/MANIFEST.sha256 and never re-recorded (tests/test_history_manifest.py).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests import support
from workflows.appeal import AppealWorkflow
from workflows.case import AGENCY_CHASING, APPEAL_WORKFLOW, LEAN_HISTORY, WORKFLOW_RUNNER, CaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_replay_histories_are_committed() -> None:
    names = {path.stem for path in HISTORIES}
    # Runs from before agency chasing (no "agency-chasing" patch marker): they must keep replaying.
    assert {"met-path", "not-met", "rejected", "threshold-late-withdrawn", "appeal-decided"} <= names
    # Runs with agency chasing: links, reminders, escalation, resend, extension, waiver, failed mail.
    assert {
        "met-path-v2",
        "agencies-chased-v2",
        "request-waived-v2",
        "request-extended-v2",
        "request-resent-v2",
        "mail-failed-v2",
    } <= names
    # Runs with lean histories and bank holidays in the input (v3): every path above, and update-outcome
    # letters, outcome reminders, new-link requests, chasing in the review stage, a withdrawal during the
    # appeal, and a bank-holiday change.
    assert {
        f"{name}-v3" for name in ("met-path", "agencies-chased", "request-resent", "mail-failed")
    } <= names
    assert {"longest-case-v3", "appeal-withdrawn-v3", "calendar-changed-v3"} <= names
    # Cases that reached their appeal once appeals ran as child workflows (v4), and the appeals
    # themselves (a1): every route through the appeal.
    assert {
        f"{name}-v4" for name in ("appeal-upheld", "appeal-criteria-not-met", "appeal-withdrawn")
    } <= names
    assert {
        f"{name}-a1"
        for name in (
            "appeal-upheld",
            "appeal-criteria-not-met",
            "appeal-withdrawn",
            "appeal-late",
            "appeal-consent",
            "appeal-link-resent",
        )
    } <= names


def test_each_generation_of_histories_has_the_patch_markers_of_its_time() -> None:
    """The replay of the old histories exercises the unpatched branches, the new ones the patched ones."""
    for path in HISTORIES:
        generation = path.stem.rsplit("-", 1)[-1]
        expected = {
            "v2": {AGENCY_CHASING},
            "v3": {AGENCY_CHASING, LEAN_HISTORY},
            "v4": {AGENCY_CHASING, LEAN_HISTORY, APPEAL_WORKFLOW},
        }.get(generation, set())
        assert patches_in(path) == expected, path.stem


def patches_in(path: Path) -> set[str]:
    """The ids of the `workflow.patched` markers recorded in a history file."""
    found = set()
    for event in json.loads(path.read_text())["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_patch":
            for payload in marker["details"]["patch-data"]["payloads"]:
                found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_replay_stored_history_with_current_workflow_code(path: Path) -> None:
    kind = "Appeal" if path.stem.endswith("-a1") else "Case"
    history = WorkflowHistory.from_json(f"{kind}:{path.stem}", path.read_text())
    replayer = Replayer(
        workflows=[CaseWorkflow, AppealWorkflow],
        data_converter=support.DATA_CONVERTER,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(history)
