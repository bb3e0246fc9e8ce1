"""How long and how often `make bench` measures, and where it writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    rounds: int  # each benchmark runs this many times, alternated; medians are reported
    warmup: float  # seconds of load before measuring starts
    seconds: float  # measured seconds per run
    output: Path
