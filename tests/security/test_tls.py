"""Transport security (docs/tls.md): TLS and mutual TLS on real sockets with real gRPC.

A client certificate of the configured CA acts as the principal the principals file maps
its identity to; one of another CA, an expired one, or none fails the handshake; one of
the right CA whose identity is unknown is UNAUTHENTICATED, CERTIFICATE_UNKNOWN. Files
replaced on disk are served to new connections without a restart. Plaintext is refused
off loopback and outside development mode.

Transport does not depend on the store: these servers run on SQLite only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from service.api.tls import TlsConfigError, is_loopback
from service.bootstrap import build
from service.runtime.config import Config
from service.runtime.metrics import SHARED
from service.server import SecretSyncServer
from tests.cli.conftest import PYTHON, REPO, run_cli
from tests.conftest import TEST_ROOT_KEY, event_count, start_server
from tests.integration.test_process import free_port
from tests.security.conftest import bearer, reason_of
from tests.tls_helpers import ClientCert, Pki, make_pki, write_principals

CI_URI = "spiffe://kms.test/ci"
ADMIN = [{"project": "*", "actions": ["admin"]}]
RELOAD_WAIT_SECONDS = 15.0  # an upper bound for polling, never an assertion on time


@dataclass
class Mtls:
    server: SecretSyncServer
    pki: Pki
    principals_path: Path
    client: ClientCert  # maps to "ci-deployer", admin everywhere

    def channel(self, client: ClientCert | None = None) -> grpc.Channel:
        return self.pki.channel(self.server.port, client)


def mtls_server(tmp_path: Path, **overrides: Any) -> Mtls:
    pki = make_pki(tmp_path / "pki")
    principals = write_principals(
        tmp_path / "principals.json", {CI_URI: {"principal": "ci-deployer", "grants": ADMIN}}
    )
    settings = {
        **pki.server_config(),
        "tls_client_ca_file": str(pki.ca_path),
        "tls_client_principals_file": str(principals),
        "auth": "required",
        "dev_mode": False,
        **overrides,
    }
    server = start_server(f"sqlite:///{tmp_path}/store.sqlite", **settings)
    client = pki.client("ci", (CI_URI, "ci.kms.test"))
    return Mtls(server, pki, principals, client)


@pytest.fixture
def mtls(tmp_path: Path) -> Iterator[Mtls]:
    world = mtls_server(tmp_path)
    yield world
    world.server.stop(grace=1.0)


def create_project(channel: grpc.Channel, metadata: list[tuple[str, str]] | None = None) -> str:
    sources = sgrpc.SecretSourceServiceStub(channel)
    slug = "p-" + uuid.uuid4().hex[:12]
    request = sapi.CreateProjectRequest(name="TLS", slug=slug)
    return sources.CreateProject(request, metadata=metadata, timeout=10).project.id


def refusal(call: Any) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    return error.code(), reason_of(error), error.details() or ""  # type: ignore[attr-defined]


def actors(server: SecretSyncServer, project_id: str) -> list[str]:
    return [e.actor for e in server.sources.events.get(UUID(project_id))]


def actors_in(database: Path, project_id: str) -> list[str]:
    """The actors of a project's events, read from another process's SQLite store."""
    from service.app.secret_sources import SecretSources
    from service.runtime.store_encryption import event_store_env

    # The process's key, to read its (encrypted) events here.
    config = Config(database_url=f"sqlite:///{database}", root_key=TEST_ROOT_KEY)
    env = event_store_env(config)
    sources = SecretSources(env=env)
    try:
        return [e.actor for e in sources.events.get(UUID(project_id))]
    finally:
        sources.close()


# --- who a certificate is -------------------------------------------------------------


EXPIRY = "secretsync_tls_certificate_expiry_timestamp_seconds"


def test_a_good_client_certificate_acts_as_its_mapped_principal(mtls: Mtls):
    with mtls.channel(mtls.client) as channel:
        project_id = create_project(channel)  # no bearer token: the certificate is who
        sgrpc.SecretSourceServiceStub(channel).CreateEnvironment(
            sapi.CreateEnvironmentRequest(project_id=project_id, slug="dev", name="Dev"),
            timeout=10,
        )
    assert actors(mtls.server, project_id) == ["ci-deployer", "ci-deployer"]


def test_without_subject_alternative_names_the_common_name_is_the_identity(mtls: Mtls):
    write_principals(
        mtls.principals_path,
        {
            CI_URI: {"principal": "ci-deployer", "grants": ADMIN},
            "batch-job": {"principal": "batch", "grants": ADMIN},
        },
    )
    by_name = mtls.pki.client("batch-job")
    with mtls.channel(by_name) as channel:
        project_id = _eventually(lambda: create_project(channel))
    assert actors(mtls.server, project_id) == ["batch"]


def test_a_certificate_of_another_ca_fails_the_handshake_and_records_nothing(
    mtls: Mtls, tmp_path: Path
):
    stranger = make_pki(tmp_path / "other").client("ci", (CI_URI,))  # same identity
    before = event_count(mtls.server)
    with mtls.channel(stranger) as channel:
        code, _, _ = refusal(lambda: create_project(channel))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert event_count(mtls.server) == before


def test_an_expired_certificate_of_the_right_ca_is_refused(mtls: Mtls):
    expired = mtls.pki.client("ci", (CI_URI,), expired=True)
    before = event_count(mtls.server)
    with mtls.channel(expired) as channel:
        code, _, _ = refusal(lambda: create_project(channel))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert event_count(mtls.server) == before


def test_no_client_certificate_at_all_is_refused_when_required(mtls: Mtls):
    admin = bearer(_admin_token(mtls.server))
    with mtls.channel() as channel:
        code, _, _ = refusal(lambda: create_project(channel, admin))  # a token is not enough
    assert code == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_of_the_right_ca_with_an_unknown_identity_is_unauthenticated(
    mtls: Mtls,
):
    unknown = mtls.pki.client("nobody", ("spiffe://kms.test/nobody", "nobody.kms.test"))
    before = event_count(mtls.server)
    with mtls.channel(unknown) as channel:
        code, reason, message = refusal(lambda: create_project(channel))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CERTIFICATE_UNKNOWN")
    assert message == "the client certificate is not mapped to a principal"  # echoes nothing
    assert event_count(mtls.server) == before


def test_a_bearer_token_decides_over_the_certificate(mtls: Mtls):
    token = _admin_token(mtls.server, principal="token-holder")
    with mtls.channel(mtls.client) as channel:
        project_id = create_project(channel, bearer(token))
        code, reason, _ = refusal(lambda: create_project(channel, bearer("sst_not-a-token")))
    assert actors(mtls.server, project_id) == ["token-holder"]
    # A bad token is refused, even though the certificate alone would have been enough.
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID")


def test_health_stays_open_over_mutual_tls(mtls: Mtls):
    unknown = mtls.pki.client("nobody", ("spiffe://kms.test/nobody",))
    with mtls.channel(unknown) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status in (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )


def test_optional_client_auth_lets_bearer_only_clients_in(tmp_path: Path):
    world = mtls_server(tmp_path, tls_client_auth="optional", tls_client_principals_file="")
    try:
        admin = bearer(_admin_token(world.server))
        with world.channel() as channel:
            project_id = create_project(channel, admin)
            # grpcio does not ask for a certificate unless it requires one: a certificate
            # the client has is never sent, so it names nobody.
        with world.channel(world.client) as channel:
            code, reason, _ = refusal(lambda: create_project(channel))
        assert actors(world.server, project_id) == ["test-admin"]
        assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")
    finally:
        world.server.stop(grace=1.0)


# --- reloading --------------------------------------------------------------------------


def test_a_replaced_server_certificate_is_served_to_new_connections_without_restart(
    mtls: Mtls, tmp_path: Path
):
    with mtls.channel(mtls.client) as channel:
        create_project(channel)
    renewed = make_pki(tmp_path / "renewed")
    cert, key = renewed.server_files("next")
    # Key first, then certificate: in between, the pair does not match and is not taken.
    Path(mtls.server.config.tls_key_file).write_bytes(key.read_bytes())
    Path(mtls.server.config.tls_cert_file).write_bytes(cert.read_bytes())

    # The client certificate is still of the first CA, which stays the client CA.
    def with_new_ca() -> str:
        with grpc.secure_channel(
            f"127.0.0.1:{mtls.server.port}", renewed.credentials(mtls.client)
        ) as channel:
            return create_project(channel)

    project_id = _eventually(with_new_ca)
    assert actors(mtls.server, project_id) == ["ci-deployer"]
    # What an expiry alert watches follows the certificate now served.
    renewed_until = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc
    assert SHARED.get_sample_value(EXPIRY) == renewed_until.timestamp()
    with mtls.channel(mtls.client) as old_trust:  # the old server certificate is gone
        code, _, _ = refusal(lambda: create_project(old_trust))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_a_changed_principals_file_applies_without_restart(mtls: Mtls):
    with mtls.channel(mtls.client) as channel:
        first = create_project(channel)
        write_principals(
            mtls.principals_path, {CI_URI: {"principal": "ci-renamed", "grants": ADMIN}}
        )

        def renamed() -> str:
            project_id = create_project(channel)  # the same connection
            assert actors(mtls.server, project_id) == ["ci-renamed"]
            return project_id

        _eventually(renamed)
        write_principals(mtls.principals_path, {})
        code, reason, _ = _eventually(lambda: _refused(lambda: create_project(channel)))
    assert actors(mtls.server, first) == ["ci-deployer"]
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CERTIFICATE_UNKNOWN")


def test_unusable_new_files_are_logged_without_content_and_the_last_good_ones_kept(
    mtls: Mtls, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="secretsync.tls")
    key_path = Path(mtls.server.config.tls_key_file)
    key_pem = key_path.read_text()
    secret_line = key_pem.splitlines()[1]
    # A key that is not the certificate's (another good key), then a broken principals file.
    other_key = mtls.pki.client("x").key_path.read_text()
    key_path.write_text(other_key)
    mtls.principals_path.write_text("{not json")

    def logged() -> None:
        with mtls.channel(mtls.client) as channel:
            create_project(channel)  # new connections still get the last good set
        assert "cannot be used" in caplog.text

    _eventually(logged)
    assert "does not belong to the server certificate" in caplog.text
    with mtls.channel(mtls.client) as channel:
        project_id = create_project(channel)
    assert actors(mtls.server, project_id) == ["ci-deployer"]
    for text in (secret_line, other_key.splitlines()[1], "PRIVATE KEY"):
        assert text not in caplog.text


# --- plaintext --------------------------------------------------------------------------


def _config(tmp_path: Path, **fields: Any) -> Config:
    defaults: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "database_url": f"sqlite:///{tmp_path}/s.sqlite",
        "root_key": TEST_ROOT_KEY,
        "run_jobs": False,
    }
    return Config(**{**defaults, **fields})


def test_plaintext_is_refused_outside_development_mode(tmp_path: Path):
    with pytest.raises(TlsConfigError, match="outside development mode"):
        build(_config(tmp_path, auth="required"))


def test_plaintext_is_refused_off_loopback_even_in_development_mode(tmp_path: Path):
    for listen in ("0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0", "example.com:0"):
        with pytest.raises(TlsConfigError, match="loopback"):
            build(_config(tmp_path, dev_mode=True, listen=listen))


def test_plaintext_on_loopback_in_development_mode_starts_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    server = start_server(f"sqlite:///{tmp_path}/s.sqlite")
    try:
        assert server.tls is None
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("PLAINTEXT gRPC" in r.getMessage() for r in warnings)
    finally:
        server.stop(grace=1.0)


def test_loopback_addresses():
    for listen in ("127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "localhost:1", "LOCALHOST:1"):
        assert is_loopback(listen), listen
    for listen in ("0.0.0.0:1", "[::]:1", ":1", "10.0.0.1:1", "example.com:1", "unix:/tmp/s"):
        assert not is_loopback(listen), listen


# --- settings and files checked at start -----------------------------------------------


def test_inconsistent_or_unusable_settings_refuse_to_start(tmp_path: Path):
    pki = make_pki(tmp_path / "pki")
    good = pki.server_config()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n")
    principals = write_principals(tmp_path / "p.json", {"x": {"principal": "worker"}})
    cases = {
        "both SECRET_SYNC_TLS_CERT_FILE and": {"tls_cert_file": good["tls_cert_file"]},
        "need SECRET_SYNC_TLS_CLIENT_CA_FILE": {**good, "tls_client_auth": "require"},
        "'require' or 'optional'": {
            **good, "tls_client_ca_file": str(pki.ca_path), "tls_client_auth": "sometimes",
        },
        "needs SECRET_SYNC_TLS_CLIENT_AUTH=require": {
            **good, "tls_client_ca_file": str(pki.ca_path), "tls_client_auth": "optional",
            "tls_client_principals_file": str(principals),
        },
        "cannot read it": {**good, "tls_client_ca_file": str(tmp_path / "missing.pem")},
        "holds no PEM certificate": {**good, "tls_cert_file": str(garbage)},
        "not an unencrypted PEM private key": {**good, "tls_key_file": str(garbage)},
        "reserved for the service": {
            **good, "tls_client_ca_file": str(pki.ca_path),
            "tls_client_principals_file": str(principals),
        },
    }  # fmt: skip
    for expected, fields in cases.items():
        with pytest.raises(TlsConfigError) as refused:
            build(_config(tmp_path, auth="required", **fields))
        assert expected in str(refused.value), (expected, str(refused.value))
        assert "not really" not in str(refused.value)


# --- the CLI and the command ----------------------------------------------------------


def test_the_cli_talks_mutual_tls_with_flags_or_environment(mtls: Mtls):
    target = f"127.0.0.1:{mtls.server.port}"
    client = ["--ca-file", str(mtls.pki.ca_path), "--cert-file", str(mtls.client.cert_path),
              "--key-file", str(mtls.client.key_path)]  # fmt: skip
    slug = "cli-" + uuid.uuid4().hex[:8]
    made = run_cli(target, "project", "create", "--name", "C", "--slug", slug,
                   "--output", "json", *client)  # fmt: skip
    assert made.code == 0, made.both
    assert actors(mtls.server, json.loads(made.out)["id"]) == ["ci-deployer"]

    env = {"SECRET_SYNC_CA_FILE": str(mtls.pki.ca_path),
           "SECRET_SYNC_CERT_FILE": str(mtls.client.cert_path),
           "SECRET_SYNC_KEY_FILE": str(mtls.client.key_path)}  # fmt: skip
    listed = run_cli(target, "project", "list", "--output", "json", env=env)
    assert listed.code == 0, listed.both
    assert slug in listed.out

    plain = run_cli(target, "project", "list")  # no TLS: the handshake never happens
    assert plain.code == 1 and "UNAVAILABLE" in plain.err
    half = run_cli(target, "project", "list", "--cert-file", str(mtls.client.cert_path))
    assert half.code == 2 and "go together" in half.err
    assert "PRIVATE KEY" not in made.both + listed.both + plain.both + half.both


def serve_process(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m service serve` outside development mode, unless told --dev."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SECRET_SYNC_")},
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen")]),
        "SECRET_SYNC_ROOT_KEY": TEST_ROOT_KEY,
        "SECRET_SYNC_RUN_JOBS": "0",
        "SECRET_SYNC_METRICS_LISTEN": "off",
    }
    log_path = tmp_path / f"serve-{uuid.uuid4().hex[:6]}.log"
    command = [str(PYTHON), "-m", "service", "serve",
               "--database-url", f"sqlite:///{tmp_path}/process.sqlite", *flags]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    return process, log_path


def test_serve_with_tls_flags_runs_as_a_process(tmp_path: Path):
    pki = make_pki(tmp_path / "pki")
    cert, key = pki.server_files()
    principals = write_principals(
        tmp_path / "principals.json", {CI_URI: {"principal": "ci-process", "grants": ADMIN}}
    )
    port = free_port()
    process, log_path = serve_process(
        tmp_path, "--listen", f"127.0.0.1:{port}", "--tls-cert-file", str(cert),
        "--tls-key-file", str(key), "--tls-client-ca-file", str(pki.ca_path),
        "--tls-client-principals-file", str(principals),
    )  # fmt: skip
    client = pki.client("ci", (CI_URI,))
    try:
        with pki.channel(port, client) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            project_id = _eventually(lambda: create_project(channel))
        assert actors_in(tmp_path / "process.sqlite", project_id) == ["ci-process"]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
            code, _, _ = refusal(lambda: create_project(plain))
        assert code == grpc.StatusCode.UNAVAILABLE
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    log = log_path.read_text(errors="replace")
    assert "TLS: server certificate CN=localhost" in log, log
    assert "client certificates required (mutual TLS)" in log
    assert "PRIVATE KEY" not in log and "PLAINTEXT" not in log


def test_serve_refuses_plaintext_as_a_process(tmp_path: Path):
    for flags in (("--listen", "127.0.0.1:0"), ("--dev", "--listen", "0.0.0.0:0")):
        process, log_path = serve_process(tmp_path, *flags)
        assert process.wait(timeout=60) != 0, flags
        log = log_path.read_text(errors="replace")
        assert "cannot start: refusing to serve plaintext gRPC" in log, log
        assert "Traceback" not in log


# --- helpers ----------------------------------------------------------------------------


def _admin_token(server: SecretSyncServer, principal: str = "test-admin") -> str:
    from datetime import timedelta

    from service.app.call_context import CallContext

    _, token = server.tokens.create(
        "t-" + uuid.uuid4().hex[:8], principal, ADMIN, timedelta(hours=1),
        CallContext("bootstrap", "r-" + uuid.uuid4().hex),
    )  # fmt: skip
    return token


def _refused(call: Any) -> tuple[grpc.StatusCode, str, str]:
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), reason_of(error), error.details() or ""  # type: ignore[attr-defined]
    raise AssertionError("the call was not refused")


def _eventually(attempt: Any) -> Any:
    """attempt() until it neither raises nor fails an assertion: files are looked at
    once a second, so a change shows after a moment."""
    deadline = time.monotonic() + RELOAD_WAIT_SECONDS
    while True:
        try:
            return attempt()
        except (grpc.RpcError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
