"""Unit tests for the SecretSync aggregate and the NameClaim aggregate (no store, no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot

from domain.errors import AlreadyExists, FailedPrecondition, NameTaken, SecretSyncNotFound
from domain.name_claim import PROJECT_SLUGS, NameClaim, sync_names
from domain.options import (
    MAX_JOB_MESSAGE,
    ImportBehavior,
    InitialSyncBehavior,
    JobKind,
    JobStatus,
)
from domain.rules import SyncSettings
from domain.secret_sync import SecretSync, etag_for

PROJECT = "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def make_settings(**overrides: Any) -> SyncSettings:
    values: dict[str, Any] = {
        "name": "my-sync",
        "description": "an example sync",
        "is_enabled": True,
        "connection_id": "0b1e3c52-7a6f-4d0e-9c1b-2f3a4b5c6d7e",
        "environment": "dev",
        "secret_path": "/my-secrets",
        "vault_base_url": "https://my-vault.vault.azure.net",
        "initial_sync_behavior": InitialSyncBehavior.OVERWRITE_DESTINATION,
        "key_schema": "",
        "disable_secret_deletion": False,
    }
    values.update(overrides)
    return SyncSettings(**values)


def new_sync() -> SecretSync:
    return SecretSync.create(PROJECT, make_settings(), actor="alice", request_id="req-create")


def fresh_sync() -> SecretSync:
    """A created sync whose Created event has already been collected."""
    sync = new_sync()
    sync.collect_events()
    return sync


def reason_of(raised: pytest.ExceptionInfo[Any]) -> str:
    return raised.value.reason


def state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def running(sync: SecretSync, kind: JobKind = JobKind.SYNC, job_id: str = "job-1") -> None:
    """Request and start one job of `kind`."""
    request(sync, kind, job_id)
    sync.start_job(kind, job_id, "worker-1", NOW, LEASE)


def request(sync: SecretSync, kind: JobKind, job_id: str, then_delete: bool = False) -> None:
    if kind is JobKind.SYNC:
        sync.request_sync(job_id, "manual", "alice", "req-" + job_id)
    elif kind is JobKind.IMPORT:
        sync.request_import(job_id, ImportBehavior.PRIORITIZE_SOURCE, "alice", "req-" + job_id)
    else:
        sync.request_remove(job_id, then_delete, "alice", "req-" + job_id)


# --- creating -----------------------------------------------------------------


def test_create_records_created_with_actor_and_request_id():
    sync = new_sync()
    (event,) = sync.collect_events()
    assert isinstance(event, SecretSync.Created)
    assert event.actor == "alice"
    assert event.request_id == "req-create"
    assert event.project_id == PROJECT
    assert event.settings["name"] == "my-sync"
    # Stored as the plain string, so the event is JSON-native.
    assert event.settings["initial_sync_behavior"] == "overwrite-destination"
    assert type(event.settings["initial_sync_behavior"]) is str


def test_create_sets_the_initial_state():
    sync = new_sync()
    assert sync.version == 1
    assert sync.project_id == PROJECT
    assert sync.settings() == make_settings()
    assert sync.deleted is False
    assert sync.source == {
        "folder_id": "",
        "environment_id": "",
        "environment_name": "",
        "problem": "",
    }
    for kind in JobKind:
        job = sync.job(kind)
        assert job["status"] is None
        assert job["job_id"] == ""
        assert job["running_job_id"] == ""
        assert job["then_delete"] is False
    assert sync.running_job(NOW) is None


def test_each_sync_has_its_own_job_records():
    one, two = new_sync(), new_sync()
    request(one, JobKind.SYNC, "job-1")
    assert two.job(JobKind.SYNC)["status"] is None
    assert one.job(JobKind.IMPORT)["status"] is None


# --- updating -----------------------------------------------------------------


def test_update_records_old_and_new_of_changed_fields_only():
    sync = fresh_sync()
    wanted = make_settings(description="changed", is_enabled=False)
    changes = sync.update(wanted, "bob", "req-update")
    assert changes == {"description": ["an example sync", "changed"], "is_enabled": [True, False]}
    (event,) = sync.collect_events()
    assert isinstance(event, SecretSync.Updated)
    assert event.changes == changes
    assert (event.actor, event.request_id) == ("bob", "req-update")
    assert sync.settings() == wanted
    assert sync.version == 2


def test_update_of_initial_sync_behavior_stores_plain_strings():
    sync = fresh_sync()
    wanted = make_settings(initial_sync_behavior=InitialSyncBehavior.IMPORT_PRIORITIZE_SOURCE)
    changes = sync.update(wanted, "bob", "req-update")
    assert changes == {
        "initial_sync_behavior": ["overwrite-destination", "import-prioritize-source"]
    }
    assert all(type(v) is str for v in changes["initial_sync_behavior"])
    assert sync.settings().initial_sync_behavior is InitialSyncBehavior.IMPORT_PRIORITIZE_SOURCE


def test_update_without_changes_records_nothing():
    sync = fresh_sync()
    etag = sync.etag
    assert sync.update(make_settings(), "bob", "req-update") == {}
    assert sync.collect_events() == []
    assert sync.version == 1
    assert sync.etag == etag


# --- the source folder --------------------------------------------------------


def test_locate_and_lose_source():
    sync = fresh_sync()
    sync.locate_source("folder-1", "env-1", "Development", "alice", "req-1")
    assert sync.source == {
        "folder_id": "folder-1",
        "environment_id": "env-1",
        "environment_name": "Development",
        "problem": "",
    }
    sync.locate_source("folder-1", "env-1", "Development", "alice", "req-2")  # no change
    sync.lose_source("folder deleted", "alice", "req-3")
    sync.lose_source("folder deleted", "alice", "req-4")  # same problem: no change
    assert sync.source["problem"] == "folder deleted"
    assert sync.source["folder_id"] == "folder-1"
    sync.locate_source("folder-1", "env-1", "Development", "alice", "req-5")  # found again
    assert sync.source["problem"] == ""
    events = sync.collect_events()
    assert [type(e).__name__ for e in events] == ["SourceLocated", "SourceLost", "SourceLocated"]
    assert [e.request_id for e in events] == ["req-1", "req-3", "req-5"]


# --- requesting jobs ----------------------------------------------------------


def test_request_sync_sets_pending_and_job_id():
    sync = fresh_sync()
    sync.request_sync("job-1", "manual", "alice", "req-1")
    job = sync.job(JobKind.SYNC)
    assert (job["status"], job["job_id"]) == ("pending", "job-1")
    (event,) = sync.collect_events()
    assert isinstance(event, SecretSync.SyncRequested)
    assert (event.kind, event.job_id, event.reason) == ("sync", "job-1", "manual")
    assert (event.actor, event.request_id) == ("alice", "req-1")


def test_request_import_sets_pending_job_id_and_behavior():
    sync = fresh_sync()
    sync.request_import("imp-1", ImportBehavior.PRIORITIZE_DESTINATION, "alice", "req-1")
    job = sync.job(JobKind.IMPORT)
    assert job["status"] == JobStatus.PENDING.value
    assert job["job_id"] == "imp-1"
    assert job["import_behavior"] == "prioritize-destination"
    assert sync.job(JobKind.SYNC)["status"] is None


@pytest.mark.parametrize("then_delete", [True, False])
def test_request_remove_sets_pending_job_id_and_then_delete(then_delete):
    sync = fresh_sync()
    sync.request_remove("rm-1", then_delete, "alice", "req-1")
    job = sync.job(JobKind.REMOVE)
    assert (job["status"], job["job_id"], job["then_delete"]) == ("pending", "rm-1", then_delete)
    (event,) = sync.collect_events()
    assert isinstance(event, SecretSync.RemoveRequested)
    assert event.then_delete is then_delete


def test_a_newer_request_replaces_the_pending_job():
    sync = fresh_sync()
    request(sync, JobKind.SYNC, "job-1")
    request(sync, JobKind.SYNC, "job-2")
    assert sync.job(JobKind.SYNC)["job_id"] == "job-2"
    with pytest.raises(FailedPrecondition) as raised:
        sync.start_job(JobKind.SYNC, "job-1", "w", NOW, LEASE)
    assert reason_of(raised) == "JOB_NOT_PENDING"


@pytest.mark.parametrize("kind", list(JobKind))
def test_requests_are_refused_while_the_sync_is_being_deleted(kind):
    sync = fresh_sync()
    sync.request_remove("rm-1", True, "alice", "req-1")
    with pytest.raises(FailedPrecondition) as raised:
        request(sync, kind, "job-2")
    assert reason_of(raised) == "SYNC_BEING_DELETED"
    assert sync.job(JobKind.REMOVE)["job_id"] == "rm-1"


# --- running jobs ---------------------------------------------------------------


def test_start_job_claims_the_pending_job():
    sync = fresh_sync()
    request(sync, JobKind.SYNC, "job-1")
    sync.collect_events()
    sync.start_job(JobKind.SYNC, "job-1", "worker-1", NOW, LEASE)
    job = sync.job(JobKind.SYNC)
    assert job["status"] == "running"
    assert job["running_job_id"] == "job-1"
    assert job["worker"] == "worker-1"
    assert job["lease_until"] == (NOW + LEASE).isoformat()
    assert sync.running_job(NOW) == ("sync", "job-1")
    (event,) = sync.collect_events()
    assert isinstance(event, SecretSync.JobStarted)
    assert (event.actor, event.request_id) == ("worker", "job-1")


@pytest.mark.parametrize(
    "job_id", ["job-unknown", ""], ids=["other-id", "empty-id"]
)
def test_start_job_refuses_a_job_that_is_not_the_latest(job_id):
    sync = fresh_sync()
    request(sync, JobKind.SYNC, "job-1")
    with pytest.raises(FailedPrecondition) as raised:
        sync.start_job(JobKind.SYNC, job_id, "w", NOW, LEASE)
    assert reason_of(raised) == "JOB_NOT_PENDING"


def test_start_job_refuses_when_nothing_was_requested():
    with pytest.raises(FailedPrecondition) as raised:
        fresh_sync().start_job(JobKind.SYNC, "", "w", NOW, LEASE)
    assert reason_of(raised) == "JOB_NOT_PENDING"


def test_start_job_refuses_a_job_already_running_while_its_lease_lives():
    sync = fresh_sync()
    running(sync)
    with pytest.raises(FailedPrecondition) as raised:
        sync.start_job(JobKind.SYNC, "job-1", "worker-2", NOW + LEASE / 2, LEASE)
    assert reason_of(raised) == "JOB_RUNNING"


def test_start_job_refuses_the_wrong_kind():
    sync = fresh_sync()
    request(sync, JobKind.SYNC, "job-1")
    with pytest.raises(FailedPrecondition) as raised:
        sync.start_job(JobKind.IMPORT, "job-1", "w", NOW, LEASE)
    assert reason_of(raised) == "JOB_NOT_PENDING"


@pytest.mark.parametrize("first", list(JobKind))
@pytest.mark.parametrize("second", list(JobKind))
def test_start_job_refuses_while_any_job_holds_a_live_lease(first, second):
    sync = fresh_sync()
    running(sync, first, "job-1")
    request(sync, second, "job-2")
    sync.collect_events()
    for moment in (NOW, NOW + LEASE - timedelta(microseconds=1)):
        with pytest.raises(FailedPrecondition) as raised:
            sync.start_job(second, "job-2", "worker-2", moment, LEASE)
        assert reason_of(raised) == "JOB_RUNNING"
    assert sync.collect_events() == []
    assert sync.job(second)["status"] == "pending"


@pytest.mark.parametrize("first", list(JobKind))
@pytest.mark.parametrize("second", list(JobKind))
def test_start_job_is_allowed_once_the_lease_expired(first, second):
    sync = fresh_sync()
    running(sync, first, "job-1")
    request(sync, second, "job-2")
    assert sync.running_job(NOW + LEASE) is None  # the lease ends at lease_until
    later = NOW + LEASE
    sync.start_job(second, "job-2", "worker-2", later, LEASE)
    assert sync.job(second)["status"] == "running"
    assert sync.job(second)["worker"] == "worker-2"
    assert sync.running_job(later) == (second.value, "job-2")


def test_succeed_job_records_status_message_counts_and_time():
    sync = fresh_sync()
    running(sync)
    sync.collect_events()
    sync.succeed_job(JobKind.SYNC, "job-1", "synced 3 secrets", {"written": 3})
    job = sync.job(JobKind.SYNC)
    (event,) = sync.collect_events()
    assert isinstance(event, SecretSync.JobSucceeded)
    assert event.counts == {"written": 3}
    assert (event.actor, event.request_id) == ("worker", "job-1")
    assert job["status"] == "succeeded"
    assert job["message"] == "synced 3 secrets"
    assert job["succeeded_at"] == event.timestamp.isoformat()
    assert (job["running_job_id"], job["worker"], job["lease_until"]) == ("", "", None)
    assert sync.running_job(NOW) is None


def test_fail_job_records_status_and_message_but_no_success_time():
    sync = fresh_sync()
    running(sync, JobKind.IMPORT, "imp-1")
    sync.fail_job(JobKind.IMPORT, "imp-1", "vault unreachable", {}, actor="worker-7")
    job = sync.job(JobKind.IMPORT)
    assert job["status"] == "failed"
    assert job["message"] == "vault unreachable"
    assert job["succeeded_at"] is None
    assert job["running_job_id"] == ""
    assert sync.collect_events()[-1].actor == "worker-7"


def test_a_later_failure_keeps_the_last_success_time():
    sync = fresh_sync()
    running(sync, JobKind.SYNC, "job-1")
    sync.succeed_job(JobKind.SYNC, "job-1", "ok", {})
    succeeded_at = sync.job(JobKind.SYNC)["succeeded_at"]
    running(sync, JobKind.SYNC, "job-2")
    sync.fail_job(JobKind.SYNC, "job-2", "boom", {})
    assert sync.job(JobKind.SYNC)["status"] == "failed"
    assert sync.job(JobKind.SYNC)["succeeded_at"] == succeeded_at


@pytest.mark.parametrize("finish", ["succeed_job", "fail_job"])
def test_job_message_is_truncated(finish):
    sync = fresh_sync()
    running(sync)
    sync.collect_events()
    getattr(sync, finish)(JobKind.SYNC, "job-1", "é" * 2000, {})
    assert sync.job(JobKind.SYNC)["message"] == "é" * MAX_JOB_MESSAGE
    (event,) = sync.collect_events()
    assert len(event.message) == MAX_JOB_MESSAGE == 1024


def test_message_of_exactly_the_limit_is_kept_whole():
    sync = fresh_sync()
    running(sync)
    sync.succeed_job(JobKind.SYNC, "job-1", "m" * MAX_JOB_MESSAGE, {})
    assert sync.job(JobKind.SYNC)["message"] == "m" * MAX_JOB_MESSAGE


@pytest.mark.parametrize("finish", ["succeed_job", "fail_job"])
def test_finishing_a_job_that_is_not_running_is_refused(finish):
    sync = fresh_sync()
    request(sync, JobKind.SYNC, "job-1")
    with pytest.raises(FailedPrecondition) as raised:
        getattr(sync, finish)(JobKind.SYNC, "job-1", "", {})
    assert reason_of(raised) == "JOB_NOT_RUNNING"
    sync.start_job(JobKind.SYNC, "job-1", "w", NOW, LEASE)
    getattr(sync, finish)(JobKind.SYNC, "job-1", "", {})
    with pytest.raises(FailedPrecondition) as raised:  # twice
        getattr(sync, finish)(JobKind.SYNC, "job-1", "", {})
    assert reason_of(raised) == "JOB_NOT_RUNNING"
    running(sync, JobKind.IMPORT, "imp-1")
    with pytest.raises(FailedPrecondition) as raised:  # named under the wrong kind
        getattr(sync, finish)(JobKind.SYNC, "imp-1", "", {})
    assert reason_of(raised) == "JOB_NOT_RUNNING"
    assert sync.job(JobKind.IMPORT)["status"] == "running"


def test_finish_does_not_share_the_callers_counts():
    sync = fresh_sync()
    running(sync)
    counts = {"written": 1}
    sync.succeed_job(JobKind.SYNC, "job-1", "", counts)
    counts["written"] = 99
    assert sync.collect_events()[-1].counts == {"written": 1}


@pytest.mark.parametrize("finish", ["succeed_job", "fail_job"])
def test_a_request_made_while_a_job_runs_stays_pending_after_it_finishes(finish):
    sync = fresh_sync()
    running(sync, JobKind.SYNC, "job-1")
    request(sync, JobKind.SYNC, "job-2")  # follow-up queued while job-1 runs
    assert sync.job(JobKind.SYNC)["status"] == "pending"
    assert sync.job(JobKind.SYNC)["running_job_id"] == "job-1"
    getattr(sync, finish)(JobKind.SYNC, "job-1", "done", {})
    job = sync.job(JobKind.SYNC)
    assert job["status"] == "pending"
    assert job["job_id"] == "job-2"
    assert job["running_job_id"] == ""
    # The follow-up can now be claimed straight away.
    sync.start_job(JobKind.SYNC, "job-2", "worker-2", NOW, LEASE)
    assert sync.job(JobKind.SYNC)["status"] == "running"


def test_a_failed_remove_with_then_delete_keeps_the_sync():
    sync = fresh_sync()
    request(sync, JobKind.REMOVE, "rm-1", then_delete=True)
    sync.start_job(JobKind.REMOVE, "rm-1", "w", NOW, LEASE)
    sync.fail_job(JobKind.REMOVE, "rm-1", "permission denied", {})
    job = sync.job(JobKind.REMOVE)
    assert job["status"] == "failed"
    assert job["then_delete"] is False
    request(sync, JobKind.SYNC, "job-2")  # no longer refused as "being deleted"
    assert sync.job(JobKind.SYNC)["status"] == "pending"


def test_a_succeeded_remove_with_then_delete_keeps_then_delete():
    sync = fresh_sync()
    request(sync, JobKind.REMOVE, "rm-1", then_delete=True)
    sync.start_job(JobKind.REMOVE, "rm-1", "w", NOW, LEASE)
    sync.succeed_job(JobKind.REMOVE, "rm-1", "removed", {"deleted": 2})
    assert sync.job(JobKind.REMOVE)["then_delete"] is True
    with pytest.raises(FailedPrecondition) as raised:
        request(sync, JobKind.SYNC, "job-2")
    assert reason_of(raised) == "SYNC_BEING_DELETED"


def test_an_older_remove_failing_does_not_clear_a_newer_then_delete():
    sync = fresh_sync()
    request(sync, JobKind.REMOVE, "rm-1", then_delete=False)
    sync.start_job(JobKind.REMOVE, "rm-1", "w", NOW, LEASE)
    request(sync, JobKind.REMOVE, "rm-2", then_delete=True)
    sync.fail_job(JobKind.REMOVE, "rm-1", "boom", {})
    job = sync.job(JobKind.REMOVE)
    assert (job["job_id"], job["status"], job["then_delete"]) == ("rm-2", "pending", True)


# --- deleting -----------------------------------------------------------------

COMMANDS = {
    "update": lambda s: s.update(make_settings(name="other"), "a", "r"),
    "lose_source": lambda s: s.lose_source("gone", "a", "r"),
    "request_sync": lambda s: s.request_sync("j", "manual", "a", "r"),
    "request_import": lambda s: s.request_import("j", ImportBehavior.PRIORITIZE_SOURCE, "a", "r"),
    "request_remove": lambda s: s.request_remove("j", False, "a", "r"),
    "start_job": lambda s: s.start_job(JobKind.SYNC, "job-1", "w", NOW, LEASE),
    "succeed_job": lambda s: s.succeed_job(JobKind.SYNC, "job-1", "", {}),
    "fail_job": lambda s: s.fail_job(JobKind.SYNC, "job-1", "", {}),
    "delete": lambda s: s.delete("a", "r"),
    "ensure_live": lambda s: s.ensure_live(),
    "locate_source": lambda s: s.locate_source("f", "e", "E", "a", "r"),
}


@pytest.mark.parametrize("with_running_job", [False, True], ids=["idle", "job-running"])
@pytest.mark.parametrize("command", list(COMMANDS.values()), ids=list(COMMANDS))
def test_a_deleted_sync_refuses_every_command(command, with_running_job):
    sync = fresh_sync()
    if with_running_job:
        running(sync)
    sync.delete("alice", "req-delete")
    assert sync.deleted is True
    (event,) = sync.collect_events()[-1:]
    assert isinstance(event, SecretSync.Deleted)
    assert (event.actor, event.request_id) == ("alice", "req-delete")
    version = sync.version
    with pytest.raises(SecretSyncNotFound) as raised:
        command(sync)
    assert reason_of(raised) == "SECRET_SYNC_NOT_FOUND"
    assert str(sync.id) in str(raised.value)
    assert sync.collect_events() == []
    assert sync.version == version


# --- etag -----------------------------------------------------------------------


def test_etag_names_the_settings_of_one_sync():
    sync = fresh_sync()
    first = sync.etag
    assert first == etag_for(sync.id, vars(sync))
    assert len(first) == 20 and int(first, 16) >= 0
    other = fresh_sync()
    assert other.etag != first  # same settings, another sync


def test_jobs_and_sources_leave_the_etag_alone_and_settings_move_it():
    sync = fresh_sync()
    first = sync.etag
    running(sync, JobKind.SYNC, "job-1")
    sync.succeed_job(JobKind.SYNC, "job-1", "ok", {"written": 1})
    sync.locate_source("folder-1", "env-1", "Development", "bob", "r3")
    sync.lose_source("folder deleted", "bob", "r4")
    assert sync.version == 6 and sync.etag == first
    sync.update(make_settings(description="v2"), "bob", "r5")
    assert sync.etag != first
    sync.update(make_settings(), "bob", "r6")  # back as it was: the same settings
    assert sync.etag == first


def test_a_renewed_lease_keeps_a_job_running_past_its_first_lease():
    sync = fresh_sync()
    running(sync, JobKind.SYNC, "job-1")
    later = NOW + LEASE + timedelta(seconds=1)
    assert sync.running_job(later) is None
    renewed = {"job-1": (later + LEASE).isoformat()}
    assert sync.running_job(later, renewed) == ("sync", "job-1")
    assert sync.lease_keepers() == [("job-1", "worker-1")]
    request(sync, JobKind.IMPORT, "imp-1")
    with pytest.raises(FailedPrecondition) as raised:
        sync.start_job(JobKind.IMPORT, "imp-1", "worker-2", later, LEASE, renewed=renewed)
    assert reason_of(raised) == "JOB_RUNNING"
    sync.start_job(JobKind.IMPORT, "imp-1", "worker-2", later, LEASE)  # not renewed: taken


# --- replay and snapshots -------------------------------------------------------


def lived_a_little() -> tuple[SecretSync, list[Any]]:
    """A sync that went through most of its lifecycle, and every event it recorded."""
    sync = new_sync()
    sync.update(make_settings(description="v2", key_schema="kv-{{secretKey}}"), "bob", "r2")
    sync.locate_source("folder-1", "env-1", "Development", "bob", "r3")
    running(sync, JobKind.SYNC, "job-1")
    request(sync, JobKind.SYNC, "job-2")
    sync.succeed_job(JobKind.SYNC, "job-1", "ok", {"written": 2})
    request(sync, JobKind.IMPORT, "imp-1")
    sync.start_job(JobKind.IMPORT, "imp-1", "worker-2", NOW + LEASE, LEASE)
    sync.fail_job(JobKind.IMPORT, "imp-1", "nope", {})
    request(sync, JobKind.REMOVE, "rm-1", then_delete=True)
    sync.lose_source("folder deleted", "bob", "r9")
    return sync, list(sync.collect_events())


def replay(events: list[Any], start: SecretSync | None = None) -> SecretSync:
    aggregate = start
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, SecretSync)
    return aggregate


def test_replaying_the_events_rebuilds_an_equal_sync():
    sync, events = lived_a_little()
    assert len(events) == sync.version == 12
    # The state is far from the initial one, so equality below means something.
    assert sync.job(JobKind.SYNC)["status"] == "pending"
    assert sync.job(JobKind.SYNC)["succeeded_at"] is not None
    assert sync.job(JobKind.IMPORT)["status"] == "failed"
    assert sync.job(JobKind.REMOVE)["then_delete"] is True
    assert sync.source["problem"] == "folder deleted"
    rebuilt = replay(events)
    assert state(rebuilt) == state(sync)
    assert rebuilt.settings() == sync.settings()
    assert rebuilt.etag == sync.etag


@pytest.mark.parametrize("cut", [1, 4, 7, 12])
def test_snapshot_round_trips_and_later_events_apply_to_it(cut):
    sync, events = lived_a_little()
    middle = replay(events[:cut])
    snapshot = Snapshot.take(middle)
    assert snapshot.originator_version == cut
    restored = snapshot.mutate(None)
    assert isinstance(restored, SecretSync)
    assert state(restored) == state(middle)
    assert state(replay(events[cut:], restored)) == state(sync)


def test_events_and_state_are_json_native():
    sync, events = lived_a_little()
    base = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    for event in events:
        json.dumps({k: v for k, v in vars(event).items() if k not in base})
    state_now = dict(Snapshot.take(sync).state)
    for key in ("_created_on", "_modified_on"):
        state_now.pop(key)
    json.dumps(state_now)


# --- NameClaim --------------------------------------------------------------------


def test_same_scope_and_name_give_the_same_claim_id():
    one = NameClaim(sync_names(PROJECT), "my-sync")
    two = NameClaim(sync_names(PROJECT), "my-sync")
    assert one.id == two.id == NameClaim.create_id(sync_names(PROJECT), "my-sync")
    assert isinstance(one.id, UUID)
    assert NameClaim(sync_names("other-project"), "my-sync").id != one.id
    assert NameClaim(sync_names(PROJECT), "other-sync").id != one.id
    assert NameClaim(PROJECT_SLUGS, "my-sync").id != one.id
    assert sync_names(PROJECT) == f"syncs:{PROJECT}"


def test_racing_claims_write_the_same_versions_so_the_store_lets_one_win():
    one = NameClaim(sync_names(PROJECT), "my-sync")
    two = NameClaim(sync_names(PROJECT), "my-sync")
    one.claim("sync-a")
    two.claim("sync-b")
    keys = [(e.originator_id, e.originator_version) for e in one.collect_events()]
    assert keys == [(e.originator_id, e.originator_version) for e in two.collect_events()]


def test_claim_records_the_owner_once():
    claim = NameClaim(sync_names(PROJECT), "my-sync")
    claim.claim("sync-a")
    claim.claim("sync-a")  # the holder claiming again changes nothing
    assert claim.owner_id == "sync-a"
    events = claim.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "Claimed"]
    assert events[1].owner_id == "sync-a"


def test_claim_by_another_owner_raises_name_taken():
    claim = NameClaim(sync_names(PROJECT), "my-sync")
    claim.claim("sync-a")
    claim.collect_events()
    with pytest.raises(NameTaken) as raised:
        claim.claim("sync-b")
    assert isinstance(raised.value, AlreadyExists)
    assert reason_of(raised) == "NAME_TAKEN"
    assert "my-sync" in str(raised.value)
    assert claim.owner_id == "sync-a"
    assert claim.collect_events() == []


def test_release_then_claim_by_another_owner_works():
    claim = NameClaim(sync_names(PROJECT), "my-sync")
    claim.claim("sync-a")
    claim.release("sync-a")
    assert claim.owner_id == ""
    claim.claim("sync-b")
    assert claim.owner_id == "sync-b"
    events = claim.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "Claimed", "Released", "Claimed"]
    assert state(replay_claim(events)) == state(claim)


def replay_claim(events: list[Any]) -> NameClaim:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, NameClaim)
    return aggregate


def test_release_by_a_non_holder_does_nothing():
    claim = NameClaim(sync_names(PROJECT), "my-sync")
    claim.release("sync-a")  # nobody holds it
    claim.claim("sync-a")
    claim.collect_events()
    claim.release("sync-b")
    assert claim.owner_id == "sync-a"
    assert claim.collect_events() == []
    with pytest.raises(NameTaken):
        claim.claim("sync-b")



# --- what a sync manages ---------------------------------------------------------------


def run_job(sync: SecretSync, changes: dict[str, Any], succeed: bool = True) -> None:
    job_id = f"job-{sync.version}"
    sync.request_sync(job_id, "manual", "a", "r")
    sync.start_job(JobKind.SYNC, job_id, "w", NOW, LEASE)
    finish = sync.succeed_job if succeed else sync.fail_job
    finish(JobKind.SYNC, job_id, "done", {"created": len(changes)}, managed_changes=changes)


def test_finished_jobs_record_what_the_sync_manages():
    sync = fresh_sync()
    assert sync.first_run and sync.managed == {}
    run_job(sync, {"app-a": ["app-A", "A", "fp1", 100], "app-b": ["app-B", "B", "fp2", 100]})
    assert not sync.first_run
    assert sync.managed["app-a"] == ["app-A", "A", "fp1", 100]
    run_job(sync, {"app-a": None, "app-b": ["app-B", "B", "fp3", 200]})
    assert sync.managed == {"app-b": ["app-B", "B", "fp3", 200]}


def test_a_failed_job_still_records_the_keys_it_wrote():
    sync = fresh_sync()
    run_job(sync, {"app-a": ["app-A", "A", "fp1", 100]}, succeed=False)
    assert sync.first_run  # never succeeded: the initial behaviour still applies
    assert sync.managed == {"app-a": ["app-A", "A", "fp1", 100]}


def test_managed_state_survives_snapshot_and_replay():
    sync = new_sync()
    run_job(sync, {"app-a": ["app-A", "A", "fp1", 100]})
    copy = Snapshot.take(sync).mutate(None)
    assert copy.managed == sync.managed == {"app-a": ["app-A", "A", "fp1", 100]}
    assert replay(list(sync.collect_events())).managed == sync.managed


def test_a_job_whose_lease_ran_out_is_taken_over_and_the_log_shows_it():
    sync = fresh_sync()
    sync.request_sync("job-1", "manual", "a", "r")
    sync.start_job(JobKind.SYNC, "job-1", "worker-a", NOW, LEASE)
    with pytest.raises(FailedPrecondition):  # the lease is live
        sync.start_job(JobKind.SYNC, "job-1", "worker-b", NOW + LEASE / 2, LEASE)
    sync.start_job(JobKind.SYNC, "job-1", "worker-b", NOW + LEASE * 2, LEASE)
    starts = [e for e in sync.collect_events() if isinstance(e, SecretSync.JobStarted)]
    assert [e.worker for e in starts] == ["worker-a", "worker-b"]
    assert sync.job(JobKind.SYNC)["worker"] == "worker-b"
    sync.succeed_job(JobKind.SYNC, "job-1", "done", {})
    assert sync.job(JobKind.SYNC)["status"] == "succeeded"


def test_a_lease_recorded_by_an_older_version_still_replays():
    """Logs written before JobLease hold LeaseRenewed events on the sync."""
    sync = new_sync()
    running(sync)
    sync.trigger_event(
        SecretSync.LeaseRenewed,
        kind="sync",
        job_id="job-1",
        lease_until=(NOW + LEASE * 2).isoformat(),
        actor="worker",
        request_id="job-1",
    )
    rebuilt = replay(list(sync.collect_events()))
    assert rebuilt.job(JobKind.SYNC)["lease_until"] == (NOW + LEASE * 2).isoformat()
    assert rebuilt.running_job(NOW + LEASE + timedelta(seconds=1)) == ("sync", "job-1")


def test_a_worker_whose_job_was_taken_over_can_neither_renew_nor_finish_it():
    sync = new_sync()
    running(sync)
    sync.start_job(JobKind.SYNC, "job-1", "worker-2", NOW + LEASE * 2, LEASE)  # takeover
    with pytest.raises(FailedPrecondition) as renewing:
        sync.ensure_holder(JobKind.SYNC, "job-1", "worker-1")  # what a renewal checks
    with pytest.raises(FailedPrecondition) as finishing:
        sync.succeed_job(JobKind.SYNC, "job-1", "done", {}, worker="worker-1")
    assert reason_of(renewing) == reason_of(finishing) == "JOB_NOT_RUNNING"
    sync.succeed_job(JobKind.SYNC, "job-1", "done", {}, worker="worker-2")
    assert sync.job(JobKind.SYNC)["status"] == "succeeded"
