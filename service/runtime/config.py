"""Configuration from environment variables (flags override them; see README)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from adapters.envelope import RootKey, RootKeyError
from domain.managed_identity import Allowance, AllowanceError, parse_allowances

DEFAULT_DATABASE_URL = "sqlite:///data/secret-sync.sqlite"
DEV_ROOT_KEY_FILE = "data/root.key"
APP_NAME = "SecretSyncs"
DEFAULT_METRICS_LISTEN = "127.0.0.1:9464"  # Prometheus' usual exporter port


class ConfigError(ValueError):
    """A setting the service cannot start with; the message names the setting."""


@dataclass(frozen=True)
class Config:
    listen: str = "127.0.0.1:50051"
    database_url: str = DEFAULT_DATABASE_URL
    dev_mode: bool = False
    # Calls beyond max_concurrent_rpcs are refused (RESOURCE_EXHAUSTED), never queued:
    # the server has a handler thread for each. Open streams may take at most
    # max_streams of them, so streams can never starve short calls.
    max_concurrent_rpcs: int = 256
    max_streams: int = 128
    # A stream ends after this long (UNAVAILABLE, STREAM_LIFETIME_REACHED) and the client
    # reconnects from its last position: its rights are then checked anew, and a
    # replica being drained or rebalanced sheds its streams.
    max_stream_seconds: float = 3600.0
    grace_seconds: float = 10.0
    max_message_bytes: int = 32 * 1024 * 1024  # a bulk set of 10,000 secrets fits
    write_wait_seconds: float = 5.0  # how long a write waits for the view to catch up
    # How long a call waits for a PostgreSQL connection before UNAVAILABLE (the library
    # tries up to 10 times on a dropped connection, so a call waits ~10x this at worst).
    store_wait_seconds: int = 5
    log_level: str = "INFO"
    run_jobs: bool = True  # run requested jobs in this process (the sync worker)
    job_concurrency: int = 4
    # A job whose worker sent no sign of life for this long is taken over by another.
    job_lease_seconds: float = 300.0
    # A sync job that failed for a transient reason is retried by itself: first after
    # this long, doubling (with jitter) up to 15 minutes, at most job_retries times.
    job_retry_seconds: float = 30.0
    job_retries: int = 5
    root_key: str = ""  # base64 of 32 bytes; never logged
    root_key_file: str = ""
    # Older root keys still read during a rotation (docs/keys.md): comma-separated.
    old_root_keys: str = ""
    old_root_key_files: str = ""
    # /metrics over HTTP; "" is off, the default for servers built in code (tests).
    # The command line serves it on DEFAULT_METRICS_LISTEN unless told "off".
    metrics_listen: str = ""
    log_format: str = "human"  # or "json": one JSON object per line
    # Authentication (docs/auth.md): "required", or "off" (development mode only);
    # "" is the default: required, or off in development mode.
    auth: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_public_key_file: str = ""
    jwt_jwks_file: str = ""
    jwt_leeway_seconds: float = 30.0
    # Transport security (docs/tls.md); all empty: plaintext, development mode on loopback only.
    tls_cert_file: str = ""  # the server's certificate chain, PEM
    tls_key_file: str = ""  # its private key, PEM; never logged
    tls_client_ca_file: str = ""  # set: mutual TLS, client certificates verified against it
    tls_client_auth: str = ""  # "require" (the default with a client CA) or "optional"
    tls_client_principals_file: str = ""  # JSON: certificate identity -> principal, grants
    # Which projects may use which of the host's managed identities, and for which vaults
    # (domain/managed_identity.py, docs/auth.md); empty: none.
    managed_identities: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            listen=env.get("SECRET_SYNC_LISTEN", defaults.listen),
            database_url=env.get("SECRET_SYNC_DATABASE_URL", defaults.database_url),
            dev_mode=env.get("SECRET_SYNC_DEV_MODE", "").lower() in ("1", "true", "yes"),
            max_concurrent_rpcs=int(
                env.get("SECRET_SYNC_MAX_CONCURRENT_RPCS", defaults.max_concurrent_rpcs)
            ),
            max_streams=int(env.get("SECRET_SYNC_MAX_STREAMS", defaults.max_streams)),
            max_stream_seconds=float(
                env.get("SECRET_SYNC_MAX_STREAM_SECONDS", defaults.max_stream_seconds)
            ),
            grace_seconds=float(env.get("SECRET_SYNC_GRACE_SECONDS", defaults.grace_seconds)),
            max_message_bytes=int(
                env.get("SECRET_SYNC_MAX_MESSAGE_BYTES", defaults.max_message_bytes)
            ),
            write_wait_seconds=float(
                env.get("SECRET_SYNC_WRITE_WAIT_SECONDS", defaults.write_wait_seconds)
            ),
            store_wait_seconds=int(
                env.get("SECRET_SYNC_STORE_WAIT_SECONDS", defaults.store_wait_seconds)
            ),
            log_level=env.get("SECRET_SYNC_LOG_LEVEL", defaults.log_level).upper(),
            run_jobs=env.get("SECRET_SYNC_RUN_JOBS", "1").lower() not in ("0", "false", "no"),
            job_concurrency=int(env.get("SECRET_SYNC_JOB_CONCURRENCY", defaults.job_concurrency)),
            job_lease_seconds=float(
                env.get("SECRET_SYNC_JOB_LEASE_SECONDS", defaults.job_lease_seconds)
            ),
            job_retry_seconds=float(
                env.get("SECRET_SYNC_JOB_RETRY_SECONDS", defaults.job_retry_seconds)
            ),
            job_retries=int(env.get("SECRET_SYNC_JOB_RETRIES", defaults.job_retries)),
            root_key=env.get("SECRET_SYNC_ROOT_KEY", ""),
            root_key_file=env.get("SECRET_SYNC_ROOT_KEY_FILE", ""),
            old_root_keys=env.get("SECRET_SYNC_OLD_ROOT_KEYS", ""),
            old_root_key_files=env.get("SECRET_SYNC_OLD_ROOT_KEY_FILES", ""),
            metrics_listen=metrics_listen(
                env.get("SECRET_SYNC_METRICS_LISTEN", DEFAULT_METRICS_LISTEN)
            ),
            log_format=env.get("SECRET_SYNC_LOG_FORMAT", defaults.log_format).lower(),
            auth=env.get("SECRET_SYNC_AUTH", "").strip().lower(),
            jwt_issuer=env.get("SECRET_SYNC_JWT_ISSUER", ""),
            jwt_audience=env.get("SECRET_SYNC_JWT_AUDIENCE", ""),
            jwt_public_key_file=env.get("SECRET_SYNC_JWT_PUBLIC_KEY_FILE", ""),
            jwt_jwks_file=env.get("SECRET_SYNC_JWT_JWKS_FILE", ""),
            jwt_leeway_seconds=float(
                env.get("SECRET_SYNC_JWT_LEEWAY_SECONDS", defaults.jwt_leeway_seconds)
            ),
            tls_cert_file=env.get("SECRET_SYNC_TLS_CERT_FILE", ""),
            tls_key_file=env.get("SECRET_SYNC_TLS_KEY_FILE", ""),
            tls_client_ca_file=env.get("SECRET_SYNC_TLS_CLIENT_CA_FILE", ""),
            tls_client_auth=env.get("SECRET_SYNC_TLS_CLIENT_AUTH", "").strip().lower(),
            tls_client_principals_file=env.get("SECRET_SYNC_TLS_CLIENT_PRINCIPALS_FILE", ""),
            managed_identities=env.get("SECRET_SYNC_MANAGED_IDENTITIES", ""),
        )

    def auth_required(self) -> bool:
        """Whether calls must carry a credential. "off" is refused outside development mode."""
        mode = self.auth or ("off" if self.dev_mode else "required")
        if mode not in ("required", "off"):
            raise ConfigError(f"SECRET_SYNC_AUTH must be 'required' or 'off', not {mode!r}")
        if mode == "off" and not self.dev_mode:
            raise ConfigError("SECRET_SYNC_AUTH=off is allowed only in development mode")
        return mode == "required"

    def check_limits(self) -> None:
        """Streams must leave room for short calls, or a full house of Watch streams
        would turn every other call away."""
        if not 0 < self.max_streams < self.max_concurrent_rpcs:
            raise ConfigError(
                "SECRET_SYNC_MAX_STREAMS must be at least 1 and below "
                f"SECRET_SYNC_MAX_CONCURRENT_RPCS ({self.max_concurrent_rpcs}), "
                f"not {self.max_streams}"
            )
        if not self.max_stream_seconds > 0:
            raise ConfigError(
                f"SECRET_SYNC_MAX_STREAM_SECONDS must be positive, not {self.max_stream_seconds}"
            )

    def managed_identity_allowances(self) -> tuple[Allowance, ...]:
        """SECRET_SYNC_MANAGED_IDENTITIES read; a setting that cannot be is refused."""
        try:
            return parse_allowances(self.managed_identities)
        except AllowanceError as error:
            raise ConfigError(str(error)) from None

    def jwt_configured(self) -> bool:
        return bool(self.jwt_public_key_file or self.jwt_jwks_file)

    def load_root_key(self) -> RootKey:
        """The primary root key, with the older keys that are still read."""
        root_key = self._primary_root_key()
        for text in _listed(self.old_root_keys):
            root_key.add_old(RootKey.from_text(text))
        for name in _listed(self.old_root_key_files):
            root_key.add_old(RootKey.from_file(Path(name), create=False))
        return root_key

    def _primary_root_key(self) -> RootKey:
        """The root key: given, from its file, or (development mode only) made once."""
        if self.root_key:
            return RootKey.from_text(self.root_key)
        if self.root_key_file:
            return RootKey.from_file(Path(self.root_key_file), create=self.dev_mode)
        if self.dev_mode:
            return RootKey.from_file(Path(DEV_ROOT_KEY_FILE), create=True)
        raise RootKeyError(
            "no root key: set SECRET_SYNC_ROOT_KEY (32 random bytes, base64) or "
            "SECRET_SYNC_ROOT_KEY_FILE, or use development mode"
        )

    def persistence_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for this database URL."""
        env = {
            "SECRET_SYNC_DEV_MODE": "1" if self.dev_mode else "",
            "SECRETSOURCES_AGGREGATE_CACHE_MAXSIZE": "500",
        }
        store = persistence_env(self.database_url)
        if store["PERSISTENCE_MODULE"].endswith("postgres"):
            store |= {
                # A pooled connection is checked before use: after a server restart it is
                # replaced, not handed out dead (INTERNAL, AdminShutdown).
                "POSTGRES_PRE_PING": "y",
                # The pool's wait for a connection: bounded, so a call fails fast.
                "POSTGRES_CONNECT_TIMEOUT": str(max(1, self.store_wait_seconds)),
            }
        return env | store

    def safe_database_url(self) -> str:
        """The database URL with any password masked, for logs."""
        parts = urlsplit(self.database_url)
        if parts.password:
            netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.database_url


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def metrics_listen(value: str) -> str:
    """host:port of the metrics endpoint, or "" when it is off ("", "off", "0", "false")."""
    value = value.strip()
    return "" if value.lower() in ("", "off", "0", "false", "no") else value


def private_file(path: Path) -> None:
    """The store holds every event: directories the service makes for it are 0700 and
    a database file it makes is 0600 (SQLite gives its -wal and -shm files the same
    mode). Existing ones are left as the operator made them."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another replica made it just now
            directory.mkdir(mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def persistence_env(database_url: str) -> dict[str, str]:
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        path = Path(unquote(parts.path[1:] if parts.path.startswith("/") else parts.path))
        private_file(path)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": (
                "adapters.sqlite_subscription:PollingSQLiteApplicationRecorder"
            ),
        }
    if parts.scheme in ("postgres", "postgresql"):
        query = parse_qs(parts.query)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
            # Each process opens four pools (event stores and views of syncs and
            # sources): keep few connections open when idle, grow under load.
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["2"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["10"])[0],
        }
    raise ValueError(
        f"SECRET_SYNC_DATABASE_URL must start with sqlite:/// or postgresql://, "
        f"not {parts.scheme!r}"
    )
