"""What every section of the benchmark shares: percentiles, spare ports, a process's resident memory, and
the lines that print a figure beside its reference and say whether the ratio the issue sets is met."""

from __future__ import annotations

import socket
import statistics
from dataclasses import dataclass, field
from pathlib import Path


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Latency:
    """p50, p95 and p99 of some timings, in milliseconds."""

    p50: float
    p95: float
    p99: float
    count: int

    @classmethod
    def of(cls, milliseconds: list[float]) -> Latency:
        if not milliseconds:
            return cls(0.0, 0.0, 0.0, 0)
        return cls(
            statistics.median(milliseconds),
            percentile(milliseconds, 0.95),
            percentile(milliseconds, 0.99),
            len(milliseconds),
        )

    def __str__(self) -> str:
        return f"{self.p50:8.1f} {self.p95:8.1f} {self.p99:8.1f}"


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def resident_mib(pid: int) -> float:
    """The process's resident set size (Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Verdict:
    section: str
    figure: str
    value: str
    target: str
    met: bool | None  # None: a figure with no target (for the record)


@dataclass
class Verdicts:
    """Every ratio the run checked, printed together at the end."""

    items: list[Verdict] = field(default_factory=list)

    def add(self, section: str, figure: str, value: str, target: str, met: bool | None) -> None:
        self.items.append(Verdict(section, figure, value, target, met))
        mark = {True: "met", False: "NOT MET", None: "-"}[met]
        print(f"  => {figure}: {value} (target {target}): {mark}", flush=True)

    def summary(self) -> bool:
        print("\nSummary")
        width = max((len(f"{v.section}: {v.figure}") for v in self.items), default=10)
        for v in self.items:
            mark = {True: "met", False: "NOT MET", None: "-"}[v.met]
            print(f"  {f'{v.section}: {v.figure}':<{width}}  {v.value:>22}  {v.target:<18} {mark}")
        return all(v.met is not False for v in self.items)


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 96 - len(title)), flush=True)
