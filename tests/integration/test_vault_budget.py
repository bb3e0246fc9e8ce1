"""One vault budget for every replica (adapters/vault_budget.py) on real PostgreSQL:
two budgets stand for two replicas sharing one schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.vault_budget import PostgresVaultBudget, SharedVaultPacer
from service.runtime.config import Config
from tests.conftest import postgres_schema_url

pytestmark = pytest.mark.postgres
VAULT = "https://shared.vault.azure.net"


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    for url in postgres_schema_url():
        yield Config(database_url=url).persistence_env()


@pytest.fixture
def replicas(env) -> Iterator[tuple[PostgresVaultBudget, PostgresVaultBudget]]:
    budgets = (
        PostgresVaultBudget(env, sets=3, transactions=5, window=30.0),
        PostgresVaultBudget(env, sets=3, transactions=5, window=30.0),
    )
    yield budgets
    for budget in budgets:
        budget.close()


def test_replicas_share_one_window_of_sets(replicas):
    one, two = replicas
    waits = [one.reserve(VAULT, True), two.reserve(VAULT, True), one.reserve(VAULT, True)]
    assert waits == [0.0, 0.0, 0.0]  # three sets fit the window, whoever sends them
    fourth = two.reserve(VAULT, True)  # one more must wait for the first to leave it
    assert 29.0 < fourth <= 30.0
    assert one.reserve(VAULT, True) > fourth - 0.1  # and the next after the second


def test_reads_fill_the_window_of_all_requests_but_not_of_sets(replicas):
    one, two = replicas
    assert [one.reserve(VAULT, False) for _ in range(3)] == [0.0] * 3
    assert [two.reserve(VAULT, True) for _ in range(2)] == [0.0] * 2  # 5 requests in all
    assert one.reserve(VAULT, False) > 29.0  # the sixth request of any kind waits


def test_vaults_have_budgets_of_their_own(replicas):
    one, _ = replicas
    for _ in range(3):
        one.reserve(VAULT, True)
    assert one.reserve("https://other.vault.azure.net", True) == 0.0


def test_an_unreachable_database_falls_back_to_pacing_alone(env):
    broken = PostgresVaultBudget({**env, "POSTGRES_PORT": "1"})  # nothing listens there
    slept: list[float] = []
    pacer = SharedVaultPacer(VAULT, broken, sleep=slept.append)
    pacer.before(True)  # no error: the process's own pacer took it
    assert slept == []
    assert len(pacer.fallback.sets._starts) == 1
