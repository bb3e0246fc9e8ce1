"""A KMS project: its environments and its wrapped data key."""

from __future__ import annotations

import uuid
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import AlreadyExists, NotFound


class Project(Aggregate):
    class Event(Aggregate.Event):
        actor: str
        request_id: str

    class Created(Event, Aggregate.Created):
        name: str
        slug: str
        wrapped_data_key: str  # the project's data key, encrypted by the root key

    def __init__(self, name: str, slug: str, wrapped_data_key: str) -> None:
        self.name = name
        self.slug = slug
        self.wrapped_data_key = wrapped_data_key
        self.environments: dict[str, dict[str, str]] = {}  # slug -> {id, name}

    @classmethod
    def create(
        cls,
        project_id: UUID,
        name: str,
        slug: str,
        wrapped_data_key: str,
        actor: str,
        request_id: str,
    ) -> Project:
        return cls._create(
            cls.Created,
            id=project_id,
            name=name,
            slug=slug,
            wrapped_data_key=wrapped_data_key,
            actor=actor,
            request_id=request_id,
        )

    class EnvironmentAdded(Event):
        environment_id: str
        slug: str
        name: str

        def apply(self, project: Project) -> None:
            project.environments[self.slug] = {"id": self.environment_id, "name": self.name}

    def add_environment(self, slug: str, name: str, actor: str, request_id: str) -> str:
        if slug in self.environments:
            raise AlreadyExists(
                f"environment {slug!r} already exists in project {self.id}", "SLUG_TAKEN"
            ).about("environment", slug, "slug")
        environment_id = str(uuid.uuid4())
        self.trigger_event(
            self.EnvironmentAdded,
            environment_id=environment_id,
            slug=slug,
            name=name,
            actor=actor,
            request_id=request_id,
        )
        return environment_id

    class DataKeyRewrapped(Event):
        """The same data key, wrapped by another root key (a root-key rotation)."""

        wrapped_data_key: str

        def apply(self, project: Project) -> None:
            project.wrapped_data_key = self.wrapped_data_key

    def rewrap_data_key(self, wrapped_data_key: str, actor: str, request_id: str) -> None:
        self.trigger_event(
            self.DataKeyRewrapped,
            wrapped_data_key=wrapped_data_key,
            actor=actor,
            request_id=request_id,
        )

    def environment(self, slug: str) -> dict[str, str]:
        if slug not in self.environments:
            raise NotFound(
                f"environment {slug!r} not found in project {self.id}", "ENVIRONMENT_NOT_FOUND"
            ).about(resource_id=slug, field="environment")
        return self.environments[slug]


class ProjectRegistry(Aggregate):
    """The one list of all projects by slug; it keeps slugs unique."""

    ID = UUID("6b1f0a55-5c7e-4e38-9d0a-6a1c2f0b7a11")

    def __init__(self) -> None:
        self.projects: dict[str, str] = {}  # slug -> project id

    @staticmethod
    def create_id() -> UUID:
        return ProjectRegistry.ID

    class Registered(Aggregate.Event):
        slug: str
        project_id: str

        def apply(self, registry: ProjectRegistry) -> None:
            registry.projects[self.slug] = self.project_id

    def register(self, slug: str, project_id: str) -> None:
        if slug in self.projects:
            raise AlreadyExists(f"a project with slug {slug!r} already exists", "SLUG_TAKEN").about(
                "project", slug, "slug"
            )
        self.trigger_event(self.Registered, slug=slug, project_id=project_id)
