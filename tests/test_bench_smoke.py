"""`make bench` cannot rot: its cheapest sections run in quick mode (the recorded histories' sizes; the
dashboard and the JSON list on a small SQLite database) and print their figures and verdicts. The figures
mean nothing at this size and nothing here is timed; the benchmark itself is `make bench`."""

from __future__ import annotations

import pytest

from bench.__main__ import main


def test_the_quick_benchmark_prints_every_figure_of_its_cheapest_sections(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--quick", "--only", "history,dashboard", "--cases", "500"])
    printed = capsys.readouterr().out
    for figure in (
        "longest realistic (recorded)",
        "list: a page deep (cursor)",
        "a page deep in the list (keyset)",
        "history: longest case vs Temporal's warning",
        "dashboard worst p95",
        "list (JSON) worst p95",
        "Summary",
    ):
        assert figure in printed, figure
