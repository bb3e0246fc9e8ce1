"""The rebuild part of phase 5 alone (section 5b): `.venv/bin/python -m tests.bench.rebuild_only`.

The same data, measurement and section as `make bench` (tests/bench/history_phase.py),
without the audit history (a million rows to load) and the replicas, for measuring a
change to the rebuild. Prints the section to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

from tests.bench.history_phase import _rebuild_part
from tests.bench.history_report import _rebuild_section
from tests.bench.settings import Settings


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.rebuild_only")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians)")
    args = parser.parse_args(argv)
    settings = Settings(args.rounds, 0.0, 0.0, None)  # type: ignore[arg-type]
    waits: list[float] = []
    rebuild = _rebuild_part(settings, waits, lambda text: print(text, file=sys.stderr))
    print("\n".join(_rebuild_section(SimpleNamespace(rebuild=rebuild))))  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv[1:])
