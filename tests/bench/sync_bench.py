"""Key Vault sync: our service's worker vs the reference implementation's way, same run.

One emulator process (20 ms per request, Key Vault's per-vault limits: 300 sets
and 4,000 transactions per 10 s, 429 beyond) serves both. Each round, each side
gets a fresh vault (emptied, counts zeroed, throttling windows new), makes an
initial sync of the same 1,000 secrets and then a no-op re-sync (nothing changed
in the source). The emulator's request counts are the one instrument for both.
Sides alternate which goes first from round to round.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from keyvault_emulator.handlers import MAX_PAGE
from keyvault_emulator.ratelimit import RateLimit
from tests.bench.emulator_process import EmulatorProcess, start_emulator, vault_requests
from tests.bench.reference_sync import ReferenceResult
from tests.bench.servers import REPO
from tests.bench.sync_ours import JobOutcome, OursClient, start_ours_with_jobs
from tests.bench.sync_secrets import SECRET_COUNT, bench_secrets

REFERENCE_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class SyncSettings:
    rounds: int = 1  # one round is two ~30-55 s syncs per side
    secrets: int = SECRET_COUNT
    latency_ms: float = 20.0
    limit: RateLimit = field(default_factory=RateLimit)  # Key Vault's documented numbers

    def lower_bound(self, counts: dict[str, int]) -> float:
        """Seconds no client can beat: the larger of sets / set rate, requests / rate."""
        window = self.limit.window_seconds
        sets = counts.get("set", 0) - counts.get("throttled", 0)  # refused ones are not work
        return max(
            sets * window / self.limit.sets, vault_requests(counts) * window / self.limit.total
        )

    @property
    def pages(self) -> int:
        """Pages of a listing of the synced secrets (the emulator's, and Key Vault's, 25)."""
        return math.ceil(self.secrets / MAX_PAGE)


@dataclass(frozen=True)
class Run:
    """One sync by one side: its time, what the emulator saw, keys that failed."""

    seconds: float
    counts: dict[str, int]
    written: int  # secrets set in the vault
    failed: int
    detail: str  # our job message, or the reference's result


@dataclass
class SyncBench:
    settings: SyncSettings
    ours: list[tuple[Run, Run]] = field(default_factory=list)  # (initial, no-op) per round
    reference: list[tuple[Run, Run]] = field(default_factory=list)
    ours_peak_rss_kib: int = 0  # VmHWM of our server process, after every run
    reference_peak_rss_kib: int = 0  # the largest of the reference processes'


def bench_sync(settings: SyncSettings, workdir: Path, say: Callable[[str], None]) -> SyncBench:
    bench = SyncBench(settings)
    secrets = bench_secrets(settings.secrets)
    with ExitStack() as stack:
        emulator = start_emulator(workdir, settings.latency_ms, settings.limit)
        stack.callback(emulator.stop)
        server = start_ours_with_jobs(workdir, emulator.ca_path)
        stack.callback(server.stop)
        say(f"  emulator at {emulator.vault_url}; ours pid {server.process.pid}")
        channel = stack.enter_context(grpc.insecure_channel(server.target))
        ours = OursClient(channel, emulator)
        ours.seed(secrets)
        for number in range(settings.rounds):
            sides = [_ours_round, _reference_round]
            for side in sides if number % 2 == 0 else sides[::-1]:
                side(bench, emulator, ours, say)
        bench.ours_peak_rss_kib = _vm_hwm_kib(server.process.pid)
    return bench


def _ours_round(
    bench: SyncBench, emulator: EmulatorProcess, ours: OursClient, say: Callable[[str], None]
) -> None:
    emulator.fresh_vault(bench.settings.latency_ms, bench.settings.limit)
    sync_id, job = ours.initial_sync()
    initial = _our_run(job, emulator)
    say(f"  ours: initial sync {initial.seconds:.1f} s ({job.message[:80]})")
    noop = _our_run(ours.resync(sync_id), emulator)
    say(f"  ours: no-op re-sync {noop.seconds:.2f} s, {noop.counts.get('total', 0)} requests")
    bench.ours.append((initial, noop))


def _our_run(job: JobOutcome, emulator: EmulatorProcess) -> Run:
    counts = emulator.counts()
    emulator.admin("DELETE", "counts")
    return Run(job.seconds, counts, job.written(), job.failed_keys(), job.message)


def _reference_round(
    bench: SyncBench, emulator: EmulatorProcess, ours: OursClient, say: Callable[[str], None]
) -> None:
    emulator.fresh_vault(bench.settings.latency_ms, bench.settings.limit)
    runs = []
    for what in ("initial sync", "no-op re-sync"):
        result = run_reference(emulator, bench.settings.secrets)
        counts = emulator.counts()
        emulator.admin("DELETE", "counts")
        bench.reference_peak_rss_kib = max(bench.reference_peak_rss_kib, result.peak_rss_kib)
        detail = f"{result.written} written, {result.fixed_sleeps} fixed sleeps {result.error}"
        runs.append(Run(result.seconds, counts, result.written, result.failed, detail.strip()))
        say(f"  reference: {what} {result.seconds:.1f} s ({detail.strip()})")
    bench.reference.append((runs[0], runs[1]))


def run_reference(emulator: EmulatorProcess, secrets: int) -> ReferenceResult:
    """One sync by `python -m tests.bench.reference_sync` (timed inside that process)."""
    facts = emulator.facts
    args = [sys.executable, "-m", "tests.bench.reference_sync", "--secrets", str(secrets)]
    for name in ("vault_url", "tenant_id", "client_id", "client_secret", "ca_path"):
        args += [f"--{name.replace('_', '-')}", facts[name]]
    done = subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=REFERENCE_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the reference sync failed:\n{done.stderr[-3000:]}")
    return ReferenceResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def _vm_hwm_kib(pid: int) -> int:
    """Peak resident set size of a live process (Linux /proc, "VmHWM: N kB")."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
