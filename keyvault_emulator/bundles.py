"""The JSON shapes Key Vault answers with: SecretBundle, SecretItem and their deleted forms.

Optional fields (tags, contentType, nbf, exp) are left out when unset, as the service does;
dates are integer unix seconds. Ids are built on the URL the client used, so they parse as
`https://host[:port]/secrets/{name}[/{version}]` in the SDK.
"""

from __future__ import annotations

from typing import Any

from keyvault_emulator.store import RECOVERY_LEVEL, DeletedView, SecretView, Version


def attributes(version: Version, recoverable_days: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {"enabled": version.enabled}
    if version.nbf is not None:
        attrs["nbf"] = version.nbf
    if version.exp is not None:
        attrs["exp"] = version.exp
    attrs.update(
        created=version.created,
        updated=version.updated,
        recoverableDays=recoverable_days,
        recoveryLevel=RECOVERY_LEVEL,
    )
    return attrs


def _common(version: Version, recoverable_days: int) -> dict[str, Any]:
    shape: dict[str, Any] = {"attributes": attributes(version, recoverable_days)}
    if version.managed:
        shape["managed"] = True
    if version.tags:
        shape["tags"] = dict(version.tags)
    if version.content_type is not None:
        shape["contentType"] = version.content_type
    return shape


def secret_bundle(
    base: str, secret: SecretView, recoverable_days: int, *, with_value: bool = True
) -> dict[str, Any]:
    bundle: dict[str, Any] = {}
    if with_value:
        bundle["value"] = secret.version.value
    bundle["id"] = f"{base}/secrets/{secret.name}/{secret.version.id}"
    if secret.version.managed:  # a certificate's secret names the certificate's key
        bundle["kid"] = f"{base}/keys/{secret.name}/{secret.version.id}"
    bundle.update(_common(secret.version, recoverable_days))
    return bundle


def secret_item(base: str, secret: SecretView, recoverable_days: int) -> dict[str, Any]:
    """A list entry: no value, and the id carries no version."""
    return {"id": f"{base}/secrets/{secret.name}", **_common(secret.version, recoverable_days)}


def version_item(base: str, secret: SecretView, recoverable_days: int) -> dict[str, Any]:
    return {
        "id": f"{base}/secrets/{secret.name}/{secret.version.id}",
        **_common(secret.version, recoverable_days),
    }


def _deletion(base: str, deleted: DeletedView) -> dict[str, Any]:
    return {
        "recoveryId": f"{base}/deletedsecrets/{deleted.name}",
        "deletedDate": deleted.deleted_date,
        "scheduledPurgeDate": deleted.scheduled_purge_date,
    }


def deleted_bundle(base: str, deleted: DeletedView, recoverable_days: int) -> dict[str, Any]:
    """DeletedSecretBundle: the service leaves the value out."""
    view = SecretView(deleted.name, deleted.version)
    return {
        **_deletion(base, deleted),
        **secret_bundle(base, view, recoverable_days, with_value=False),
    }


def deleted_item(base: str, deleted: DeletedView, recoverable_days: int) -> dict[str, Any]:
    view = SecretView(deleted.name, deleted.version)
    return {**_deletion(base, deleted), **secret_item(base, view, recoverable_days)}
