"""The secrets REST API of Key Vault, routed the way azure-keyvault-secrets calls it.

`match` maps method and path to a Route (its kind for counting and faults, the access
policy permission it needs, the secret name, and the action); the app authenticates,
checks the api-version, throttles and checks the permission before running the action.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, unquote

from keyvault_emulator import bundles, errors
from keyvault_emulator.store import Page, Vault
from keyvault_emulator.wire import Request, Response, json_response

MAX_PAGE = 25
_END = "end"  # the skip token of the extra empty page that short-page mode serves last


@dataclass(frozen=True)
class Call:
    vault: Vault
    request: Request
    short_pages: bool

    @property
    def days(self) -> int:
        return self.vault.recoverable_days


@dataclass(frozen=True)
class Route:
    kind: str  # "set", "get", "list", ... (see counters.py)
    permission: str | None  # the secrets permission needed, None for unknown paths
    action: Callable[[Call], Response]
    name: str = ""  # the secret the request is about ("" for collections)


def _failing(error: errors.ApiError) -> Callable[[Call], Response]:
    def action(call: Call) -> Response:
        raise error

    return action


def match(method: str, path: str) -> Route:
    parts = [unquote(part) for part in path.split("/")[1:]]
    collection = parts[0].lower() if parts else ""
    name = parts[1] if len(parts) > 1 else ""
    if collection == "secrets":
        return replace(_secrets_route(method, parts[1:]), name=name)
    if collection == "deletedsecrets":
        return replace(_deleted_route(method, parts[1:]), name=name)
    return Route("unknown", None, _failing(errors.not_found_path(path)))


def _not_allowed(kind: str, method: str, allowed: str) -> Route:
    return Route(kind, None, _failing(errors.method_not_allowed(method, allowed)))


def _secrets_route(method: str, rest: list[str]) -> Route:
    if rest in ([], [""]):
        if method == "GET":
            return Route("list", "list", _list_secrets)
        # PUT /secrets/ is what set_secret("") sends: Key Vault answers 405.
        return _not_allowed("set" if method == "PUT" else "unknown", method, "GET")
    name = rest[0]
    if len(rest) == 1 or (len(rest) == 2 and rest[1] == ""):
        bare = len(rest) == 1
        if bare and method == "POST" and name.lower() == "restore":
            return Route("restore", "restore", _failing(errors.not_implemented("Restore")))
        if method == "GET":
            return Route("get", "get", lambda call: _get(call, name, ""))
        if method == "PATCH":
            return Route("update", "set", lambda call: _update(call, name, ""))
        if bare and method == "PUT":
            return Route("set", "set", lambda call: _set(call, name))
        if bare and method == "DELETE":
            return Route("delete", "delete", lambda call: _delete(call, name))
        return _not_allowed("unknown", method, "GET, PUT, PATCH, DELETE")
    if len(rest) == 2:
        second = rest[1]
        if second.lower() == "versions" and method == "GET":
            return Route("list_versions", "list", lambda call: _list_versions(call, name))
        if second.lower() == "backup" and method == "POST":
            return Route("backup", "backup", _failing(errors.not_implemented("Backup")))
        if method == "GET":
            return Route("get", "get", lambda call: _get(call, name, second))
        if method == "PATCH":
            return Route("update", "set", lambda call: _update(call, name, second))
        return _not_allowed("unknown", method, "GET, PATCH")
    return Route("unknown", None, _failing(errors.not_found_path("/secrets/" + "/".join(rest))))


def _deleted_route(method: str, rest: list[str]) -> Route:
    if rest in ([], [""]):
        if method == "GET":
            return Route("list_deleted", "list", _list_deleted)
        return _not_allowed("unknown", method, "GET")
    name = rest[0]
    if len(rest) == 1 or (len(rest) == 2 and rest[1] == ""):
        if method == "GET":
            return Route("get_deleted", "get", lambda call: _get_deleted(call, name))
        if method == "DELETE":
            return Route("purge", "purge", lambda call: _purge(call, name))
        return _not_allowed("unknown", method, "GET, DELETE")
    if len(rest) == 2 and rest[1].lower() == "recover":
        if method == "POST":
            return Route("recover", "recover", lambda call: _recover(call, name))
        return _not_allowed("unknown", method, "POST")
    path = "/deletedsecrets/" + "/".join(rest)
    return Route("unknown", None, _failing(errors.not_found_path(path)))


# --- actions ----------------------------------------------------------------------


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.bad_parameter(f"{what} must be a JSON object.")
    return value


def _set(call: Call, name: str) -> Response:
    body = _object(call.request.json(), "The request body")
    if "value" not in body:
        raise errors.bad_parameter("The request body must contain the secret value.")
    attrs = _object(body.get("attributes"), "attributes")
    view = call.vault.set_secret(
        name,
        body["value"],
        content_type=body.get("contentType"),
        tags=body.get("tags"),
        enabled=attrs.get("enabled"),
        nbf=attrs.get("nbf"),
        exp=attrs.get("exp"),
    )
    return json_response(200, bundles.secret_bundle(call.request.base_url, view, call.days))


def _get(call: Call, name: str, version: str) -> Response:
    view = call.vault.get_secret(name, version)
    return json_response(200, bundles.secret_bundle(call.request.base_url, view, call.days))


def _update(call: Call, name: str, version: str) -> Response:
    body = _object(call.request.json(), "The request body")
    attrs = _object(body.get("attributes"), "attributes")
    view = call.vault.update_secret(
        name,
        version,
        content_type=body.get("contentType"),
        tags=body.get("tags"),
        enabled=attrs.get("enabled"),
        nbf=attrs.get("nbf"),
        exp=attrs.get("exp"),
    )
    bundle = bundles.secret_bundle(call.request.base_url, view, call.days, with_value=False)
    return json_response(200, bundle)


def _delete(call: Call, name: str) -> Response:
    deleted = call.vault.delete_secret(name)
    return json_response(200, bundles.deleted_bundle(call.request.base_url, deleted, call.days))


def _get_deleted(call: Call, name: str) -> Response:
    deleted = call.vault.get_deleted(name)
    return json_response(200, bundles.deleted_bundle(call.request.base_url, deleted, call.days))


def _recover(call: Call, name: str) -> Response:
    view = call.vault.recover(name)
    bundle = bundles.secret_bundle(call.request.base_url, view, call.days, with_value=False)
    return json_response(200, bundle)


def _purge(call: Call, name: str) -> Response:
    call.vault.purge(name)
    return Response(204, b"", content_type="")


def _list_secrets(call: Call) -> Response:
    base = call.request.base_url
    return _paged(call, call.vault.list_secrets, lambda v: bundles.secret_item(base, v, call.days))


def _list_versions(call: Call, name: str) -> Response:
    base = call.request.base_url
    return _paged(
        call,
        lambda after, limit: call.vault.list_versions(name, after, limit),
        lambda v: bundles.version_item(base, v, call.days),
    )


def _list_deleted(call: Call) -> Response:
    base = call.request.base_url
    return _paged(call, call.vault.list_deleted, lambda d: bundles.deleted_item(base, d, call.days))


# --- paging -------------------------------------------------------------------------


def _paged(
    call: Call,
    fetch: Callable[[str | None, int], Page],
    shape: Callable[[Any], dict[str, Any]],
) -> Response:
    """One page and an absolute nextLink on the same host and port (null on the last)."""
    request = call.request
    maxresults = _maxresults(request.param("maxresults"))
    skiptoken = request.param("$skiptoken")
    at_end = skiptoken == _END
    limit = max(1, (maxresults + 1) // 2) if call.short_pages else maxresults
    page = Page([], None) if at_end else fetch(_decode(skiptoken), limit)
    token = _encode(page.next_cursor) if page.next_cursor is not None else None
    if token is None and call.short_pages and not at_end:
        token = _END
    next_link = None
    if token is not None:
        version = quote(request.param("api-version") or "", safe="")
        next_link = (
            f"{request.base_url}{request.path}?api-version={version}"
            f"&$skiptoken={token}&maxresults={maxresults}"
        )
    items = [shape(item) for item in page.items]
    return json_response(200, {"value": items, "nextLink": next_link})


def _maxresults(raw: str | None) -> int:
    if raw is None or raw == "":
        return MAX_PAGE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE:
        # Key Vault refuses values outside 1..25; its exact wording is unverified.
        raise errors.bad_parameter(f"maxresults must be between 1 and {MAX_PAGE}, not {raw}.")
    return value


def _encode(cursor: str) -> str:
    # URL-safe base64 without padding: the SDK re-quotes skip tokens, these survive it.
    return base64.urlsafe_b64encode(("c:" + cursor).encode()).decode().rstrip("=")


def _decode(token: str | None) -> str | None:
    if token is None or token == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raw = ""
    if not raw.startswith("c:"):
        raise errors.bad_parameter("The $skiptoken is not valid.")
    return raw[2:]
