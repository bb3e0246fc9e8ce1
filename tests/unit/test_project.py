"""Unit tests for domain/project.py: projects, their environments, the slug registry."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import AlreadyExists, NotFound
from domain.project import Project, ProjectRegistry


def new_project(slug: str = "my-project") -> Project:
    return Project.create(uuid.uuid4(), "My Project", slug, "key-id.wrapped", "alice", "req-1")


def test_create_keeps_the_given_id_and_fields() -> None:
    project_id = uuid.uuid4()
    project = Project.create(project_id, "My Project", "my-project", "k.w", "alice", "req-1")
    assert project.id == project_id
    assert (project.name, project.slug, project.wrapped_data_key) == (
        "My Project",
        "my-project",
        "k.w",
    )
    assert project.environments == {}
    [created] = project.collect_events()
    assert isinstance(created, Project.Created)
    assert (created.actor, created.request_id) == ("alice", "req-1")


def test_add_environment() -> None:
    project = new_project()
    project.collect_events()
    environment_id = project.add_environment("dev", "Development", "bob", "req-2")
    uuid.UUID(environment_id)
    assert project.environment("dev") == {"id": environment_id, "name": "Development"}
    [added] = project.collect_events()
    assert isinstance(added, Project.EnvironmentAdded)
    assert (added.slug, added.name, added.environment_id) == ("dev", "Development", environment_id)
    assert (added.actor, added.request_id) == ("bob", "req-2")


def test_environments_get_distinct_ids() -> None:
    project = new_project()
    dev = project.add_environment("dev", "Development", "a", "r")
    prod = project.add_environment("prod", "Production", "a", "r")
    assert dev != prod
    assert set(project.environments) == {"dev", "prod"}


def test_duplicate_environment_slug_is_refused() -> None:
    project = new_project()
    project.add_environment("dev", "Development", "a", "r")
    project.collect_events()
    with pytest.raises(AlreadyExists) as raised:
        project.add_environment("dev", "Other", "a", "r")
    assert raised.value.reason == "SLUG_TAKEN"
    assert project.collect_events() == []
    assert project.environment("dev")["name"] == "Development"


def test_missing_environment() -> None:
    project = new_project()
    project.add_environment("dev", "Development", "a", "r")
    with pytest.raises(NotFound) as raised:
        project.environment("prod")
    assert raised.value.reason == "ENVIRONMENT_NOT_FOUND"
    assert "prod" in str(raised.value)


def test_project_replays_from_its_events() -> None:
    project = new_project()
    project.add_environment("dev", "Development", "a", "r")
    events = project.collect_events()
    copy = None
    for event in events:
        copy = event.mutate(copy)
    assert copy is not None
    assert copy.environments == project.environments
    assert copy.version == project.version


def test_registry_has_a_fixed_id() -> None:
    assert ProjectRegistry.create_id() == ProjectRegistry.ID
    assert ProjectRegistry().id == ProjectRegistry.ID
    assert ProjectRegistry().id == ProjectRegistry().id


def test_registry_keeps_slugs_unique() -> None:
    registry = ProjectRegistry()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    registry.register("alpha", first)
    registry.register("beta", second)
    assert registry.projects == {"alpha": first, "beta": second}
    registry.collect_events()
    with pytest.raises(AlreadyExists) as raised:
        registry.register("alpha", str(uuid.uuid4()))
    assert raised.value.reason == "SLUG_TAKEN"
    assert registry.projects["alpha"] == first
    assert registry.collect_events() == []
