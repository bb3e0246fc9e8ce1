"""Names to ids: operators type slugs and names, the API wants UUIDs.

A value that is a UUID is used as is (no call); anything else is looked up, so a typo
is reported here, with the name, rather than as an opaque "not a UUID" from the server.
"""

from __future__ import annotations

import uuid
from typing import Any

from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api

from service.cli.client import Client
from service.cli.errors import CliError

PAGE = 500  # the largest page the List calls serve


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def every_page(client: Client, rpc: Any, request: Any, field: str) -> list[Any]:
    """Every item of a paged list: `field` of each page, following next_page_token."""
    items: list[Any] = []
    while True:
        page = client.call(rpc, request)
        items += getattr(page, field)
        if not page.next_page_token:
            return items
        request.page_token = page.next_page_token


def project_id(client: Client, project: str) -> str:
    """The id of the project given by id or slug."""
    if is_uuid(project):
        return project
    token = ""
    while True:
        page = client.call(
            client.sources.ListProjects,
            source_api.ListProjectsRequest(page_size=PAGE, page_token=token),
        )
        for found in page.projects:
            if found.slug == project:
                return found.id
        token = page.next_page_token
        if not token:
            raise CliError(f"no project with slug {project!r} (see `project list`)")


def connection_id(client: Client, project: str | None, connection: str) -> str:
    """The id of the connection given by id, or by name within the project."""
    if is_uuid(connection):
        return connection
    if not project:
        raise CliError(f"{connection!r} is not a connection id: give --project to look it up")
    owner = project_id(client, project)
    token = ""
    while True:
        page = client.call(
            client.connections.ListAzureConnections,
            connection_api.ListAzureConnectionsRequest(
                project_id=owner, page_size=PAGE, page_token=token
            ),
        )
        for found in page.connections:
            if found.name == connection:
                return found.id
        token = page.next_page_token
        if not token:
            raise CliError(
                f"no connection named {connection!r} in project {project!r} (see `connection list`)"
            )


def sync_id(client: Client, project: str | None, sync: str) -> str:
    """The id of the sync given by id, or by name within the project."""
    if is_uuid(sync):
        return sync
    if not project:
        raise CliError(f"{sync!r} is not a sync id: give --project to look the name up")
    request = sync_api.GetSecretSyncRequest(project_id=project_id(client, project), name=sync)
    return client.call(client.syncs.GetSecretSync, request).secret_sync.id
