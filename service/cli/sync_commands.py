"""`sync`: create, inspect and run secret syncs (watching one is in sync_watch.py)."""

from __future__ import annotations

import argparse

from hanzo.kms.secretsync.v1 import secret_sync_pb2 as sync_pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api

from service.cli import lookup, sync_watch
from service.cli.client import Client
from service.cli.options import Subcommands, action_parser, add_project, group_parser
from service.cli.output import print_json, print_text
from service.cli.run import client_command
from service.cli.sync_display import details, list_table, plan_table

INITIAL_BEHAVIORS = {
    "overwrite-destination": sync_pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION,
    "import-prioritize-source": sync_pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_SOURCE,
    "import-prioritize-destination": sync_pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_DESTINATION,
}
IMPORT_BEHAVIORS = {
    "prioritize-source": sync_pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE,
    "prioritize-destination": sync_pb.IMPORT_BEHAVIOR_PRIORITIZE_DESTINATION,
}
STATUSES = {
    "pending": sync_pb.JOB_STATUS_PENDING,
    "running": sync_pb.JOB_STATUS_RUNNING,
    "succeeded": sync_pb.JOB_STATUS_SUCCEEDED,
    "failed": sync_pb.JOB_STATUS_FAILED,
}


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _, actions = group_parser(commands, "sync", "secret syncs to Azure Key Vault")
    _register_create(actions, common)

    listing = action_parser(
        actions, "list", "list the syncs of a project", common, client_command(sync_list)
    )
    add_project(listing)
    listing.add_argument("--env", default="", help="only syncs reading this environment")
    listing.add_argument("--connection", default="", help="only syncs using this connection")
    listing.add_argument(
        "--status", choices=tuple(STATUSES), help="only syncs whose latest sync job has it"
    )

    for name, text, command in (
        ("get", "show every field of a sync", sync_get),
        ("trigger", "request a sync job now (--dry-run: print the plan instead)", sync_trigger),
        ("import", "request an import job: copy the vault's secrets into the source", sync_import),
        (
            "remove-secrets",
            "request a remove job: delete this sync's secrets from the vault",
            sync_remove_secrets,
        ),
        ("delete", "delete a sync (--remove-secrets: after removing its secrets)", sync_delete),
        ("watch", sync_watch.DESCRIPTION, sync_watch.watch),
    ):
        parser = action_parser(actions, name, text, common, client_command(command))
        parser.add_argument("sync", metavar="SYNC", help="its id, or its name with --project")
        add_project(parser, required=False)
        if name == "trigger":
            parser.add_argument(
                "--dry-run",
                action="store_true",
                help="print what a sync would do now, key by key; write and record nothing",
            )
        elif name == "import":
            parser.add_argument(
                "--behavior",
                required=True,
                choices=tuple(IMPORT_BEHAVIORS),
                help="which side wins when a key exists on both",
            )
        elif name == "delete":
            parser.add_argument(
                "--remove-secrets",
                action="store_true",
                help="first delete the sync's secrets from the vault; the sync is deleted "
                "when that succeeds",
            )
            parser.add_argument("--etag", default="", help="fail if the sync changed since")
        elif name == "watch":
            sync_watch.add_arguments(parser)


def _register_create(actions: Subcommands, common: argparse.ArgumentParser) -> None:
    create = action_parser(
        actions,
        "create",
        "create a sync (with auto-sync, a first sync job starts at once)",
        common,
        client_command(sync_create),
    )
    add_project(create)
    create.add_argument("--name", required=True, help="a slug, unique in the project")
    create.add_argument("--description", default="")
    create.add_argument("--connection", required=True, help="the Azure connection: id or name")
    create.add_argument("--env", required=True, help="the source environment's slug")
    create.add_argument("--path", required=True, help="the source folder, e.g. /app")
    create.add_argument("--vault-url", required=True, help="e.g. https://my-vault.vault.azure.net")
    create.add_argument(
        "--key-schema",
        default="",
        help="destination names, e.g. app-{{environment}}-{{secretKey}} (default: the key itself)",
    )
    create.add_argument(
        "--initial-behavior",
        choices=tuple(INITIAL_BEHAVIORS),
        default="overwrite-destination",
        help="how the first run treats secrets already in the vault "
        "(default overwrite-destination)",
    )
    create.add_argument(
        "--auto-sync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sync whenever the source changes (default on)",
    )
    create.add_argument(
        "--disable-deletion",
        action="store_true",
        help="never delete anything from the vault",
    )
    create.add_argument(
        "--refresh-interval",
        type=int,
        default=0,
        metavar="SECONDS",
        help="drift repair: run again this long after the last run even if the source did "
        "not change, putting back what was edited in the vault by hand (default 0: off)",
    )


