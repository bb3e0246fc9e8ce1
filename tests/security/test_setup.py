"""Turning authentication on and off, the first admin token of a fresh install (the CLI's
`token create --bootstrap`, as a real process), the CLI with a token, and JWKS keys."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from adapters.jwt_verifier import JwtRejected, JwtSettings, JwtVerifier
from domain.errors import Unauthenticated
from service.bootstrap import build
from service.runtime.config import Config
from tests.cli.conftest import run_cli
from tests.conftest import TEST_ROOT_KEY, start_server
from tests.security.conftest import bearer, make_key, public_pem


def test_authentication_is_required_by_default_and_off_only_in_development_mode():
    assert Config().auth_required()
    assert not Config(dev_mode=True).auth_required()
    assert Config(dev_mode=True, auth="required").auth_required()
    assert Config.from_env({"SECRET_SYNC_AUTH": "REQUIRED"}).auth_required()
    with pytest.raises(ValueError, match="only in development mode"):
        Config(auth="off").auth_required()
    with pytest.raises(ValueError, match="must be 'required' or 'off'"):
        Config(auth="maybe", dev_mode=True).auth_required()


def test_a_server_outside_development_mode_refuses_to_run_without_authentication(tmp_path):
    config = Config(
        listen="127.0.0.1:0",
        database_url=f"sqlite:///{tmp_path}/s.sqlite",
        root_key=TEST_ROOT_KEY,
        auth="off",
        run_jobs=False,
    )
    with pytest.raises(ValueError, match="only in development mode"):
        build(config)


def test_development_mode_without_authentication_warns_and_records_anonymous(
    tmp_path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    server = start_server(f"sqlite:///{tmp_path}/s.sqlite")
    try:
        assert server.authenticator is None
        assert "AUTHENTICATION IS OFF" in caplog.text
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            sources = sgrpc.SecretSourceServiceStub(channel)
            sources.CreateProject(sapi.CreateProjectRequest(name="A", slug="a"))
        deadline = time.monotonic() + 10
        while not list(server.audit.view.rows()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {r.actor for r in server.audit.view.rows()} == {"anonymous"}
    finally:
        server.stop(grace=1.0)


def test_a_fresh_install_gets_its_first_admin_token_from_the_cli(database_url, tmp_path):
    made = run_cli(
        "127.0.0.1:1",  # no server is asked
        "token", "create", "--bootstrap", "--database-url", database_url, "--output", "json",
        env={"SECRET_SYNC_ROOT_KEY": TEST_ROOT_KEY},  # it writes to the encrypted store
    )
    assert made.code == 0, made.both
    answer = json.loads(made.out)
    token = answer["token"]
    assert answer["service_token"]["principal"] == "admin"
    assert "shown this once" in made.err and token not in made.err

    server = start_server(database_url, auth="required")
    target = f"127.0.0.1:{server.port}"
    try:
        with grpc.insecure_channel(target) as channel:
            sources = sgrpc.SecretSourceServiceStub(channel)
            sources.CreateProject(
                sapi.CreateProjectRequest(name="Shop", slug="shop"), metadata=bearer(token)
            )
        refused = run_cli(target, "project", "list")
        assert refused.code == 2 and "UNAUTHENTICATED" in refused.err
        assert "TOKEN_MISSING" in refused.err
        as_admin = {"SECRET_SYNC_TOKEN": token}
        listed = run_cli(target, "project", "list", env=as_admin)
        assert listed.code == 0 and "shop" in listed.out, listed.both
        (tmp_path / "token").write_text(token + "\n")
        reader = run_cli(
            target, "token", "create", "--name", "reader", "--principal", "bob",
            "--grant", "shop:read:dev:/app/**", "--token-file", str(tmp_path / "token"),
        )
        assert reader.code == 0, reader.both
        bob = next(line.split()[-1] for line in reader.out.splitlines() if line.startswith("token"))
        as_bob = {"SECRET_SYNC_TOKEN": bob}
        assert "shop" in run_cli(target, "project", "list", env=as_bob).out
        tokens = run_cli(target, "token", "list", env=as_admin)
        assert tokens.code == 0 and "reader" in tokens.out and "bob" in tokens.out
        assert bob not in tokens.out and token not in tokens.out
        assert run_cli(target, "token", "list", env=as_bob).code == 2  # not an admin
        revoked = run_cli(target, "token", "revoke", "reader", env=as_admin)
        assert revoked.code == 0, revoked.both
        after = run_cli(target, "project", "list", env=as_bob)
        assert after.code == 2 and "TOKEN_REVOKED" in after.err
        assert bob not in after.err
    finally:
        server.stop(grace=1.0)


def test_jwts_are_verified_with_the_key_a_jwks_names(tmp_path):
    keys = {"k1": make_key(), "k2": make_key()}
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())), "kid": kid}
            for kid, k in keys.items()
        ]
    }
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    verifier = JwtVerifier(
        JwtSettings(issuer="iss", audience="aud", jwks_file=str(tmp_path / "jwks.json"))
    )
    now = datetime.now(UTC)
    claims = {"iss": "iss", "aud": "aud", "sub": "u", "exp": now + timedelta(minutes=1)}
    for kid, key in keys.items():
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        assert verifier.principal_of(token).name == "u"
    wrong = jwt.encode(claims, keys["k1"], algorithm="RS256", headers={"kid": "k2"})
    unknown = jwt.encode(claims, keys["k1"], algorithm="RS256", headers={"kid": "k3"})
    for token in (wrong, unknown):
        with pytest.raises(JwtRejected):
            verifier.principal_of(token)


def test_jwt_settings_must_name_issuer_audience_and_keys(tmp_path):
    (tmp_path / "k.pem").write_bytes(public_pem(make_key()))
    key = str(tmp_path / "k.pem")
    for settings in (
        JwtSettings(issuer="", audience="a", public_key_file=key),
        JwtSettings(issuer="i", audience="", public_key_file=key),
        JwtSettings(issuer="i", audience="a"),
        JwtSettings(issuer="i", audience="a", public_key_file=key, algorithms=("HS256",)),
    ):
        with pytest.raises(ValueError):
            JwtVerifier(settings)


def test_each_refusal_is_a_new_error_so_none_keeps_the_frames_of_earlier_calls():
    """A shared exception instance raised on every call grows its traceback by each raise,
    holding those calls' frames (and the credentials in them) for the process's life."""
    import traceback

    from service.api.authn import bearer

    errors: list[Unauthenticated] = []
    for _ in range(50):
        for metadata in ([], [("authorization", "Basic abc")], [("authorization", "x y z")]):
            with pytest.raises(Unauthenticated) as refused:
                bearer(metadata)
            errors.append(refused.value)
    assert len({id(error) for error in errors}) == len(errors)
    assert max(len(traceback.extract_tb(error.__traceback__)) for error in errors) <= 2
