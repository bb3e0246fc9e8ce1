"""In-memory vaults: versioned secrets, attributes, tags and a soft-deleted collection.

Names are case-insensitive as in Key Vault: entries are keyed by the lowercase name and
keep the casing of the first write. Stored versions are immutable (frozen dataclasses
replaced on update), so callers may serialise what they get back without holding the lock.

Delete, recover and purge are long-running as in Key Vault: each leaves the name in
progress for a window (Timing), during which a set answers 409 ObjectIsBeingDeleted and
the name is in neither listing. Secrets that back certificates (seeded with
`seed_certificate`) are listed and readable but refuse set, update and delete.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from keyvault_emulator import errors

NAME_PATTERN = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE_BYTES = 25 * 1024  # Key Vault's 25 KB counts the value's UTF-8 bytes
MAX_TAGS = 15
MAX_TAG_CHARS = 512
MAX_CONTENT_TYPE_CHARS = 255
RECOVERY_LEVEL = "Recoverable+Purgeable"
DAY = 86_400
# Key Vault's long-running operations take seconds; these defaults make every test meet
# them (KeyVaultEmulator(lenient=True) or Timing.instant() turns them off).
DELETE_SECONDS = 2.0
RECOVER_SECONDS = 2.0
PURGE_SECONDS = 2.0


@dataclass(frozen=True)
class Version:
    id: str  # 32 lowercase hex characters, like Key Vault's
    value: str
    content_type: str | None
    tags: Mapping[str, str]
    enabled: bool
    nbf: int | None
    exp: int | None
    created: int
    updated: int
    managed: bool = False  # backs a certificate: Key Vault also answers its key's kid


@dataclass(frozen=True)
class SecretView:
    name: str
    version: Version


@dataclass(frozen=True)
class DeletedView:
    name: str
    version: Version  # the latest version at deletion time
    deleted_date: int
    scheduled_purge_date: int


@dataclass
class Timing:
    """Key Vault's asynchronous windows, in seconds.

    delete_seconds: after DELETE, GET /deletedsecrets/{name} answers 404, the name is in
    no listing, and a set, delete, recover or purge of it answers 409
    ObjectIsBeingDeleted. recover_seconds: after recover, GET /secrets/{name} answers 404
    and a set answers 409 ObjectIsBeingDeleted. purge_seconds: after a purge, the name is
    gone from both collections but a set still answers 409 ObjectIsBeingDeleted.
    """

    delete_seconds: float = DELETE_SECONDS
    recover_seconds: float = RECOVER_SECONDS
    purge_seconds: float = PURGE_SECONDS

    @classmethod
    def instant(cls) -> Timing:
        """Every operation done at once (the lenient emulator)."""
        return cls(0.0, 0.0, 0.0)

    def describe(self) -> dict[str, float]:
        return {
            "delete_seconds": self.delete_seconds,
            "recover_seconds": self.recover_seconds,
            "purge_seconds": self.purge_seconds,
        }


@dataclass
class _Secret:
    name: str
    versions: dict[str, Version]
    latest: str
    hidden_until: float = 0.0  # recovery still in progress until then


@dataclass
class _Deleted:
    secret: _Secret
    deleted_date: int
    scheduled_purge_date: int
    hidden_until: float  # deletion still in progress until then

    def view(self) -> DeletedView:
        latest = self.secret.versions[self.secret.latest]
        return DeletedView(self.secret.name, latest, self.deleted_date, self.scheduled_purge_date)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None  # None on the last page


def check_name(name: str) -> str:
    """The lowercase key of a valid secret name; 400 BadParameter otherwise."""
    if not NAME_PATTERN.match(name):
        raise errors.invalid_name(name)
    return name.lower()


def _check_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise errors.bad_parameter("Tags must be an object of string names and string values.")
    if len(tags) > MAX_TAGS:
        raise errors.bad_parameter(f"A secret may have at most {MAX_TAGS} tags.")
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise errors.bad_parameter(
                f"Tag names must have 1 to {MAX_TAG_CHARS} characters and values at most "
                f"{MAX_TAG_CHARS}."
            )
    return dict(tags)


def _check_content_type(content_type: Any) -> str | None:
    if content_type is None:
        return None
    if not isinstance(content_type, str) or len(content_type) > MAX_CONTENT_TYPE_CHARS:
        raise errors.bad_parameter(
            f"Content type must be a string of at most {MAX_CONTENT_TYPE_CHARS} characters."
        )
    return content_type


def _check_date(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.bad_parameter(f"Attribute {what} must be an integer of unix seconds.")
    return value


def _check_enabled(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise errors.bad_parameter("Attribute enabled must be a boolean.")
    return value


class Vault:
    """One vault's secrets. Thread-safe: every public method holds the vault's lock."""

    def __init__(
        self,
        name: str,
        *,
        clock: Callable[[], float] = time.time,
        timing: Timing | None = None,
        recoverable_days: int = 90,
    ) -> None:
        self.name = name
        self.recoverable_days = recoverable_days
        self.timing = timing or Timing()
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, _Secret] = {}
        self._deleted: dict[str, _Deleted] = {}
        self._purging: dict[str, float] = {}  # lowercase name -> purge in progress until

    # --- secrets -----------------------------------------------------------------

    def set_secret(
        self,
        name: str,
        value: Any,
        *,
        content_type: Any = None,
        tags: Any = None,
        enabled: Any = None,
        nbf: Any = None,
        exp: Any = None,
    ) -> SecretView:
        key = check_name(name)
        if not isinstance(value, str):
            raise errors.bad_parameter("The secret value must be a string.")
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            # Key Vault documents a 25 KB limit; its exact message is unverified.
            raise errors.bad_parameter(
                f"The secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes."
            )
        version = Version(
            id=uuid.uuid4().hex,
            value=value,
            content_type=_check_content_type(content_type),
            tags=_check_tags(tags),
            enabled=True if _check_enabled(enabled) is None else enabled,
            nbf=_check_date(nbf, "nbf"),
            exp=_check_date(exp, "exp"),
            created=0,
            updated=0,
        )
        with self._lock:
            now = self._sweep()
            version = replace(version, created=now, updated=now)
            if self._in_progress(key):
                raise errors.being_deleted(name)
            if key in self._deleted:
                raise errors.deleted_but_recoverable(name)
            secret = self._active.get(key)
            if secret is not None and _managed(secret):
                raise errors.managed_secret(name, "set")
            if secret is None:
                secret = self._active[key] = _Secret(name=name, versions={}, latest=version.id)
            secret.versions[version.id] = version
            secret.latest = version.id
            return SecretView(secret.name, version)

    def get_secret(self, name: str, version: str = "", *, for_value: bool = True) -> SecretView:
        """A version ("" = latest). for_value: refuse disabled versions, as GET does."""
        key = check_name(name)
        with self._lock:
            self._sweep()
            secret = self._visible(key, name)
            found = secret.versions.get(version.lower() if version else secret.latest)
            if found is None:
                raise errors.secret_not_found(name, version)
            if for_value and not found.enabled:
                raise errors.secret_disabled()
            return SecretView(secret.name, found)

    def update_secret(
        self,
        name: str,
        version: str = "",
        *,
        content_type: Any = None,
        tags: Any = None,
        enabled: Any = None,
        nbf: Any = None,
        exp: Any = None,
    ) -> SecretView:
        """PATCH semantics: None leaves a field unchanged; given tags replace all tags."""
        key = check_name(name)
        changes: dict[str, Any] = {}
        if content_type is not None:
            changes["content_type"] = _check_content_type(content_type)
        if tags is not None:
            changes["tags"] = _check_tags(tags)
        if _check_enabled(enabled) is not None:
            changes["enabled"] = enabled
        if nbf is not None:
            changes["nbf"] = _check_date(nbf, "nbf")
        if exp is not None:
            changes["exp"] = _check_date(exp, "exp")
        with self._lock:
            now = self._sweep()
            secret = self._visible(key, name)
            if _managed(secret):
                raise errors.managed_secret(name, "update")
            version_id = version.lower() if version else secret.latest
            current = secret.versions.get(version_id)
            if current is None:
                raise errors.secret_not_found(name, version)
            updated = replace(current, updated=now, **changes)
            secret.versions[version_id] = updated
            return SecretView(secret.name, updated)

    def list_secrets(self, after: str | None, limit: int) -> Page:
        """SecretViews of the latest versions, ordered by lowercase name, after a cursor."""
        with self._lock:
            self._sweep()
            now = self._clock()
            keys = sorted(k for k, s in self._active.items() if s.hidden_until <= now)
            chosen, next_cursor = _slice(keys, after, limit)
            items = [
                SecretView(s.name, s.versions[s.latest]) for s in (self._active[k] for k in chosen)
            ]
            return Page(items, next_cursor)

    def list_versions(self, name: str, after: str | None, limit: int) -> Page:
        key = check_name(name)
        with self._lock:
            self._sweep()
            secret = self._active.get(key)
            if secret is None or secret.hidden_until > self._clock():
                return Page([], None)  # Key Vault lists nothing rather than 404
            chosen, next_cursor = _slice(sorted(secret.versions), after, limit)
            return Page([SecretView(secret.name, secret.versions[v]) for v in chosen], next_cursor)

    # --- soft delete -------------------------------------------------------------

    def delete_secret(self, name: str) -> DeletedView:
        key = check_name(name)
        with self._lock:
            now = self._sweep()
            if self._in_progress(key):
                raise errors.being_deleted(name)
            secret = self._active.get(key)
            if secret is None:
                raise errors.secret_not_found(name)
            if _managed(secret):
                raise errors.managed_secret(name, "delete")
            del self._active[key]
            entry = _Deleted(
                secret=secret,
                deleted_date=now,
                scheduled_purge_date=now + self.recoverable_days * DAY,
                hidden_until=self._clock() + self.timing.delete_seconds,
            )
            self._deleted[key] = entry
            return entry.view()

    def get_deleted(self, name: str) -> DeletedView:
        key = check_name(name)
        with self._lock:
            self._sweep()
            return self._deleted_visible(key, name).view()

    def list_deleted(self, after: str | None, limit: int) -> Page:
        with self._lock:
            self._sweep()
            now = self._clock()
            keys = sorted(k for k, d in self._deleted.items() if d.hidden_until <= now)
            chosen, next_cursor = _slice(keys, after, limit)
            return Page([self._deleted[k].view() for k in chosen], next_cursor)

    def recover(self, name: str) -> SecretView:
        key = check_name(name)
        with self._lock:
            self._sweep()
            deleted = self._deleted_visible(key, name, conflict_while_deleting=True)
            del self._deleted[key]
            secret = deleted.secret
            secret.hidden_until = self._clock() + self.timing.recover_seconds
            self._active[key] = secret
            return SecretView(secret.name, secret.versions[secret.latest])

    def purge(self, name: str) -> None:
        key = check_name(name)
        with self._lock:
            self._sweep()
            self._deleted_visible(key, name, conflict_while_deleting=True)
            del self._deleted[key]
            if self.timing.purge_seconds > 0:
                self._purging[key] = self._clock() + self.timing.purge_seconds

    def seed_certificate(
        self, name: str, value: str, content_type: str = "application/x-pkcs12"
    ) -> SecretView:
        """A secret backing a certificate, as importing a certificate creates it: listed
        and readable, but set, update and delete through the secrets API are refused."""
        key = check_name(name)
        with self._lock:
            now = self._sweep()
            version = Version(
                id=uuid.uuid4().hex,
                value=value,
                content_type=content_type,
                tags={},
                enabled=True,
                nbf=None,
                exp=None,
                created=now,
                updated=now,
                managed=True,
            )
            secret = self._active.get(key)
            if secret is None:
                secret = self._active[key] = _Secret(name=name, versions={}, latest=version.id)
            secret.versions[version.id] = version
            secret.latest = version.id
            return SecretView(secret.name, version)

    def clear(self) -> None:
        with self._lock:
            self._active.clear()
            self._deleted.clear()
            self._purging.clear()

    # --- internals ---------------------------------------------------------------

    def _sweep(self) -> int:
        """Purge deleted secrets past their scheduled purge date; the time in unix seconds."""
        now = int(self._clock())
        for key in [k for k, d in self._deleted.items() if d.scheduled_purge_date <= now]:
            del self._deleted[key]
        moment = self._clock()
        for key in [k for k, until in self._purging.items() if until <= moment]:
            del self._purging[key]
        return now

    def _in_progress(self, key: str) -> bool:
        """A delete, recover or purge of this name has not finished yet."""
        now = self._clock()
        deleted = self._deleted.get(key)
        secret = self._active.get(key)
        return (
            (deleted is not None and deleted.hidden_until > now)
            or (secret is not None and secret.hidden_until > now)
            or self._purging.get(key, 0.0) > now
        )

    def _visible(self, key: str, name: str) -> _Secret:
        secret = self._active.get(key)
        if secret is None or secret.hidden_until > self._clock():
            raise errors.secret_not_found(name)
        return secret

    def _deleted_visible(
        self, key: str, name: str, *, conflict_while_deleting: bool = False
    ) -> _Deleted:
        deleted = self._deleted.get(key)
        if deleted is None:
            raise errors.deleted_secret_not_found(name)
        if deleted.hidden_until > self._clock():
            if conflict_while_deleting:
                raise errors.being_deleted(name)
            raise errors.deleted_secret_not_found(name)
        return deleted


def _managed(secret: _Secret) -> bool:
    return secret.versions[secret.latest].managed


def _slice(keys: list[str], after: str | None, limit: int) -> tuple[list[str], str | None]:
    """Up to `limit` sorted keys after the cursor, and the next cursor if more remain.

    A cursor (the last key returned) rather than an offset keeps paging stable while
    secrets are added or deleted between pages, as Key Vault's skip tokens do.
    """
    start = 0
    if after is not None:
        start = next((i for i, k in enumerate(keys) if k > after), len(keys))
    chosen = keys[start : start + limit]
    more = start + limit < len(keys)
    return chosen, (chosen[-1] if more and chosen else None)


@dataclass
class Vaults:
    """The emulator's vaults by lowercase name, created on first use (there is no DNS)."""

    clock: Callable[[], float] = time.time
    timing: Timing = field(default_factory=Timing)
    recoverable_days: int = 90
    _vaults: dict[str, Vault] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def get(self, name: str) -> Vault:
        with self._lock:
            key = name.lower()
            vault = self._vaults.get(key)
            if vault is None:
                vault = self._vaults[key] = Vault(
                    key,
                    clock=self.clock,
                    timing=self.timing,
                    recoverable_days=self.recoverable_days,
                )
            return vault

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._vaults)

    def clear(self) -> None:
        with self._lock:
            vaults = list(self._vaults.values())
        for vault in vaults:
            vault.clear()
