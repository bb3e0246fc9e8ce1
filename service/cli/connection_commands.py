"""`connection`: the Azure credentials syncs use. Credentials go in through stdin, a
hidden prompt or files, and never come back: the API does not return them."""

from __future__ import annotations

import argparse
from pathlib import Path

from hanzo.kms.secretsync.v1 import azure_connection_pb2 as connection_pb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api

from service.cli import lookup
from service.cli.client import Client
from service.cli.errors import EXIT_FAILURE, CliError
from service.cli.options import Subcommands, action_parser, add_project, group_parser
from service.cli.output import enum_label, fields, print_json, print_text, table, timestamp
from service.cli.run import client_command
from service.cli.secret_input import read_secret

CLOUDS = {
    "public": connection_pb.AZURE_CLOUD_PUBLIC,
    "china": connection_pb.AZURE_CLOUD_CHINA,
    "us-government": connection_pb.AZURE_CLOUD_US_GOVERNMENT,
}
AUTH_METHODS = ("client-secret", "certificate", "managed-identity")


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _, actions = group_parser(commands, "connection", "Azure connections (credentials)")
    create = action_parser(
        actions,
        "create",
        "create a connection; a client secret is read from stdin or a hidden prompt",
        common,
        client_command(connection_create),
    )
    add_project(create)
    create.add_argument("--name", required=True, help="unique in the project, e.g. prod-vaults")
    create.add_argument("--description", default="")
    create.add_argument("--cloud", choices=tuple(CLOUDS), default="public")
    create.add_argument("--auth", choices=AUTH_METHODS, default="client-secret")
    create.add_argument("--tenant-id", default="", help="directory (tenant) id")
    create.add_argument(
        "--client-id",
        default="",
        help="application (client) id; for a managed identity, "
        "the user-assigned identity's (leave out for the system-assigned one)",
    )
    create.add_argument(
        "--client-secret-stdin",
        action="store_true",
        help="read the client secret from stdin even when it is a terminal",
    )
    create.add_argument(
        "--authority-host",
        default="",
        help="token endpoint host, e.g. the emulator's https://127.0.0.1:8443 "
        "(the server accepts it in development mode only)",
    )
    create.add_argument(
        "--certificate-file", type=Path, help="certificate PEM (--auth certificate)"
    )
    create.add_argument(
        "--private-key-file", type=Path, help="private key PEM (--auth certificate)"
    )

    listing = action_parser(
        actions,
        "list",
        "list the connections of a project",
        common,
        client_command(connection_list),
    )
    add_project(listing)
    for name, text, command in (
        ("get", "show one connection", connection_get),
        (
            "validate",
            "get a token and list one page of a vault; exit 1 if that fails",
            connection_validate,
        ),
        ("delete", "delete a connection no sync uses", connection_delete),
    ):
        parser = action_parser(actions, name, text, common, client_command(command))
        parser.add_argument("connection", metavar="CONNECTION", help="its id, or its name")
        add_project(parser, required=False)
        if name == "validate":
            parser.add_argument(
                "--vault-url", required=True, help="e.g. https://my-vault.vault.azure.net"
            )


def connection_create(args: argparse.Namespace, client: Client) -> int:
    request = connection_api.CreateAzureConnectionRequest(
        project_id=lookup.project_id(client, args.project),
        name=args.name,
        description=args.description,
        cloud=CLOUDS[args.cloud],
    )
    if args.auth == "client-secret":
        request.client_secret_auth.CopyFrom(
            connection_pb.ClientSecretAuth(
                tenant_id=args.tenant_id,
                client_id=args.client_id,
                client_secret=read_secret("Client secret", args.client_secret_stdin),
                authority_host=args.authority_host,
            )
        )
    elif args.auth == "certificate":
        if not args.certificate_file or not args.private_key_file:
            raise CliError("--auth certificate needs --certificate-file and --private-key-file")
        request.certificate_auth.CopyFrom(
            connection_pb.CertificateAuth(
                tenant_id=args.tenant_id,
                client_id=args.client_id,
                certificate_pem=_read(args.certificate_file),
                private_key_pem=_read(args.private_key_file),
            )
        )
    else:
        request.managed_identity_auth.CopyFrom(
            connection_pb.ManagedIdentityAuth(client_id=args.client_id)
        )
    _show(args, client.call(client.connections.CreateAzureConnection, request).connection)
    return 0


def connection_list(args: argparse.Namespace, client: Client) -> int:
    project = lookup.project_id(client, args.project)
    connections: list[connection_pb.AzureConnection] = []
    token = ""
    while True:
        page = client.call(
            client.connections.ListAzureConnections,
            connection_api.ListAzureConnectionsRequest(
                project_id=project, page_size=lookup.PAGE, page_token=token
            ),
        )
        connections += page.connections
        token = page.next_page_token
        if not token:
            break
    if args.output == "json":
        print_json({"connections": connections})
        return 0
    rows = [
        (c.name, _auth(c), _cloud(c), c.tenant_id or "-", c.client_id or "-", c.id)
        for c in connections
    ]
    print_text(table(("NAME", "AUTH", "CLOUD", "TENANT", "CLIENT", "ID"), rows))
    return 0


def connection_get(args: argparse.Namespace, client: Client) -> int:
    request = connection_api.GetAzureConnectionRequest(connection_id=_id(args, client))
    _show(args, client.call(client.connections.GetAzureConnection, request).connection)
    return 0


def connection_validate(args: argparse.Namespace, client: Client) -> int:
    request = connection_api.ValidateAzureConnectionRequest(
        connection_id=_id(args, client), vault_base_url=args.vault_url
    )
    result = client.call(client.connections.ValidateAzureConnection, request).result
    if args.output == "json":
        print_json(result)
    else:
        problem = enum_label(
            connection_pb.AzureConnectionProblem.Name(result.problem), "AZURE_CONNECTION_PROBLEM_"
        )
        print_text(
            fields(
                [
                    ("ok", "yes" if result.ok else "no"),
                    ("problem", problem),
                    ("message", result.message),
                ]
            )
        )
    return 0 if result.ok else EXIT_FAILURE


def connection_delete(args: argparse.Namespace, client: Client) -> int:
    connection = _id(args, client)
    request = connection_api.DeleteAzureConnectionRequest(connection_id=connection)
    client.call(client.connections.DeleteAzureConnection, request)
    if args.output == "json":
        print_json({"deleted": connection})
    else:
        print_text(f"deleted connection {connection}")
    return 0


def _id(args: argparse.Namespace, client: Client) -> str:
    return lookup.connection_id(client, args.project, args.connection)


def _show(args: argparse.Namespace, connection: connection_pb.AzureConnection) -> None:
    if args.output == "json":
        print_json(connection)
        return
    print_text(
        fields(
            [
                ("id", connection.id),
                ("name", connection.name),
                ("project", connection.project_id),
                ("auth", _auth(connection)),
                ("cloud", _cloud(connection)),
                ("tenant", connection.tenant_id or "-"),
                ("client", connection.client_id or "-"),
                ("created", timestamp(connection.created_at)),
                ("description", connection.description or "-"),
            ]
        )
    )


def _auth(connection: connection_pb.AzureConnection) -> str:
    name = connection_pb.AzureAuthMethod.Name(connection.auth_method)
    return enum_label(name, "AZURE_AUTH_METHOD_").lower().replace("_", "-")


def _cloud(connection: connection_pb.AzureConnection) -> str:
    name = connection_pb.AzureCloud.Name(connection.cloud)
    return enum_label(name, "AZURE_CLOUD_").lower().replace("_", "-")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from error
