"""Facts about this machine and software, for the report."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path

import psycopg

from tests.conftest import POSTGRES_ADMIN_URL


def machine_facts() -> dict[str, str]:
    return {
        "nproc (CPUs usable)": str(len(os.sched_getaffinity(0))),
        "CPU": _cpu_model(),
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "grpcio / protobuf / eventsourcing / psycopg": " / ".join(
            version(p) for p in ("grpcio", "protobuf", "eventsourcing", "psycopg")
        ),
        "PostgreSQL": _postgres_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _postgres_version() -> str:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"{row[0] if row else '?'} at 127.0.0.1:5432 (same machine)"
