"""The pure part of the audit: every event class is classified, and descriptions
copy only allow-listed facts (never ciphertexts, fingerprints or sealed keys)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from domain.audit import EVENT_TYPES, EVENTS, LEFT_OUT, audited_events, describe, microseconds
from domain.connection import AuthMethod, AzureConnection
from domain.folder import Folder
from domain.project import Project
from domain.secret_sync import SecretSync
from domain.service_token import ServiceToken

AGGREGATES = (SecretSync, Folder, Project, AzureConnection, ServiceToken)
MARK = "MARKED-SECRET-7f3a"


def event_classes(aggregate: type) -> set[type]:
    base = aggregate.Event  # type: ignore[attr-defined]
    return {
        cls
        for cls in vars(aggregate).values()
        if isinstance(cls, type) and issubclass(cls, base) and cls is not base
    }


def test_every_event_class_is_audited_or_left_out_on_purpose():
    classes = set().union(*(event_classes(a) for a in AGGREGATES))
    # Abstract parents (JobRequested, JobFinished) are never triggered themselves.
    parents = {SecretSync.JobRequested, SecretSync.JobFinished}
    assert classes - parents == set(EVENTS) | set(LEFT_OUT)
    assert not set(EVENTS) & set(LEFT_OUT)


def test_event_type_names_are_unique_and_stable_in_form():
    names = [name for name, _, _ in EVENTS.values()]
    assert len(names) == len(set(names)) == len(EVENT_TYPES)
    assert all(name.count(".") == 1 and name == name.lower() for name in names)


def test_each_application_is_fed_only_its_own_events():
    syncs, sources = audited_events(SecretSync), audited_events(Project, Folder)
    connections = audited_events(AzureConnection)
    tokens = audited_events(ServiceToken)
    assert len(syncs) + len(sources) + len(connections) + len(tokens) == len(EVENTS)
    assert all(issubclass(c, SecretSync.Event) for c in syncs)


def test_a_connection_description_has_no_credentials():
    connection = AzureConnection.create(
        uuid.uuid4(),
        project_id=str(uuid.uuid4()).upper(),
        name="prod",
        description="",
        cloud="public",
        auth_method=AuthMethod.CLIENT_SECRET,
        tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        authority_host="",
        wrapped_key=MARK,
        sealed_credentials=MARK,
        actor="anonymous",
        request_id="r-1",
    )
    (created,) = connection.collect_events()
    entry = describe(created)
    assert entry is not None
    assert entry.event_type == "connection.created"
    assert entry.project_id == created.project_id.lower()  # compared lowercase everywhere
    assert entry.resource_name == "prod"
    assert MARK not in json.dumps(entry.__dict__)


def test_a_secrets_set_description_has_the_keys_only():
    folder = Folder.create(str(uuid.uuid4()), "dev", "/app", "anonymous", "r-1")
    event = Folder.SecretsSet(
        originator_id=folder.id,
        originator_version=2,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        items=[
            {
                "key": "DB_PASSWORD",
                "version": 1,
                "ciphertext": MARK,
                "fingerprint": MARK,
                "comment": MARK,
                "refs": [],
            }
        ],
        actor="anonymous",
        request_id="r-2",
    )
    entry = describe(event)
    assert entry is not None
    assert entry.summary == {"secret_keys": ["DB_PASSWORD"], "counts": {"set": 1}}
    assert entry.project_id is None  # the log looks it up: only Created carries it
    assert entry.occurred_us == microseconds(event.timestamp) == 1767323045678901
    assert MARK not in json.dumps(entry.__dict__)


def test_bookkeeping_is_not_described():
    folder = Folder.create(str(uuid.uuid4()), "dev", "/", "anonymous", "r-1")
    folder.add_child("/app", "anonymous", "r-2")
    assert describe(folder.collect_events()[-1]) is None


def test_a_rewrap_description_names_the_root_key_only():
    wrapped = f"ab12cd34.{MARK}"
    project = Project.create(uuid.uuid4(), "Shop", "shop", "00000000.old", "anonymous", "r-1")
    project.rewrap_data_key(wrapped, "rotate-root-key", "r-2")
    connection = AzureConnection.create(
        uuid.uuid4(),
        project_id=str(project.id),
        name="prod",
        description="",
        cloud="public",
        auth_method=AuthMethod.MANAGED_IDENTITY,
        tenant_id="",
        client_id="",
        authority_host="",
        wrapped_key="00000000.old",
        sealed_credentials=MARK,
        actor="anonymous",
        request_id="r-1",
    )
    connection.rewrap_key(wrapped, "rotate-root-key", "r-3")
    rewraps = [project.collect_events()[-1], connection.collect_events()[-1]]
    assert project.wrapped_data_key == connection.wrapped_key == wrapped
    entries = [describe(event) for event in rewraps]
    assert [e.event_type for e in entries if e] == [
        "project.data_key_rewrapped",
        "connection.key_rewrapped",
    ]
    for entry in entries:
        assert entry is not None
        assert entry.summary == {"details": {"root_key_id": "ab12cd34"}}
        assert entry.actor == "rotate-root-key"
        assert MARK not in json.dumps(entry.__dict__)
