"""Key Vault's error shapes: `{"error": {"code", "message", "innererror": {"code"}}}`.

Codes and messages follow what the real service sends (see /work/shared/AZURE-KEY-VAULT.md);
where the exact wording is unverified the message says so in a comment, not in the text.
"""

from __future__ import annotations

from typing import Any

NOT_FOUND_HELP = (
    "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)
FORBIDDEN_HELP = (
    "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"
)


class ApiError(Exception):
    """An error answer of the vault: status, code, message and optional inner code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def secret_not_found(name: str, version: str = "") -> ApiError:
    shown = f"{name}/{version}" if version else name
    return ApiError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {shown} was not found in this key vault. If you recently "
        "deleted this secret you may be able to recover it using the correct recovery command. "
        + NOT_FOUND_HELP,
    )


def deleted_secret_not_found(name: str) -> ApiError:
    return ApiError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def bad_parameter(message: str) -> ApiError:
    return ApiError(400, "BadParameter", message)


def invalid_name(name: str) -> ApiError:
    return bad_parameter(f"The request URI contains an invalid name: {name}")


def deleted_but_recoverable(name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
        "reused; in this state, the secret can only be recovered or purged.",
        "ObjectIsDeletedButRecoverable",
    )


def being_deleted(name: str) -> ApiError:
    return ApiError(
        409, "Conflict", f"Secret {name} is currently being deleted.", "ObjectIsBeingDeleted"
    )


def secret_disabled() -> ApiError:
    return ApiError(
        403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled"
    )


def access_denied(client_id: str, object_id: str, tenant: str, action: str, vault: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f"The user, group or application 'appid={client_id};oid={object_id};"
        f"iss=https://sts.windows.net/{tenant}/' does not have secrets {action} permission on "
        f"key vault '{vault};location=emulator'. " + FORBIDDEN_HELP,
        "AccessDenied",
    )


def managed_secret(name: str, operation: str) -> ApiError:
    # Key Vault refuses these on a certificate's secret; its exact wording is unverified.
    return ApiError(
        403,
        "Forbidden",
        f"Operation {operation} is not allowed on secret {name}: it is managed by a "
        "certificate (use the certificates API).",
    )


def forbidden_by_rbac(
    client_id: str, object_id: str, tenant: str, action: str, vault: str, name: str
) -> ApiError:
    """An Azure RBAC vault without a role assignment allowing the data action."""
    resource = f"/vaults/{vault}/secrets/{name}" if name else f"/vaults/{vault}"
    return ApiError(
        403,
        "Forbidden",
        "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny "
        "assignments or role definitions were changed recently, please observe propagation "
        f"time.\r\nCaller: appid={client_id};oid={object_id};"
        f"iss=https://sts.windows.net/{tenant}/\r\n"
        f"Action: 'Microsoft.KeyVault/vaults/secrets/{RBAC_ACTIONS.get(action, action)}'\r\n"
        f"Resource: '{resource}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\n"
        f"DecisionReason: 'DeniedWithNoValidRBAC'\r\nVault: {vault};location=emulator\r\n",
        "ForbiddenByRbac",
    )


# The data actions Key Vault names in ForbiddenByRbac, by access-policy permission.
RBAC_ACTIONS = {
    "get": "getSecret/action",
    "list": "readMetadata/action",
    "set": "setSecret/action",
    "delete": "delete",
    "recover": "recover/action",
    "purge": "deletedSecrets/delete",
    "backup": "backup/action",
    "restore": "restore/action",
}


def forbidden_by_firewall(client_id: str, object_id: str, tenant: str, vault: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        "Client address is not authorized and caller is not a trusted service.\r\n"
        "Client address: 127.0.0.1\r\n"
        f"Caller: appid={client_id};oid={object_id};iss=https://sts.windows.net/{tenant}/\r\n"
        f"Vault: {vault};location=emulator",
        "ForbiddenByFirewall",
    )


def forbidden_by_policy(vault: str, action: str) -> ApiError:
    # An Azure Policy deny assignment; Key Vault's exact wording is unverified.
    return ApiError(
        403,
        "Forbidden",
        f"The operation secrets/{action} on vault '{vault};location=emulator' is denied by an "
        "Azure Policy assignment.",
        "ForbiddenByPolicy",
    )


def unknown_api_version(version: str, latest: str) -> ApiError:
    return bad_parameter(
        f"The specified version ({version}) is not recognized. Consider using the latest "
        f"supported version ({latest})."
    )


def unauthorized(message: str, challenge: str) -> ApiError:
    return ApiError(401, "Unauthorized", message, headers=(("WWW-Authenticate", challenge),))


def throttled(retry_after: int) -> ApiError:
    # The real wording is unverified; the code "Throttled" and the status are documented.
    return ApiError(
        429,
        "Throttled",
        f"Request was not allowed because the vault's request rate limit was exceeded. "
        f"Retry after {retry_after} seconds.",
        headers=(("Retry-After", str(retry_after)),),
    )


TRANSIENT_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def transient(status: int) -> ApiError:
    code = TRANSIENT_CODES.get(status, "ServiceError")
    return ApiError(status, code, f"Injected transient failure ({status}) by the emulator.")


def method_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        f"The requested resource does not support http method '{method}'.",
        headers=(("Allow", allowed),),
    )


def not_implemented(what: str) -> ApiError:
    return ApiError(501, "NotImplemented", f"{what} is not implemented by the emulator.")


def not_found_path(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"No such resource: {path}")
