"""`project`, `env` and `folder`: the structure of the secret source syncs read."""

from __future__ import annotations

import argparse

from hanzo.kms.secretsync.v1 import secret_source_pb2 as source_pb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api

from service.cli import lookup
from service.cli.client import Client
from service.cli.options import (
    Subcommands,
    action_parser,
    add_location,
    add_project,
    group_parser,
)
from service.cli.output import fields, print_json, print_text, table, timestamp
from service.cli.run import client_command


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _, projects = group_parser(commands, "project", "create and list projects")
    create = action_parser(
        projects, "create", "create a project", common, client_command(project_create)
    )
    create.add_argument("--name", required=True, help="display name, e.g. Shop")
    create.add_argument("--slug", required=True, help="unique slug, e.g. shop")
    action_parser(projects, "list", "list every project", common, client_command(project_list))

    _, envs = group_parser(commands, "env", "create and list environments of a project")
    create = action_parser(
        envs,
        "create",
        "create an environment (with its root folder /)",
        common,
        client_command(env_create),
    )
    add_project(create)
    create.add_argument("--slug", required=True, help="e.g. dev")
    create.add_argument("--name", required=True, help="display name, e.g. Development")
    listing = action_parser(
        envs, "list", "list the environments of a project", common, client_command(env_list)
    )
    add_project(listing)

    _, folders = group_parser(commands, "folder", "create and list folders of an environment")
    create = action_parser(
        folders,
        "create",
        "create a folder (its parent must exist)",
        common,
        client_command(folder_create),
    )
    add_location(create)
    listing = action_parser(
        folders,
        "list",
        "list the folders directly under a path (default /)",
        common,
        client_command(folder_list),
    )
    add_location(listing, path_required=False)


def project_create(args: argparse.Namespace, client: Client) -> int:
    request = source_api.CreateProjectRequest(name=args.name, slug=args.slug)
    project = client.call(client.sources.CreateProject, request).project
    if args.output == "json":
        print_json(project)
    else:
        print_text(fields([("id", project.id), ("slug", project.slug), ("name", project.name)]))
    return 0


def project_list(args: argparse.Namespace, client: Client) -> int:
    projects: list[source_pb.Project] = []
    token = ""
    while True:
        page = client.call(
            client.sources.ListProjects,
            source_api.ListProjectsRequest(page_size=lookup.PAGE, page_token=token),
        )
        projects += page.projects
        token = page.next_page_token
        if not token:
            break
    if args.output == "json":
        print_json({"projects": projects})
        return 0
    rows = [
        (
            p.slug,
            p.name,
            ",".join(e.slug for e in p.environments) or "-",
            timestamp(p.created_at),
            p.id,
        )
        for p in projects
    ]
    print_text(table(("SLUG", "NAME", "ENVIRONMENTS", "CREATED", "ID"), rows))
    return 0


def env_create(args: argparse.Namespace, client: Client) -> int:
    request = source_api.CreateEnvironmentRequest(
        project_id=lookup.project_id(client, args.project), slug=args.slug, name=args.name
    )
    environment = client.call(client.sources.CreateEnvironment, request).environment
    if args.output == "json":
        print_json(environment)
    else:
        print_text(
            fields([("id", environment.id), ("slug", environment.slug), ("name", environment.name)])
        )
    return 0


def env_list(args: argparse.Namespace, client: Client) -> int:
    request = source_api.ListEnvironmentsRequest(project_id=lookup.project_id(client, args.project))
    environments = lookup.every_page(
        client, client.sources.ListEnvironments, request, "environments"
    )
    if args.output == "json":
        print_json({"environments": list(environments)})
    else:
        print_text(table(("SLUG", "NAME", "ID"), [(e.slug, e.name, e.id) for e in environments]))
    return 0


def folder_create(args: argparse.Namespace, client: Client) -> int:
    request = source_api.CreateFolderRequest(
        project_id=lookup.project_id(client, args.project), environment=args.env, path=args.path
    )
    folder = client.call(client.sources.CreateFolder, request).folder
    if args.output == "json":
        print_json(folder)
    else:
        print_text(fields([("id", folder.id), ("folder", f"{folder.environment}:{folder.path}")]))
    return 0


def folder_list(args: argparse.Namespace, client: Client) -> int:
    request = source_api.ListFoldersRequest(
        project_id=lookup.project_id(client, args.project), environment=args.env, path=args.path
    )
    folders = lookup.every_page(client, client.sources.ListFolders, request, "folders")
    if args.output == "json":
        print_json({"folders": list(folders)})
    else:
        rows = [(f.path, str(f.secret_count), str(len(f.imports)), f.id) for f in folders]
        print_text(table(("PATH", "SECRETS", "IMPORTS", "ID"), rows))
    return 0
