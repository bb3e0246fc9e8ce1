"""Transport-neutral request and response values passed between the server and the app."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyvault_emulator.errors import ApiError


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string, still percent-encoded
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lowercase names
    body: bytes
    host: str  # the Host header as sent (host[:port]), or the listener's address
    listener_vault: str  # the vault this listener serves when the host names none

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def base_url(self) -> str:
        """https://host:port as the client addressed us: ids and links are built on it."""
        return f"https://{self.host}"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise ApiError(400, "BadParameter", "The request body is not valid JSON.") from None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json; charset=utf-8"


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, headers)


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.body(), error.headers)
