"""HTTPS transport: a threading HTTP/1.1 server with keep-alive, TLS per connection.

The SDK (requests + urllib3) pools connections, so every answer carries Content-Length
(except 204), request bodies are read exactly (Content-Length or chunked), and a
connection stays open until the client closes it or idles out. The TLS handshake runs in
the connection's thread, so a silent client cannot stall the accept loop.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import ssl
import threading
import uuid
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from keyvault_emulator.app import App
from keyvault_emulator.wire import Request, Response

log = logging.getLogger("keyvault_emulator.server")

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0
MAX_BODY = 4 * 1024 * 1024
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default
    server_version = "KeyVaultEmulator/1.0"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True  # answers are one write; don't wait for delayed ACKs
    server: TlsServer

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            host=self._host(),
            listener_vault=self.server.vault,
        )
        response = self.server.app.handle(request)
        if response is None:  # an injected drop: close without a byte
            self.close_connection = True
            return
        self._write(response)

    def _host(self) -> str:
        host = (self.headers.get("Host") or "").strip()
        return host if _HOST.match(host) else self.server.advertised

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self._refuse(400, "Invalid Content-Length")
            return None
        if length > MAX_BODY:
            self._refuse(413, "Request body too large")
            return None
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._refuse(400, "Invalid chunked encoding")
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                self._refuse(413, "Request body too large")
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True
        self._write(Response(status, message.encode(), content_type="text/plain"))

    def _write(self, response: Response) -> None:
        status = HTTPStatus(response.status)
        lines = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Date: {formatdate(usegmt=True)}",
            f"Server: {self.server_version}",
            "Cache-Control: no-cache",
            f"x-ms-request-id: {uuid.uuid4()}",
            "x-ms-keyvault-service-version: emulator",
        ]
        lines += [f"{name}: {value}" for name, value in response.headers]
        bodiless = response.status == 204 or response.status == 304 or response.status < 200
        if not bodiless:
            if response.content_type:
                lines.append(f"Content-Type: {response.content_type}")
            lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if bodiless else head + response.body)
        self.log_request(response.status)


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: App, context: ssl.SSLContext, vault: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.context = context
        self.vault = vault
        self._open: set[ssl.SSLSocket] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, port), _Handler)
        self.advertised = advertised_address(host, self.port)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.port

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            log.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        with self._open_lock:
            self._open.add(connection)
        try:
            self.RequestHandlerClass(connection, client_address, self)
        except (ssl.SSLError, OSError) as error:  # resets, timeouts, closed by stop()
            log.debug("connection from %s ended: %s", client_address, error)
        finally:
            with self._open_lock:
                self._open.discard(connection)
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error serving %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        """Wake and close every kept-alive connection (their threads then end)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


def advertised_address(bind: str, port: int) -> str:
    """host:port clients should use: loopback for a wildcard bind, [v6] bracketed."""
    host = _WILDCARD_HOSTS.get(bind, bind)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
