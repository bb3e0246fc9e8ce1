"""The request pipeline, in Key Vault's order: count, delay, inject faults, authenticate
(401 + challenge), check the api-version (400), throttle (429), check the permission and
seeded denials (403), then run the operation.

`handle` returns None when the connection should be dropped without any answer.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable

from keyvault_emulator import api_versions, errors, handlers
from keyvault_emulator.admin import Admin
from keyvault_emulator.counters import Counters
from keyvault_emulator.denials import Denials
from keyvault_emulator.faults import DROP, Faults, Redirect
from keyvault_emulator.principals import Principal
from keyvault_emulator.store import Vaults
from keyvault_emulator.tokens import Identity, token_kind
from keyvault_emulator.wire import Request, Response, error_response

log = logging.getLogger("keyvault_emulator")


def vault_name(request: Request) -> str:
    """The vault a request is for: the first DNS label of a named host
    (myvault.vault.azure.net -> myvault), else the vault of the listener it reached."""
    host = request.host
    if host.startswith("["):  # [::1]:port
        return request.listener_vault
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(hostname)
        return request.listener_vault
    except ValueError:
        pass
    if hostname.lower() in ("localhost", "") or "." not in hostname:
        return request.listener_vault
    return hostname.split(".", 1)[0].lower()


class App:
    def __init__(
        self,
        *,
        vaults: Vaults,
        identity: Identity,
        faults: Faults,
        counters: Counters,
        admin: Admin,
        denials: Denials | None = None,
        check_api_version: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vaults = vaults
        self.identity = identity
        self.faults = faults
        self.counters = counters
        self.admin = admin
        self.denials = denials or Denials()
        self.check_api_version = check_api_version
        self._sleep = sleep

    def handle(self, request: Request) -> Response | None:
        try:
            return self._handle(request)
        except errors.ApiError as error:
            return error_response(error)
        except Exception:  # a bug here must answer 500, not hang the client
            log.exception("emulator error on %s %s", request.method, request.path)
            return error_response(
                errors.ApiError(500, "InternalError", "The emulator failed on this request.")
            )

    def _handle(self, request: Request) -> Response | None:
        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            return self.admin.handle(request)
        kind = token_kind(request.path)
        route = None
        if kind is None:
            route = handlers.match(request.method, request.path)
            kind = route.kind
        self.counters.request(kind)
        if self.faults.latency_ms > 0:
            self._sleep(self.faults.latency_ms / 1000.0)
        fault = self.faults.decide(kind)
        if fault == DROP:
            self.counters.outcome("dropped")
            return None
        if isinstance(fault, int):
            self.counters.outcome("injected")
            raise errors.transient(fault)
        if isinstance(fault, Redirect):
            self.counters.outcome("redirected")
            return Response(307, headers=(("Location", fault.location),))
        if route is None:
            return self.identity.handle(request)
        return self._vault_operation(request, route)

    def _vault_operation(self, request: Request, route: handlers.Route) -> Response:
        auth = self.identity.authenticate(request.header("authorization"))
        principal = auth.principal
        if principal is None:
            self.counters.outcome("challenge")
            challenge = (
                self.identity.claims_challenge(request.base_url)
                if auth.revoked
                else self.identity.challenge(request.base_url)
            )
            raise errors.unauthorized(auth.refusal, challenge)
        version = request.param("api-version")
        if not version:
            raise errors.bad_parameter("The api-version query parameter is required.")
        if self.check_api_version and version not in api_versions.KNOWN:
            raise errors.unknown_api_version(version, api_versions.LATEST)
        vault = self.vaults.get(vault_name(request))
        retry_after = self.faults.admit(vault.name, route.kind)
        if retry_after is not None:
            self.counters.outcome("throttled")
            raise errors.throttled(retry_after)
        if route.permission:
            self._check_denials(vault.name, principal, route)
        if route.permission and not principal.may(route.permission):
            self.counters.outcome("forbidden")
            raise errors.access_denied(
                principal.client_id,
                principal.object_id,
                self.identity.tenant_id,
                route.permission,
                vault.name,
            )
        return route.action(handlers.Call(vault, request, self.faults.short_pages))

    def _check_denials(self, vault: str, principal: Principal, route: handlers.Route) -> None:
        assert route.permission is not None
        found = self.denials.find(vault, principal.client_id, route.permission, route.name)
        if found is None:
            return
        self.counters.outcome("forbidden")
        who = (principal.client_id, principal.object_id, self.identity.tenant_id)
        if found.code == "ForbiddenByRbac":
            raise errors.forbidden_by_rbac(*who, route.permission, vault, route.name)
        if found.code == "ForbiddenByFirewall":
            raise errors.forbidden_by_firewall(*who, vault)
        if found.code == "ForbiddenByPolicy":
            raise errors.forbidden_by_policy(vault, route.permission)
        raise errors.access_denied(*who, route.permission, vault)
