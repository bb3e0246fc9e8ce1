"""What security costs per call: GetSecretSync on the same SQLite server configuration
plaintext without authentication (the baseline), with a service token, over TLS with a
service token, and over mutual TLS acting as the client certificate's principal.

Every server is `python -m service serve --dev` on its own SQLite file (WARNING log),
all four running at once; rounds alternate between them as in phase 1 (get_bench.py).
The token is made with `python -m service token create --bootstrap` in the server's
store before the server starts (same root key). The certificates come from a test CA
(tests/tls_helpers.py). TLS handshakes happen once per channel, before measuring: the
numbers are the per-call cost on an established connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.envelope import RootKey
from tests.bench.get_bench import GetRow, GetTarget, bench_get
from tests.bench.seed import create_sync, project_with_folder
from tests.bench.servers import REPO, ServerProcess, start_ours
from tests.bench.settings import Settings
from tests.conftest import Bearer
from tests.tls_helpers import make_pki, write_principals

BASELINE = "plaintext, auth off (baseline)"
TOKEN = "plaintext + service token"
TLS_TOKEN = "TLS + service token"
MTLS = "mutual TLS, certificate principal"
LABELS = (BASELINE, TOKEN, TLS_TOKEN, MTLS)
CLIENT_IDENTITY = "bench-client.example.org"  # the client certificate's DNS name


@dataclass(frozen=True)
class _Server:
    server: ServerProcess
    metadata: tuple[tuple[str, str], ...]  # sent with every call: the token, or nothing


def bench_security(
    settings: Settings, workdir: Path, started: Callable[[ServerProcess], ServerProcess]
) -> list[GetRow]:
    """The four servers' GetSecretSync rows at 1 and 32 in flight; `started` is given
    each server as it comes up, and must see that it is stopped in the end."""
    servers = _start_servers(workdir, started)
    targets = [_target(label, s) for label, s in servers.items()]
    return bench_get(targets, (1, 32), settings.rounds, settings.warmup, settings.seconds)


def _start_servers(
    workdir: Path, started: Callable[[ServerProcess], ServerProcess]
) -> dict[str, _Server]:
    pki = make_pki(workdir / "security-pki")
    cert, key = pki.server_files()
    tls_args = ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    client = pki.client("bench client", (CLIENT_IDENTITY,))
    admin = {"principal": "bench", "grants": [{"project": "*", "actions": ["admin"]}]}
    principals = write_principals(workdir / "security-principals.json", {CLIENT_IDENTITY: admin})
    mtls_args = [
        *tls_args,
        "--tls-client-ca-file", str(pki.ca_path),
        "--tls-client-principals-file", str(principals),
    ]
    plans: dict[str, tuple[list[str], grpc.ChannelCredentials | None, bool]] = {
        BASELINE: ([], None, False),
        TOKEN: ([], None, True),
        TLS_TOKEN: (tls_args, pki.credentials(), True),
        MTLS: (mtls_args, pki.credentials(client), False),
    }
    servers: dict[str, _Server] = {}
    for number, (label, (args, credentials, with_token)) in enumerate(plans.items()):
        url = f"sqlite:///{workdir}/security-{number}.sqlite"
        root_key = RootKey.generate_text()
        token = _bootstrap_token(url, root_key) if with_token else ""
        auth = "off" if label == BASELINE else "required"
        server = started(
            start_ours(
                label,
                url,
                "WARNING",
                workdir,
                env={"SECRET_SYNC_AUTH": auth, "SECRET_SYNC_ROOT_KEY": root_key},
                args=args,
                credentials=credentials,
            )
        )
        servers[label] = _Server(server, (("authorization", f"Bearer {token}"),) if token else ())
    return servers


def _bootstrap_token(database_url: str, root_key: str) -> str:
    """An admin service token written into the (new) store, as docs/auth.md says."""
    env = {**os.environ, "SECRET_SYNC_ROOT_KEY": root_key}
    command = [sys.executable, "-m", "service", "token", "create", "--bootstrap",
               "--output", "json", "--database-url", database_url]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"token create --bootstrap failed: {done.stderr.strip()}")
    token: str = json.loads(done.stdout)["token"]
    return token


def _target(label: str, entry: _Server) -> GetTarget:
    """A sync made on the server with its own credentials, after checking that a call
    without them is refused (else the numbers would be of refusals, or of no security)."""
    with entry.server.channel() as bare:
        if label != BASELINE:
            _expect_refused(bare, label)
        token = dict(entry.metadata).get("authorization", "").removeprefix("Bearer ")
        channel = grpc.intercept_channel(bare, Bearer(token)) if token else bare
        sync_id = create_sync(channel, project_with_folder(channel))
    return GetTarget(label, entry.server, sync_id, entry.metadata)


def _expect_refused(channel: grpc.Channel, label: str) -> None:
    stub = api_grpc.SecretSyncServiceStub(channel)
    anonymous: tuple[tuple[str, str], ...] = ()
    if label == MTLS:  # the certificate is the credential: a bad token must still be refused
        anonymous = (("authorization", "Bearer sst_not_a_token"),)
    try:
        stub.ListSecretSyncs(api.ListSecretSyncsRequest(), metadata=anonymous, timeout=10)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            return
        raise
    raise RuntimeError(f"{label}: a call without a valid credential was not refused")
