"""How long a letter's PDF takes to make and how big it is: renders every letter (with the test suite's
realistic contexts) a few times and prints, for each, its pages, its size and the median time of
`activities.letter_pdf.render_letter_pdf` (the letter's HTML and WeasyPrint's layout and PDF). Not a test.

    .venv/bin/python bench/letter_pdf.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# The test suite's contexts: tests/ is not an installed package, so from the project's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.letter_pdf import render_letter_pdf
from tests.test_letter_pdfs import RENDERER, context_of
from workflows.models import LetterCode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    # The first letter pays for loading fonts and parsing the style sheet, once a process.
    started = time.perf_counter()
    render_letter_pdf(RENDERER, "letters/letter-1.j2", context_of(LetterCode.ACKNOWLEDGEMENT))
    print(f"first letter of the process: {(time.perf_counter() - started) * 1000:.0f} ms")
    print(f"{'letter':<18} {'pages':>5} {'KB':>5} {'median ms':>10}")
    for code in LetterCode:
        context = context_of(code)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            pdf = render_letter_pdf(RENDERER, f"letters/{code.value}.j2", context)
            times.append(time.perf_counter() - started)
        size, median = len(pdf.content) / 1024, statistics.median(times) * 1000
        print(f"{code.value:<18} {pdf.pages:>5} {size:>5.1f} {median:>10.0f}")


if __name__ == "__main__":
    main()
