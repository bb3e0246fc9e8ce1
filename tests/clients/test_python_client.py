"""The Python client package (clients/python): built from protos/ into a wheel with typed
stubs, installed into a fresh environment that cannot see this repository's gen/, and
used there against a real server."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.server import SecretSyncServer
from tests.conftest import start_server

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = "hanzo/kms/secretsync/v1"
STEMS = sorted(p.stem for p in (ROOT / "protos" / PACKAGE_DIR).glob("*.proto"))

# Runs inside the fresh environment: only the installed wheel provides hanzo.*.
DRIVER = """
import json, sys
import grpc
from hanzo.kms.secretsync.errors import rich_error
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

channel = grpc.insecure_channel(sys.argv[1])
project = sgrpc.SecretSourceServiceStub(channel).CreateProject(
    sapi.CreateProjectRequest(name="Python client", slug="python-client"), timeout=10
).project
try:
    api_grpc.SecretSyncServiceStub(channel).GetSecretSync(
        api.GetSecretSyncRequest(id="not-a-uuid"), timeout=10
    )
except grpc.RpcError as error:
    rich = rich_error(error)
print(json.dumps({
    "module": sapi.__file__,
    "slug": project.slug,
    "code": rich.code.name,
    "reason": rich.reason,
    "fields": [v.field for v in rich.field_violations],
}))
"""


def run(*command: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built as `make python-client` does, with the venv's grpcio-tools and mypy-protobuf
    (no build isolation: no download), from a copy laid out like the repository, so
    that test runs sharing a work tree never build in the same place."""
    work = tmp_path_factory.mktemp("client-build")
    shutil.copytree(ROOT / "protos", work / "protos")
    shutil.copytree(
        ROOT / "clients" / "python",
        work / "clients" / "python",
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "v1"),
    )
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", work / "wheel", work / "clients" / "python")
    (built,) = (work / "wheel").glob("hanzo_kms_secretsync_client-*.whl")
    return built


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SecretSyncServer]:
    running = start_server(f"sqlite:///{tmp_path}/store.sqlite")
    yield running
    running.stop(grace=1.0)


def test_the_wheel_holds_every_generated_module_with_its_typed_stub(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        stub = archive.read(f"{PACKAGE_DIR}/secret_sync_pb2.pyi").decode()
        metadata = archive.read(
            next(n for n in names if n.endswith(".dist-info/METADATA"))
        ).decode()
    for stem in STEMS:
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi"):
            assert f"{PACKAGE_DIR}/{stem}{suffix}" in names
    assert {f"{PACKAGE_DIR}/py.typed", "hanzo/kms/secretsync/py.typed"} <= names
    assert "hanzo/kms/secretsync/errors.py" in names
    assert "hanzo/kms/secretsync/channel.py" in names
    # hanzo and hanzo.kms stay namespace packages, open to other distributions.
    assert not {"hanzo/__init__.py", "hanzo/kms/__init__.py"} & names
    classes = {n.name for n in ast.walk(ast.parse(stub)) if isinstance(n, ast.ClassDef)}
    assert {"SecretSync", "SyncOptions", "AzureKeyVaultDestinationConfig"} <= classes
    lines = metadata.splitlines()
    required = {line.split()[1] for line in lines if line.startswith("Requires-Dist:")}
    assert required == {
        "grpcio>=1.85.1", "grpcio-status>=1.85.1", "protobuf<8,>=7.35.1",
        "googleapis-common-protos>=1.76.0",
    }


def fresh_environment(wheel: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A venv with only the wheel installed: (its python, its site-packages)."""
    env = tmp_path / "env"
    run(sys.executable, "-m", "venv", "--without-pip", env)
    site = env / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    # Third-party packages (grpcio, protobuf, ...) come from this venv's site-packages as
    # a plain path: its .pth files, which put gen/ on the path, are not read.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
        "--target", site, wheel)
    return env / "bin" / "python", site


def test_installed_into_a_fresh_environment_it_calls_a_real_server(wheel, service, tmp_path):
    python, site = fresh_environment(wheel, tmp_path)

    answer = json.loads(
        run(python, "-c", DRIVER, f"127.0.0.1:{service.port}", cwd=tmp_path)
    )

    assert Path(answer["module"]).is_relative_to(site)
    assert Path(answer["module"]).with_suffix(".pyi").is_file()
    assert answer["slug"] == "python-client"
    assert (answer["code"], answer["reason"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert answer["fields"] == ["id"]


# The channel helper over mutual TLS, its certificate acting as an admin (docs/tls.md).
TLS_DRIVER = """
import sys
from hanzo.kms.secretsync.channel import secure_channel
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

target, ca, cert, key = sys.argv[1:5]
with secure_channel(target, ca_file=ca, cert_file=cert, key_file=key) as channel:
    stub = sgrpc.SecretSourceServiceStub(channel)
    project = stub.CreateProject(sapi.CreateProjectRequest(name="T", slug="tls-client"),
                                 timeout=10).project
print(project.slug)
"""


def test_its_channel_helper_speaks_mutual_tls(wheel, tmp_path):
    from tests.tls_helpers import make_pki, write_principals

    pki = make_pki(tmp_path / "pki")
    principals = write_principals(
        tmp_path / "p.json",
        {"spiffe://kms.test/app": {"principal": "app", "grants": [
            {"project": "*", "actions": ["admin"]}]}},
    )  # fmt: skip
    server = start_server(
        f"sqlite:///{tmp_path}/store.sqlite", dev_mode=False, auth="required",
        tls_client_ca_file=str(pki.ca_path), tls_client_principals_file=str(principals),
        **pki.server_config(),
    )  # fmt: skip
    try:
        client = pki.client("app", ("spiffe://kms.test/app",))
        python, _ = fresh_environment(wheel, tmp_path)
        slug = run(python, "-c", TLS_DRIVER, f"127.0.0.1:{server.port}", pki.ca_path,
                   client.cert_path, client.key_path, cwd=tmp_path)  # fmt: skip
    finally:
        server.stop(grace=1.0)
    assert slug.strip() == "tls-client"
