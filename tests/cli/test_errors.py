"""Failures print the gRPC code, the message and every bad field, and exit non-zero:
2 when the caller must change something, 1 when the server or network failed."""

from __future__ import annotations

import grpc

from tests.cli.conftest import Cli, run_cli
from tests.conftest import new_project


def test_bad_fields_are_each_named_and_exit_2(cli: Cli, target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        project_id = new_project(channel)

    result = cli(
        "sync",
        "create",
        "--project",
        project_id,
        "--name",
        "Not_A_Slug",
        "--connection",
        "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "--env",
        "dev",
        "--path",
        "relative/path",
        "--vault-url",
        "http://vault.example",
        "--key-schema",
        "no-placeholder",
        "--request-id",
        "cli-test-1",
    )

    assert result.code == 2
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0].startswith("error: INVALID_ARGUMENT: ")
    fields = {
        line.split(":")[0].removeprefix("  field ") for line in lines if line.startswith("  field ")
    }
    assert fields == {
        "name",
        "secret_path",
        "destination_config.vault_base_url",
        "sync_options.key_schema",
    }
    assert "  reason: INVALID_ARGUMENT (secretsync.kms.hanzo.ai)" in lines
    assert lines[-1] == "  request id: cli-test-1"


def test_unknown_names_exit_2_with_the_name(cli: Cli, target: str) -> None:
    project = cli("sync", "list", "--project", "no-such-project")
    sync = cli("sync", "get", "--project", "no-such-project", "some-sync")

    assert project.code == 2 and "no project with slug 'no-such-project'" in project.err
    assert sync.code == 2 and "no project with slug" in sync.err


def test_an_unreachable_server_exits_1() -> None:
    result = run_cli("127.0.0.1:1", "project", "list", "--timeout", "5")

    assert result.code == 1
    assert result.err.startswith("error: UNAVAILABLE: ")


def test_a_bad_command_line_exits_2_before_any_call() -> None:
    missing = run_cli("127.0.0.1:1", "sync", "create", "--project", "p")
    value_in_argv = run_cli(
        "127.0.0.1:1",
        "secret",
        "set",
        "--project",
        "p",
        "--env",
        "dev",
        "--path",
        "/",
        "KEY",
        "VALUE",
    )

    assert missing.code == 2 and "the following arguments are required" in missing.err
    assert value_in_argv.code == 2 and "unrecognized arguments: VALUE" in value_in_argv.err
