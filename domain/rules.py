"""Every rule a sync's settings must obey, in one place.

Each check returns the violations it finds (never raises), so a request with
several bad fields is told about all of them at once, and a field that breaks several
rules is told about each (a key schema too long and without {{secretKey}} gets two
violations). Field paths are the gRPC request's field names.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from domain.errors import FieldViolation
from domain.options import InitialSyncBehavior
from domain.text_policy import check_text

NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_NAME = 64
MAX_DESCRIPTION = 256
ENVIRONMENT_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
MAX_ENVIRONMENT = 64
# No '.' in folder names: references (${env.a.b.KEY}) separate folders with '.'.
PATH_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PATH = 512
MAX_PATH_DEPTH = 20
KEY_VAULT_SUFFIXES = (
    "vault.azure.net",
    "vault.azure.cn",
    "vault.usgovcloudapi.net",
    "vault.microsoftazure.de",
)
VAULT_NAME_RE = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-)){1,22}[a-zA-Z0-9]$")
SECRET_KEY_PLACEHOLDER = "{{secretKey}}"
ENVIRONMENT_PLACEHOLDER = "{{environment}}"
# '/' passes this first check so that the refusal can say why (vault names hold none).
KEY_SCHEMA_RE = re.compile(r"[A-Za-z0-9_/-]*")
MAX_VAULT_SECRET_NAME = 127
PLACEHOLDERS_RE = re.compile(r"\{\{secretKey\}\}|\{\{environment\}\}")
MAX_KEY_SCHEMA = 255
REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")

# Paths of the settings fields, as the API names them.
NAME = "name"
DESCRIPTION = "description"
CONNECTION_ID = "connection_id"
ENVIRONMENT = "environment"
SECRET_PATH = "secret_path"
VAULT_BASE_URL = "destination_config.vault_base_url"
INITIAL_SYNC_BEHAVIOR = "sync_options.initial_sync_behavior"
KEY_SCHEMA = "sync_options.key_schema"
REFRESH_INTERVAL = "sync_options.refresh_interval_seconds"
# Drift repair: at most every minute (each run lists the whole vault), at least weekly;
# a development server accepts short intervals, for trying it out and for tests.
MIN_REFRESH_SECONDS = 60
MIN_REFRESH_SECONDS_DEVELOPMENT = 2
MAX_REFRESH_SECONDS = 7 * 86_400


@dataclass(frozen=True)
class SyncSettings:
    """What a caller chooses about a sync (everything but its project)."""

    name: str
    description: str
    is_enabled: bool
    connection_id: str
    environment: str
    secret_path: str
    vault_base_url: str
    initial_sync_behavior: InitialSyncBehavior | None
    key_schema: str
    disable_secret_deletion: bool
    refresh_interval_seconds: int = 0  # drift repair: 0 is off


def check_settings(
    settings: SyncSettings, *, allow_loopback_vaults: bool = False
) -> tuple[SyncSettings, list[FieldViolation]]:
    """Normalise the settings and list everything wrong with them."""
    found: list[FieldViolation] = []
    found += check_name(settings.name)
    found += check_description(settings.description)
    found += check_uuid(CONNECTION_ID, settings.connection_id)
    found += check_environment(settings.environment)
    path, path_violations = normalise_secret_path(settings.secret_path)
    found += path_violations
    url, url_violations = normalise_vault_base_url(
        settings.vault_base_url, allow_loopback=allow_loopback_vaults
    )
    found += url_violations
    if settings.initial_sync_behavior is None:
        found.append(FieldViolation(INITIAL_SYNC_BEHAVIOR, "must be set"))
    found += check_key_schema(settings.key_schema, settings.environment)
    found += check_refresh_interval(
        settings.refresh_interval_seconds, development=allow_loopback_vaults
    )
    normalised = replace(
        settings,
        secret_path=path,
        vault_base_url=url,
        connection_id=settings.connection_id.lower(),
    )
    return normalised, found


def check_refresh_interval(seconds: int, *, development: bool = False) -> list[FieldViolation]:
    """0 (off), or within the bounds (shorter ones in development mode)."""
    low = MIN_REFRESH_SECONDS_DEVELOPMENT if development else MIN_REFRESH_SECONDS
    if seconds == 0 or low <= seconds <= MAX_REFRESH_SECONDS:
        return []
    return [
        FieldViolation(
            REFRESH_INTERVAL, f"must be 0 (off) or from {low} to {MAX_REFRESH_SECONDS} seconds"
        )
    ]


def _broken(field: str, rules: list[tuple[bool, str]]) -> list[FieldViolation]:
    """One violation per rule broken (rule: (broken?, what it asks))."""
    return [FieldViolation(field, why) for broken, why in rules if broken]


def check_name(name: str) -> list[FieldViolation]:
    if not name:
        return [FieldViolation(NAME, "is required")]
    return _broken(
        NAME,
        [
            (len(name) > MAX_NAME, f"must be at most {MAX_NAME} characters"),
            (
                not NAME_RE.fullmatch(name),
                "must be lowercase letters, digits and single hyphens (a slug)",
            ),
        ],
    )


def check_description(description: str) -> list[FieldViolation]:
    too_long = len(description) > MAX_DESCRIPTION
    return _broken(
        DESCRIPTION, [(too_long, f"must be at most {MAX_DESCRIPTION} characters")]
    ) + check_text(description, DESCRIPTION, multiline=True)


def check_uuid(field: str, value: str) -> list[FieldViolation]:
    """A required UUID in its canonical 36-character form."""
    if not value:
        return [FieldViolation(field, "is required")]
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return [FieldViolation(field, "must be a UUID")]
    if len(value) != 36 or str(parsed) != value.lower():
        return [FieldViolation(field, "must be a UUID in the form xxxxxxxx-xxxx-...")]
    return []


def check_environment(slug: str) -> list[FieldViolation]:
    if not slug:
        return [FieldViolation(ENVIRONMENT, "is required")]
    return _broken(
        ENVIRONMENT,
        [
            (len(slug) > MAX_ENVIRONMENT, f"must be at most {MAX_ENVIRONMENT} characters"),
            (
                not ENVIRONMENT_RE.fullmatch(slug),
                "must be an environment slug (lowercase letters, digits, '-' or '_')",
            ),
        ],
    )


def normalise_secret_path(
    path: str, field: str = SECRET_PATH
) -> tuple[str, list[FieldViolation]]:
    """'/a/b/' becomes '/a/b'; relative paths, '..', '.' and '//' are refused."""
    if not path:
        return path, [FieldViolation(field, "is required")]
    trimmed = path[:-1] if len(path) > 1 and path.endswith("/") else path
    if trimmed == "/":
        return ("/", []) if path == "/" else (path, [_empty_segment(field)])
    segments = trimmed.removeprefix("/").split("/")
    empty = [s for s in segments if s in ("", ".", "..")]
    found = _broken(
        field,
        [
            (not path.startswith("/"), "must be absolute (start with '/')"),
            (len(path) > MAX_PATH, f"must be at most {MAX_PATH} characters"),
            (len(segments) > MAX_PATH_DEPTH, f"must be at most {MAX_PATH_DEPTH} deep"),
            (bool(empty), "must not contain empty, '.' or '..' segments"),
            (
                any(not PATH_SEGMENT_RE.fullmatch(s) for s in segments if s not in empty),
                "folder names are 1-64 letters, digits, '_' or '-'",
            ),
        ],
    )
    return (path, found) if found else (trimmed, [])


def _empty_segment(field: str) -> FieldViolation:
    return FieldViolation(field, "must not contain empty, '.' or '..' segments")


def normalise_vault_base_url(
    url: str, *, allow_loopback: bool = False
) -> tuple[str, list[FieldViolation]]:
    """Return 'https://<vault>.<suffix>' or say what is wrong with the URL."""

    def bad(why: str) -> tuple[str, list[FieldViolation]]:
        return url, [FieldViolation(VAULT_BASE_URL, why)]

    if not url:
        return bad("is required")
    if len(url) > 300 or any(c.isspace() or ord(c) < 32 for c in url):
        return bad("must be a URL without spaces, at most 300 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return bad("must be a URL like https://my-vault.vault.azure.net")
    host = (parts.hostname or "").lower()
    loopback = allow_loopback and is_loopback(host)
    suffix = next((s for s in KEY_VAULT_SUFFIXES if host.endswith("." + s)), None)
    vault = host[: -len(suffix) - 1] if suffix else ""
    found = _broken(
        VAULT_BASE_URL,
        [
            (parts.scheme.lower() != "https", "must use https"),
            (
                parts.username is not None or parts.password is not None,
                "must not contain user info",
            ),
            (
                parts.path not in ("", "/") or bool(parts.query or parts.fragment),
                "must have no path, query or fragment",
            ),
            (not loopback and port not in (None, 443), "must not name a port other than 443"),
            (
                not loopback and suffix is None,
                "host must end with one of " + ", ".join(KEY_VAULT_SUFFIXES),
            ),
            (
                not loopback and suffix is not None and not VAULT_NAME_RE.fullmatch(vault),
                "vault name must be 3-24 letters, digits and single hyphens, "
                "starting with a letter",
            ),
        ],
    )
    if found:
        return url, found
    if loopback:
        netloc = f"[{host}]" if ":" in host else host
        return f"https://{netloc}" + (f":{port}" if port else ""), []
    return f"https://{host}", []


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_schema(schema: str, environment: str = "") -> list[FieldViolation]:
    """Empty means no schema; otherwise {{secretKey}} once, {{environment}} at most once,
    and the schema must be able to make a valid Key Vault name (1-127 letters, digits and
    '-', '_' becoming '-'): for `environment` (the sync's; when not known, the longest
    slug allowed) and the shortest key. A schema that can never make one would fail
    every key of every run."""
    if not schema:
        return []
    # Check the text between placeholders piece by piece: removing one placeholder
    # must not be able to assemble another out of its neighbours.
    pieces = PLACEHOLDERS_RE.split(schema)
    broken = _broken(
        KEY_SCHEMA,
        [
            (len(schema) > MAX_KEY_SCHEMA, f"must be at most {MAX_KEY_SCHEMA} characters"),
            (
                schema.count(SECRET_KEY_PLACEHOLDER) != 1,
                "must contain {{secretKey}} exactly once",
            ),
            (
                schema.count(ENVIRONMENT_PLACEHOLDER) > 1,
                "may contain {{environment}} at most once",
            ),
            (
                not all(KEY_SCHEMA_RE.fullmatch(piece) for piece in pieces),
                "may hold only letters, digits, '_', '-' and the placeholders "
                "{{secretKey}} and {{environment}}",
            ),
        ],
    )
    return broken or _check_vault_name_reach(schema, environment)


def _check_vault_name_reach(schema: str, environment: str) -> list[FieldViolation]:
    if "/" in schema:
        return [
            FieldViolation(
                KEY_SCHEMA, "must not hold '/': Key Vault names are letters, digits and '-'"
            )
        ]
    fixed = len(PLACEHOLDERS_RE.sub("", schema))
    if ENVIRONMENT_PLACEHOLDER in schema:
        fixed += len(environment) if environment else MAX_ENVIRONMENT
    if fixed + 1 > MAX_VAULT_SECRET_NAME:
        return [
            FieldViolation(
                KEY_SCHEMA,
                f"makes names of at least {fixed + 1} characters for this environment; "
                f"Key Vault names are at most {MAX_VAULT_SECRET_NAME}",
            )
        ]
    return []


def check_request_id(request_id: str) -> list[FieldViolation]:
    if request_id and not REQUEST_ID_RE.fullmatch(request_id):
        return [
            FieldViolation("request_id", "must be 1-128 printable ASCII characters, no spaces")
        ]
    return []
