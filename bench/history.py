"""The history of the longest realistic case (tests/test_history_size.py: both decisions 60 working days late,
ten organisations chased with extensions, resends and new links), in events and bytes, beside Temporal's
warning (10,240 events, 10 MB) and limit (51,200 events, 50 MB); and a typical met-path case's. The quick
mode reads the histories the tests recorded; the full mode runs the test again on this code."""

from __future__ import annotations

import re
import subprocess
import sys

from temporalio.client import WorkflowHistory

from bench.common import Verdicts, heading
from core.config import PROJECT_ROOT

HISTORIES = PROJECT_ROOT / "tests" / "histories"
WARN_EVENTS = 10_240
WARN_BYTES = 10 * 1024 * 1024


def recorded(name: str) -> tuple[int, int, int]:
    """A recorded history's events, bytes as Temporal stores them (protobuf) and as JSON."""
    text = (HISTORIES / name).read_text()
    history = WorkflowHistory.from_json("bench", text)
    return len(history.events), sum(event.ByteSize() for event in history.events), len(text)


def run_the_test() -> tuple[int, int]:
    """Run tests/test_history_size.py: the events and JSON bytes it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_history_size.py", "-q", "-s", "-p", "no:cacheprovider"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"longest realistic case: (\d+) history events, (\d+) bytes", done.stdout)
    assert done.returncode == 0 and found, done.stdout[-3000:] + done.stderr[-2000:]
    return int(found[1]), int(found[2])


def run(verdicts: Verdicts, *, quick: bool) -> None:
    heading("History size")
    print(f"  {'case':<44} {'events':>7} {'bytes (proto)':>14} {'bytes (JSON)':>13}")
    for label, name in (
        ("met path (recorded)", "met-path-v3.json"),
        ("longest realistic (recorded)", "longest-case-v3.json"),
    ):
        events, proto, json_bytes = recorded(name)
        print(f"  {label:<44} {events:7,} {proto:14,} {json_bytes:13,}")
    if not quick:
        events, json_bytes = run_the_test()
        print(f"  {'longest realistic (run now)':<44} {events:7,} {'':>14} {json_bytes:13,}")
    else:
        events, _, json_bytes = recorded("longest-case-v3.json")
    share = max(events / WARN_EVENTS, json_bytes / WARN_BYTES)
    verdicts.add(
        "history",
        "longest case vs Temporal's warning",
        f"{events:,} events {share:.0%}",
        "< 30% of 10,240/10 MB",
        share < 0.3,
    )
