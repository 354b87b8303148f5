"""`make bench`: every section of the benchmark in one run, each figure beside its reference and the ratio
the issue sets (README, "Performance"); a summary of every ratio at the end. Exits 1 if one is not met.

    python -m bench [--quick] [--only rates,api,dashboard,memory,history] [--no-postgres]
                    [--memory-cases 1000,10000]

`--quick` runs small sizes (the smoke test's mode): the figures are then only a sign of life.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time

from bench import dashboard, history, latency, memory, rates
from bench.common import Verdicts

SECTIONS = ("history", "dashboard", "rates", "api", "memory")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections, of {', '.join(SECTIONS)}")
    parser.add_argument("--no-postgres", action="store_true", help="the dashboard and the API on SQLite only")
    parser.add_argument("--cases", type=int, help="cases in the dashboard's database (100,000)")
    parser.add_argument("--memory-cases", help="open cases at which to read the worker's memory (1000,10000)")
    parser.add_argument("--lifecycles", type=int, help="full case lifecycles run at once (40)")
    arguments = parser.parse_args(argv)
    only = [name.strip() for name in arguments.only.split(",") if name.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    quick = arguments.quick
    memory_cases = [int(n) for n in (arguments.memory_cases or ("30" if quick else "1000,10000")).split(",")]
    lifecycles = arguments.lifecycles or (3 if quick else 40)
    print(
        f"community-trigger benchmark on {platform.node()}: {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
        + (" (quick: sizes too small to mean anything)" if quick else ""),
        flush=True,
    )
    verdicts = Verdicts()
    started = time.perf_counter()
    for section in SECTIONS:
        if section not in only:
            continue
        if section == "history":
            history.run(verdicts, quick=quick)
        elif section == "dashboard":
            cases = arguments.cases or (2_000 if quick else 100_000)
            dashboard.run(
                verdicts, cases=cases, runs=5 if quick else 60, postgres=not (quick or arguments.no_postgres)
            )
        elif section == "rates":
            asyncio.run(rates.run(verdicts, engine_count=lifecycles, lifecycle_count=lifecycles))
        elif section == "api":
            asyncio.run(
                latency.run(
                    verdicts,
                    cases=8 if quick else 40,
                    repeats=2 if quick else 10,
                    postgres=not (quick or arguments.no_postgres),
                )
            )
        elif section == "memory":
            asyncio.run(memory.run(verdicts, sizes=memory_cases))
    ok = verdicts.summary()
    print(f"\nin {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
