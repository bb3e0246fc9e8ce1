"""The SecretSourceService servicer: parse, call one use case, answer."""

from __future__ import annotations

from typing import Any

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as api_grpc

from domain.errors import FieldViolation, InvalidArgument
from domain.folder import Folder
from domain.permissions import READ
from domain.project import Project
from service.api.errors import translate_errors
from service.api.paging import (
    page_size,
    page_token,
    read_page_token,
    split_page,
    visible_page,
)
from service.api.sync_convert import timestamp
from service.app import access
from service.app.call_context import mutation_context
from service.app.secret_sources import SecretSources

# (default, maximum) page size of each list, as its request states in the protos; the
# list's name is its name in page tokens.
PROJECTS, PROJECT_PAGE = "projects", (50, 500)
ENVIRONMENTS, ENVIRONMENT_PAGE = "environments", (100, 500)
FOLDERS, FOLDER_PAGE = "folders", (500, 1000)
SECRETS, SECRET_PAGE = "secrets", (1000, 1000)
IMPORTS, IMPORT_PAGE = "secret_imports", (100, 500)


def _size(requested: int, sizes: tuple[int, int]) -> int:
    return page_size(requested, sizes[1], default=sizes[0])


def _place(request: Any) -> dict[str, str]:
    """The filters of a folder's list: which folder (a token is valid for it only)."""
    return {
        "project_id": request.project_id.lower(),
        "environment": request.environment,
        "path": request.path or "/",
    }


def project_to_proto(project: Project) -> pb.Project:
    """Only the environments the caller may read: a narrowed caller never learns the
    names of the others (ListEnvironments lists these)."""
    return pb.Project(
        id=str(project.id),
        name=project.name,
        slug=project.slug,
        environments=[
            pb.Environment(id=env["id"], slug=slug, name=env["name"])
            for slug, env in sorted(project.environments.items())
            if access.may(READ, str(project.id), slug)
        ],
        created_at=timestamp(project.created_on),
    )


def _slug(environment: pb.Environment) -> str:
    return environment.slug


def folder_to_proto(folder: Folder) -> pb.Folder:
    return pb.Folder(
        id=str(folder.id),
        project_id=folder.project_id,
        environment=folder.environment,
        path=folder.path,
        secret_count=len(folder.secrets),
        imports=[import_to_proto(i) for i in readable_imports(folder)],
    )


def readable_imports(folder: Folder) -> list[dict[str, str]]:
    """An import of a folder the caller may not read is not shown: that folder's name is
    hidden from this caller everywhere else too (ListFolders)."""
    return [
        i for i in folder.imports
        if access.may(READ, folder.project_id, i["environment"], i["path"])
    ]


def import_to_proto(entry: dict[str, str]) -> pb.SecretImport:
    return pb.SecretImport(id=entry["id"], environment=entry["environment"], path=entry["path"])


def secret_to_proto(entry: dict[str, Any], value: str = "") -> pb.Secret:
    return pb.Secret(
        key=entry["key"],
        value=value,
        comment=entry["comment"],
        version=entry["version"],
        updated_at=timestamp(entry["updated_at"]),
    )


