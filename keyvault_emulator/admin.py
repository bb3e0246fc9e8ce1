"""The emulator's own control endpoints under /_emulator/ (no authentication: loopback tool).

GET    /_emulator/health                 {"status": "ok", "vaults": [...]}
GET    /_emulator/counts                 request counts (see counters.py)
DELETE /_emulator/counts                 reset them
GET    /_emulator/faults                 current fault settings
POST   /_emulator/faults                 e.g. {"latency_ms": 20, "fail_next": {"count": 2,
                                         "status": 503}, "drop_next": {"count": 1},
                                         "fail_fraction": {"fraction": 0.1, "seed": 7},
                                         "rate_limit": {"sets": 300, "total": 4000,
                                         "window_seconds": 10}, "short_pages": true}
DELETE /_emulator/faults                 clear every fault
GET    /_emulator/principals             client ids and permissions (never secrets)
PUT    /_emulator/principals/{client_id} {"client_secret": "...", "permissions": ["get"]}
DELETE /_emulator/principals/{client_id}
GET    /_emulator/timing                 {"delete_seconds": 2, "recover_seconds": 2,
                                         "purge_seconds": 2}
PUT    /_emulator/timing                 change them (any subset)
GET    /_emulator/denials                seeded 403s
POST   /_emulator/denials                {"code": "ForbiddenByRbac" | "ForbiddenByFirewall" |
                                         "ForbiddenByPolicy" | "AccessDenied", and optionally
                                         "client_id", "vault", "permissions": ["set"],
                                         "names": ["db-password"]} (absent: every one)
DELETE /_emulator/denials                remove every seeded denial
PUT    /_emulator/vaults/{vault}/certificates/{name}
                                         {"value": "...", "content_type": "..."}: a secret
                                         backing a certificate (managed, kid)
DELETE /_emulator/vaults                 forget every secret of every vault
POST   /_emulator/tokens/revoke          invalidate every issued access token
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from keyvault_emulator.counters import Counters
from keyvault_emulator.denials import Denials, denial
from keyvault_emulator.errors import ApiError
from keyvault_emulator.faults import Faults
from keyvault_emulator.principals import Principals
from keyvault_emulator.store import Vaults
from keyvault_emulator.tokens import Identity
from keyvault_emulator.wire import Request, Response, json_response

NO_CONTENT = Response(204, b"", content_type="")


def _bad(message: str) -> ApiError:
    return ApiError(400, "BadParameter", message)


class Admin:
    def __init__(
        self,
        *,
        faults: Faults,
        counters: Counters,
        principals: Principals,
        vaults: Vaults,
        identity: Identity,
        denials: Denials | None = None,
    ) -> None:
        self.faults = faults
        self.counters = counters
        self.principals = principals
        self.vaults = vaults
        self.identity = identity
        self.denials = denials or Denials()

    def handle(self, request: Request) -> Response:
        parts = [unquote(p) for p in request.path.strip("/").split("/")[1:]]
        method = request.method
        try:
            return self._route(method, parts, request)
        except ValueError as error:
            raise _bad(str(error)) from None

    def _route(self, method: str, parts: list[str], request: Request) -> Response:
        head = parts[0] if parts else ""
        if (method, parts) == ("GET", ["health"]):
            return json_response(200, {"status": "ok", "vaults": self.vaults.names()})
        if head == "counts" and len(parts) == 1:
            if method == "GET":
                return json_response(200, self.counters.snapshot())
            if method == "DELETE":
                self.counters.reset()
                return NO_CONTENT
        if head == "faults" and len(parts) == 1:
            if method == "GET":
                return json_response(200, self.faults.describe())
            if method in ("POST", "PUT"):
                self.faults.configure(_json_object(request))
                return json_response(200, self.faults.describe())
            if method == "DELETE":
                self.faults.clear()
                return NO_CONTENT
        if head == "principals":
            return self._principals(method, parts[1:], request)
        if head == "timing" and len(parts) == 1:
            return self._timing(method, request)
        if head == "denials" and len(parts) == 1:
            return self._denials(method, request)
        if (method, parts) == ("DELETE", ["vaults"]):
            self.vaults.clear()
            return NO_CONTENT
        if method == "PUT" and len(parts) == 4 and parts[0] == "vaults" and (
            parts[2] == "certificates"
        ):
            spec = _json_object(request)
            value = spec.get("value", "certificate")
            content_type = spec.get("content_type", "application/x-pkcs12")
            if not isinstance(value, str) or not isinstance(content_type, str):
                raise _bad("value and content_type must be strings")
            view = self.vaults.get(parts[1]).seed_certificate(parts[3], value, content_type)
            return json_response(200, {"name": view.name, "version": view.version.id})
        if (method, parts) == ("POST", ["tokens", "revoke"]):
            self.identity.revoke_all()
            return NO_CONTENT
        raise ApiError(404, "NotFound", f"No admin endpoint {method} {request.path}")

    def _principals(self, method: str, rest: list[str], request: Request) -> Response:
        if not rest and method == "GET":
            return json_response(200, self.principals.describe())
        if len(rest) == 1 and method == "PUT":
            spec = _json_object(request)
            existing = self.principals.get(rest[0])
            secret = spec.get("client_secret") or (existing.client_secret if existing else None)
            if not isinstance(secret, str):
                raise _bad("a new principal needs a client_secret")
            self.principals.add(rest[0], secret, spec.get("permissions"))
            return json_response(200, {"client_id": rest[0]})
        if len(rest) == 1 and method == "DELETE":
            self.principals.remove(rest[0])
            return NO_CONTENT
        raise ApiError(404, "NotFound", f"No admin endpoint {method} {request.path}")

    def _timing(self, method: str, request: Request) -> Response:
        timing = self.vaults.timing
        if method == "PUT":
            spec = _json_object(request)
            known = set(timing.describe())
            unknown = set(spec) - known
            if unknown:
                raise _bad(f"unknown timing settings {sorted(unknown)}")
            for name in known & set(spec):
                setattr(timing, name, max(0.0, float(spec[name])))
        elif method != "GET":
            raise ApiError(405, "MethodNotAllowed", "timing accepts GET and PUT")
        return json_response(200, timing.describe())

    def _denials(self, method: str, request: Request) -> Response:
        if method == "POST":
            spec = _json_object(request)
            try:
                self.denials.add(denial(**spec))
            except TypeError as error:  # an unknown setting
                raise _bad(str(error)) from None
        elif method == "DELETE":
            self.denials.clear()
            return NO_CONTENT
        elif method != "GET":
            raise ApiError(405, "MethodNotAllowed", "denials accepts GET, POST and DELETE")
        return json_response(200, self.denials.describe())


def _json_object(request: Request) -> dict[str, Any]:
    spec = request.json()
    if not isinstance(spec, dict):
        raise _bad("the body must be a JSON object")
    return spec
