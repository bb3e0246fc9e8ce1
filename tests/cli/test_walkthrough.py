"""The operator's walk-through with the CLI alone: project, environment, folder, a secret
typed on stdin, a connection to the emulator, a sync, watching it succeed; then the
secret is in the vault, and no value ever appeared in what the CLI printed."""

from __future__ import annotations

import json
import uuid

from tests.cli.conftest import Cli, Result


def test_walk_through_from_an_empty_service_to_a_synced_vault(
    cli: Cli, working_target: str, emulator
) -> None:
    canary = "CANARY-" + uuid.uuid4().hex
    printed: list[str] = []

    def ok(*args: str, stdin: str = "") -> Result:
        result = cli(*args, stdin=stdin)
        printed.append(result.both)
        assert result.code == 0, (args, result.both)
        return result

    created = json.loads(
        ok("project", "create", "--name", "Shop", "--slug", "shop", "--output", "json").out
    )
    ok("env", "create", "--project", created["id"], "--slug", "dev", "--name", "Development")
    where = ("--project", "shop", "--env", "dev", "--path", "/app")
    ok("folder", "create", *where)
    ok("secret", "set", *where, "DB_PASSWORD", "--value-stdin", stdin=canary + "\n")
    connection = json.loads(
        ok(
            "connection",
            "create",
            "--project",
            "shop",
            "--name",
            "emulator",
            "--tenant-id",
            emulator.tenant_id,
            "--client-id",
            emulator.client_id,
            "--authority-host",
            emulator.url,
            "--output",
            "json",
            stdin=emulator.client_secret,
        ).out
    )
    assert connection["auth_method"] == "AZURE_AUTH_METHOD_CLIENT_SECRET"
    validated = ok(
        "connection", "validate", "--project", "shop", "emulator", "--vault-url", emulator.url
    )
    assert validated.out.startswith("ok       yes")

    ok(
        "sync",
        "create",
        "--project",
        "shop",
        "--name",
        "app-to-vault",
        "--connection",
        "emulator",
        "--env",
        "dev",
        "--path",
        "/app",
        "--vault-url",
        emulator.url,
        "--key-schema",
        "{{secretKey}}",
        "--initial-behavior",
        "overwrite-destination",
        "--auto-sync",
    )
    watched = ok(
        "sync",
        "watch",
        "--project",
        "shop",
        "app-to-vault",
        "--until",
        "succeeded",
        "--timeout",
        "30",
    )
    assert "sync=SUCCEEDED" in watched.out.splitlines()[-1]
    assert emulator.vault().get_secret("DB-PASSWORD").version.value == canary

    listing = ok("sync", "list", "--project", "shop").out.splitlines()
    assert listing[0].split() == ["NAME", "STATUS", "LAST", "SYNCED", "MESSAGE"]
    assert listing[1].split()[:2] == ["app-to-vault", "SUCCEEDED"]
    keys = ok("secret", "list", *where).out.splitlines()
    assert [line.split()[0] for line in keys] == ["KEY", "DB_PASSWORD"]
    as_json = json.loads(ok("secret", "list", *where, "--output", "json").out)
    assert [s["key"] for s in as_json["secrets"]] == ["DB_PASSWORD"]
    assert "value" not in as_json["secrets"][0]

    for text in printed:  # neither the secret nor the connection's client secret
        assert canary not in text
        assert emulator.client_secret not in text