class SecretSourceServicer(api_grpc.SecretSourceServiceServicer):
    def __init__(self, sources: SecretSources) -> None:
        self.sources = sources

    @translate_errors
    def CreateProject(
        self, request: api.CreateProjectRequest, context: grpc.ServicerContext
    ) -> api.CreateProjectResponse:
        project = self.sources.create_project(
            request.name, request.slug, mutation_context(request.request_id)
        )
        return api.CreateProjectResponse(project=project_to_proto(project))

    @translate_errors
    def ListProjects(
        self, request: api.ListProjectsRequest, context: grpc.ServicerContext
    ) -> api.ListProjectsResponse:
        size = _size(request.page_size, PROJECT_PAGE)
        after = read_page_token(request.page_token, PROJECTS, {}) or ""
        projects = self.sources.list_projects(after_slug=after, limit=size + 1, visible=access.sees)
        page, token = split_page(projects, size, PROJECTS, {}, lambda p: p.slug)
        return api.ListProjectsResponse(
            projects=[project_to_proto(p) for p in page], next_page_token=token
        )

    @translate_errors
    def CreateEnvironment(
        self, request: api.CreateEnvironmentRequest, context: grpc.ServicerContext
    ) -> api.CreateEnvironmentResponse:
        env = self.sources.create_environment(
            request.project_id, request.slug, request.name, mutation_context(request.request_id)
        )
        return api.CreateEnvironmentResponse(environment=pb.Environment(**env))

    @translate_errors
    def ListEnvironments(
        self, request: api.ListEnvironmentsRequest, context: grpc.ServicerContext
    ) -> api.ListEnvironmentsResponse:
        size = _size(request.page_size, ENVIRONMENT_PAGE)
        filters = {"project_id": request.project_id.lower()}
        after = read_page_token(request.page_token, ENVIRONMENTS, filters) or ""
        project = self.sources.project(request.project_id)
        # Only readable ones (project_to_proto): whole pages, nothing hidden counted.
        listed = [e for e in project_to_proto(project).environments if e.slug > after]
        page, token = split_page(listed[: size + 1], size, ENVIRONMENTS, filters, _slug)
        return api.ListEnvironmentsResponse(environments=page, next_page_token=token)

    @translate_errors
    def CreateFolder(
        self, request: api.CreateFolderRequest, context: grpc.ServicerContext
    ) -> api.CreateFolderResponse:
        folder = self.sources.create_folder(
            request.project_id,
            request.environment,
            request.path,
            mutation_context(request.request_id),
        )
        return api.CreateFolderResponse(folder=folder_to_proto(folder))

    @translate_errors
    def ListFolders(
        self, request: api.ListFoldersRequest, context: grpc.ServicerContext
    ) -> api.ListFoldersResponse:
        size = _size(request.page_size, FOLDER_PAGE)
        after = read_page_token(request.page_token, FOLDERS, _place(request)) or ""

        def fetch(after_path: str | None, limit: int) -> list[Folder]:
            return self.sources.list_folders(
                request.project_id, request.environment, request.path or "/",
                after_path or "", limit,
            )

        def readable(f: Folder) -> bool:
            return access.may(READ, f.project_id, f.environment, f.path)

        # A caller narrowed to paths sees only its folders, in whole pages.
        page, last = visible_page(fetch, readable, size, lambda f: f.path, after)
        token = page_token(FOLDERS, _place(request), last) if last is not None else ""
        return api.ListFoldersResponse(
            folders=[folder_to_proto(f) for f in page], next_page_token=token
        )

    @translate_errors
    def DeleteFolder(
        self, request: api.DeleteFolderRequest, context: grpc.ServicerContext
    ) -> api.DeleteFolderResponse:
        count = self.sources.delete_folder(
            request.project_id,
            request.environment,
            request.path,
            mutation_context(request.request_id),
        )
        return api.DeleteFolderResponse(deleted_folders=count)

    @translate_errors
    def SetSecret(
        self, request: api.SetSecretRequest, context: grpc.ServicerContext
    ) -> api.SetSecretResponse:
        secret = request.secret
        _, folder = self.sources.set_secrets(
            request.project_id,
            request.environment,
            request.path,
            [(secret.key, secret.value, secret.comment)],
            mutation_context(request.request_id),
            field="secret",
        )
        return api.SetSecretResponse(secret=secret_to_proto(folder.secret(secret.key)))

    @translate_errors
    def BulkSetSecrets(
        self, request: api.BulkSetSecretsRequest, context: grpc.ServicerContext
    ) -> api.BulkSetSecretsResponse:
        counts, _ = self.sources.set_secrets(
            request.project_id,
            request.environment,
            request.path,
            [(s.key, s.value, s.comment) for s in request.secrets],
            mutation_context(request.request_id),
        )
        return api.BulkSetSecretsResponse(**counts)

    @translate_errors
    def GetSecret(
        self, request: api.GetSecretRequest, context: grpc.ServicerContext
    ) -> api.GetSecretResponse:
        if request.version < 0:
            raise InvalidArgument([FieldViolation("version", "must not be negative")])
        entry, value = self.sources.get_secret(
            request.project_id, request.environment, request.path, request.key, request.version
        )
        return api.GetSecretResponse(secret=secret_to_proto(entry, value))

    @translate_errors
    def ListSecrets(
        self, request: api.ListSecretsRequest, context: grpc.ServicerContext
    ) -> api.ListSecretsResponse:
        size = _size(request.page_size, SECRET_PAGE)
        filters = {**_place(request), "include_values": request.include_values}
        after = read_page_token(request.page_token, SECRETS, filters) or ""
        secrets = self.sources.list_secrets(
            request.project_id,
            request.environment,
            request.path,
            request.include_values,
            after,
            size + 1,
        )
        page, token = split_page(secrets, size, SECRETS, filters, lambda s: s[0]["key"])
        return api.ListSecretsResponse(
            secrets=[secret_to_proto(e, v) for e, v in page], next_page_token=token
        )

    @translate_errors
    def DeleteSecret(
        self, request: api.DeleteSecretRequest, context: grpc.ServicerContext
    ) -> api.DeleteSecretResponse:
        version = self.sources.delete_secret(
            request.project_id,
            request.environment,
            request.path,
            request.key,
            mutation_context(request.request_id),
        )
        return api.DeleteSecretResponse(version=version)

    @translate_errors
    def CreateSecretImport(
        self, request: api.CreateSecretImportRequest, context: grpc.ServicerContext
    ) -> api.CreateSecretImportResponse:
        entry = self.sources.create_import(
            request.project_id,
            request.environment,
            request.path,
            request.secret_import.environment,
            request.secret_import.path,
            mutation_context(request.request_id),
        )
        return api.CreateSecretImportResponse(secret_import=import_to_proto(entry))

    @translate_errors
    def ListSecretImports(
        self, request: api.ListSecretImportsRequest, context: grpc.ServicerContext
    ) -> api.ListSecretImportsResponse:
        size = _size(request.page_size, IMPORT_PAGE)
        # Imports are in the order they apply, not by a key: a page continues after a
        # count of them.
        start = read_page_token(request.page_token, IMPORTS, _place(request), int) or 0
        if start < 0:
            raise InvalidArgument([FieldViolation("page_token", "is not a page of this list")])
        folder = self.sources.folder(request.project_id, request.environment, request.path)
        # Numbered among those the caller may see (its tokens are its own).
        numbered = list(enumerate(readable_imports(folder), start=1))[start : start + size + 1]
        page, token = split_page(numbered, size, IMPORTS, _place(request), lambda n: n[0])
        return api.ListSecretImportsResponse(
            secret_imports=[import_to_proto(i) for _, i in page], next_page_token=token
        )

    @translate_errors
    def DeleteSecretImport(
        self, request: api.DeleteSecretImportRequest, context: grpc.ServicerContext
    ) -> api.DeleteSecretImportResponse:
        self.sources.delete_import(
            request.project_id,
            request.environment,
            request.path,
            request.import_id,
            mutation_context(request.request_id),
        )
        return api.DeleteSecretImportResponse()

    @translate_errors
    def ResolveSecrets(
        self, request: api.ResolveSecretsRequest, context: grpc.ServicerContext
    ) -> api.ResolveSecretsResponse:
        read: set[tuple[str, str]] = set()
        resolution = self.sources.resolve(
            request.project_id, request.environment, request.path, read
        )
        # Values come from every folder imported or referenced: each must be the caller's.
        for environment, path in sorted(read):
            access.place(request.project_id, environment, path)
        return api.ResolveSecretsResponse(secrets=resolution.values, problems=resolution.problems)
