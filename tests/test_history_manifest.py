"""Released replay histories are never re-recorded.

tests/histories/MANIFEST.sha256 lists every released history with its sha256. A listed file that is
missing or changed fails here: the replay test would then check the workflow against a run that never
happened in production, and stop checking one that did. A history file not in the manifest fails too, so
that a new one is added deliberately (see tests/support.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import (
    ADD_TO_MANIFEST,
    MANIFEST_NAME,
    CaseService,
    add_missing_to_manifest,
    history_files,
    manifest_problems,
    read_manifest,
    refuse_to_overwrite_released,
    sha256_of,
)

NEVER_RE_RECORDED = "released histories are never re-recorded: record a new one under a new name"


def test_every_released_history_is_present_and_unchanged() -> None:
    problems = manifest_problems()
    assert not problems, f"{NEVER_RE_RECORDED} (and restore the released file from git): " + "; ".join(
        problems
    )


def test_every_history_is_in_the_manifest() -> None:
    listed = read_manifest()
    unlisted = [path.name for path in history_files() if path.name not in listed]
    assert not unlisted, (
        f"history files not in tests/histories/{MANIFEST_NAME}: {', '.join(unlisted)}. Once the history is"
        f" final (released with the workflow code it was recorded with), add it with `{ADD_TO_MANIFEST}`"
    )


def test_the_manifest_lists_the_histories_released_so_far() -> None:
    assert len(read_manifest()) >= 28  # as many as when the manifest was introduced


def test_recording_refuses_a_released_name() -> None:
    with pytest.raises(RuntimeError, match="never re-recorded"):
        refuse_to_overwrite_released("met-path.json")
    refuse_to_overwrite_released("met-path-v99.json")  # a new name is fine


async def test_case_service_refuses_to_record_over_a_released_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused before the case is even waited for (so nothing here needs a server)."""
    monkeypatch.setenv("RECORD_HISTORIES", "1")
    service = CaseService(env=None, api=None, settings=None, mail=None, sessions=None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"met-path-v3\.json is a released history"):
        await service.result("BLA-2026-0001", history="met-path-v3")


def test_adding_to_the_manifest_appends_and_leaves_listed_lines_alone(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text('{"events": []}\n')
    (tmp_path / MANIFEST_NAME).write_text(f"{'0' * 64}  old.json\n")
    (tmp_path / "new.json").write_text('{"events": [1]}\n')

    assert add_missing_to_manifest(tmp_path) == ["new.json"]
    assert (tmp_path / MANIFEST_NAME).read_text() == (
        f"{'0' * 64}  old.json\n{sha256_of(tmp_path / 'new.json')}  new.json\n"
    )
    assert manifest_problems(tmp_path) == ["old.json differs from its sha256 in the manifest"]
    assert add_missing_to_manifest(tmp_path) == []