def sync_create(args: argparse.Namespace, client: Client) -> int:
    project = lookup.project_id(client, args.project)
    request = sync_api.CreateSecretSyncRequest(
        project_id=project,
        name=args.name,
        description=args.description,
        connection_id=lookup.connection_id(client, project, args.connection),
        environment=args.env,
        secret_path=args.path,
        is_enabled=args.auto_sync,
        sync_options=sync_pb.SyncOptions(
            initial_sync_behavior=INITIAL_BEHAVIORS[args.initial_behavior],
            key_schema=args.key_schema,
            disable_secret_deletion=args.disable_deletion,
            refresh_interval_seconds=args.refresh_interval,
        ),
        destination_config=sync_pb.AzureKeyVaultDestinationConfig(vault_base_url=args.vault_url),
        request_id=client.explicit_request_id,
    )
    _show(args, client.call(client.syncs.CreateSecretSync, request).secret_sync)
    return 0


def sync_list(args: argparse.Namespace, client: Client) -> int:
    project = lookup.project_id(client, args.project)
    request = sync_api.ListSecretSyncsRequest(
        project_id=project,
        page_size=lookup.PAGE,
        environment=args.env,
        connection_id=(
            lookup.connection_id(client, project, args.connection) if args.connection else ""
        ),
        sync_status=STATUSES[args.status] if args.status else sync_pb.JOB_STATUS_UNSPECIFIED,
    )
    syncs: list[sync_pb.SecretSync] = []
    while True:
        page = client.call(client.syncs.ListSecretSyncs, request)
        syncs += page.secret_syncs
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    if args.output == "json":
        print_json({"secret_syncs": syncs})
    else:
        print_text(list_table(syncs))
    return 0


def sync_get(args: argparse.Namespace, client: Client) -> int:
    request = sync_api.GetSecretSyncRequest(id=lookup.sync_id(client, args.project, args.sync))
    _show(args, client.call(client.syncs.GetSecretSync, request).secret_sync)
    return 0


def sync_trigger(args: argparse.Namespace, client: Client) -> int:
    request = sync_api.TriggerSecretSyncRequest(
        id=lookup.sync_id(client, args.project, args.sync),
        validate_only=args.dry_run,
        request_id=client.explicit_request_id,
    )
    answer = client.call(client.syncs.TriggerSecretSync, request)
    if args.output == "json":
        print_json(answer)
    elif args.dry_run:
        print_text(plan_table(answer))
    else:
        print_text(f"sync job {answer.job_id} requested for {answer.secret_sync.name}")
    return 0


def sync_import(args: argparse.Namespace, client: Client) -> int:
    request = sync_api.ImportSecretsRequest(
        id=lookup.sync_id(client, args.project, args.sync),
        import_behavior=IMPORT_BEHAVIORS[args.behavior],
        request_id=client.explicit_request_id,
    )
    answer = client.call(client.syncs.ImportSecrets, request)
    if args.output == "json":
        print_json(answer)
    else:
        print_text(f"import job {answer.job_id} requested for {answer.secret_sync.name}")
    return 0


def sync_remove_secrets(args: argparse.Namespace, client: Client) -> int:
    request = sync_api.RemoveSecretsRequest(
        id=lookup.sync_id(client, args.project, args.sync),
        request_id=client.explicit_request_id,
    )
    answer = client.call(client.syncs.RemoveSecrets, request)
    if args.output == "json":
        print_json(answer)
    else:
        print_text(f"remove job {answer.job_id} requested for {answer.secret_sync.name}")
    return 0


def sync_delete(args: argparse.Namespace, client: Client) -> int:
    request = sync_api.DeleteSecretSyncRequest(
        id=lookup.sync_id(client, args.project, args.sync),
        etag=args.etag,
        remove_secrets=args.remove_secrets,
        request_id=client.explicit_request_id,
    )
    answer = client.call(client.syncs.DeleteSecretSync, request)
    if args.output == "json":
        print_json(answer)
    elif answer.deleted:
        print_text(f"deleted sync {answer.secret_sync.name}")
    else:
        print_text(
            f"remove job {answer.remove_job_id} requested; sync {answer.secret_sync.name} is "
            "deleted when it succeeds (follow it with `sync watch --job remove`)"
        )
    return 0


def _show(args: argparse.Namespace, sync: sync_pb.SecretSync) -> None:
    if args.output == "json":
        print_json(sync)
    else:
        print_text(details(sync))
