"""What the canary run does in each process it reaches: marks the secrets sent, unmarks
what the tests read back, records answers, errors, tokens, stores and log records.

Used by the pytest plugin (tests/canary/plugin.py) in the test process, and by
tests/canary/site/sitecustomize.py in every Python subprocess the tests start (the
CLI, `python -m service emulator`), so values sent through the CLI are marked too.
Imports no pytest: a CLI call must not pay for it.

Files, in SECRET_SYNC_CANARY_DIR, per process (<name>: "pytest" or the process id):
    answers-<name>.bin  every answer (secret fields blanked) and every error: searched
    logs/<name>.log     every log record of every logger, DEBUG up: searched
    sent-<name>.json    what to search for: marks, credentials, stores; never searched
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message

from tests.canary.marks import RUN_ENV, Marks
from tests.canary.messages import (
    CREDENTIAL_ANSWERS,
    REQUEST_CREDENTIALS,
    credentials_in,
    map_strings,
    mark_secrets,
    pem_lines,
    without_secrets,
)

DIR_ENV = "SECRET_SYNC_CANARY_DIR"
SENT = "sent"
ANSWERS = "answers"
LOGS = "logs"
POSTGRES = "postgres"


class Patches:
    """setattr with undo (pytest's MonkeyPatch, without pytest)."""

    def __init__(self) -> None:
        self._undo: list[tuple[object, str, object]] = []

    def setattr(self, target: object, name: str, value: object) -> None:
        self._undo.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def undo(self) -> None:
        while self._undo:
            target, name, old = self._undo.pop()
            setattr(target, name, old)


class Run:
    """One canary run: its marks and where it writes what it saw."""

    def __init__(self, folder: Path, name: str, first_mark: int = 1) -> None:
        self.folder, self.name = folder, name
        self.marks = Marks(first=first_mark)
        os.environ[RUN_ENV] = self.marks.run  # the run's subprocesses share it
        self.calls = 0
        self.stores: set[str] = set()  # database URLs
        self.coverage: Counter[str] = Counter()  # values the service received, by kind
        self.unmarked_samples: list[str] = []
        self._lock = threading.Lock()
        (folder / LOGS).mkdir(parents=True, exist_ok=True)
        (folder / POSTGRES).mkdir(exist_ok=True)
        self._answers = (folder / f"{ANSWERS}-{name}.bin").open("ab")

    def outgoing(self, details: grpc.ClientCallDetails, request: Message | bytes) -> Any:
        """A marked copy of the request (the test's own object stays as it wrote it).
        Raw bytes (tests/security/test_malformed.py) go as they are: no message, no mark."""
        for key, value in details.metadata or ():
            if key == "authorization" and isinstance(value, str):
                self.marks.credential(value.removeprefix("Bearer ").strip())
        if isinstance(request, bytes):
            return request
        for pem in credentials_in(request, REQUEST_CREDENTIALS):
            for line in pem_lines(pem):
                self.marks.credential(line)
        copy = type(request)()
        copy.CopyFrom(request)
        mark_secrets(copy, self.marks.mark)
        return copy

    def received(self, values: list[str], kind: str) -> None:
        """Values as the service received them: marked or not (the coverage)."""
        with self._lock:
            for value in values:
                marked = bool(self.marks.pattern.search(value))
                self.coverage[f"{kind} {'marked' if marked else 'unmarked'}"] += 1
                if not marked and value and len(self.unmarked_samples) < 50:
                    self.unmarked_samples.append(value[:40])

    def answered(self, method: str, answer: Message | bytes) -> None:
        if isinstance(answer, bytes):  # a raw-bytes call's answer: searched as it came
            self._write(method, answer)
            return
        for token in credentials_in(answer, CREDENTIAL_ANSWERS):
            self.marks.credential(token)
        blanked = without_secrets(answer)
        self._write(method, blanked.SerializeToString() + str(blanked).encode())
        map_strings(answer, self.marks.unmark)

    def failed(self, method: str, error: grpc.RpcError) -> None:
        parts = [str(error.code()).encode(), (error.details() or "").encode()]
        trailers = error.trailing_metadata() if isinstance(error, grpc.Call) else None
        for key, value in trailers or ():  # grpc-status-details-bin included
            raw = value if isinstance(value, bytes) else value.encode()
            parts.append(key.encode() + b"=" + raw)
        self._write(method, b"\n".join(parts))

    def _write(self, method: str, blob: bytes) -> None:
        with self._lock:
            self.calls += 1
            self._answers.write(f"\n--- {method}\n".encode() + blob)

    def finish(self) -> None:
        self._answers.close()
        sent = {
            "run": self.marks.run,
            "marks": self.marks.sent,
            "credentials": sorted(self.marks.credentials),
            "unmarked": self.marks.unmarked,
            "calls": self.calls,
            "stores": sorted(self.stores),
            "coverage": dict(self.coverage),
            "unmarked_samples": self.unmarked_samples,
        }
        (self.folder / f"{SENT}-{self.name}.json").write_text(json.dumps(sent, indent=1))


class _Interceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, run: Run) -> None:
        self.run = run

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        call = continuation(details, self.run.outgoing(details, request))
        try:
            answer = call.result()  # waits: a future becomes a call that has ended
        except grpc.RpcError as error:
            self.run.failed(details.method, error)
            return call
        self.run.answered(details.method, answer)
        return call

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        call = continuation(details, self.run.outgoing(details, request))
        return _Stream(call, self.run, details.method)


class _Stream:
    """A server stream whose messages are recorded and unmarked as the test reads them."""

    def __init__(self, call: Any, run: Run, method: str) -> None:
        self._call, self._run, self._method = call, run, method

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Message:
        try:
            answer = next(self._call)
        except grpc.RpcError as error:
            self._run.failed(self._method, error)
            raise
        self._run.answered(self._method, answer)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


def intercept_channels(run: Run, patch: Patches) -> None:
    """Every channel the tests open passes through the interceptor."""
    interceptor = _Interceptor(run)
    insecure, secure = grpc.insecure_channel, grpc.secure_channel

    def insecure_channel(*args: Any, **kwargs: Any) -> grpc.Channel:
        return grpc.intercept_channel(insecure(*args, **kwargs), interceptor)

    def secure_channel(*args: Any, **kwargs: Any) -> grpc.Channel:
        return grpc.intercept_channel(secure(*args, **kwargs), interceptor)

    patch.setattr(grpc, "insecure_channel", insecure_channel)
    patch.setattr(grpc, "secure_channel", secure_channel)


class _MarkedVault:
    """The emulator's vault as tests reach it directly (emulator.vault()): values they
    put are marked, values they read are unmarked. The service reaches the vault over
    HTTPS, never through this."""

    def __init__(self, vault: Any, marks: Marks) -> None:
        object.__setattr__(self, "_vault", vault)
        object.__setattr__(self, "_marks", marks)

    def set_secret(self, name: str, value: str, *args: Any, **kwargs: Any) -> Any:
        marked = self._marks.mark(value, "vault value")
        return self._unmarked(self._vault.set_secret(name, marked, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._vault, name)
        if not callable(found):
            return found
        return lambda *args, **kwargs: self._unmarked(found(*args, **kwargs))

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._vault, name, value)  # e.g. a test moving the vault's clock

    def _unmarked(self, found: Any) -> Any:
        """A view or a page of views with the values unmarked."""
        if not dataclasses.is_dataclass(found) or isinstance(found, type):
            return found
        if hasattr(found, "items"):
            return dataclasses.replace(found, items=[self._unmarked(i) for i in found.items])
        version = getattr(found, "version", None)
        if not dataclasses.is_dataclass(version) or not hasattr(version, "value"):
            return found
        plain = dataclasses.replace(version, value=self._marks.unmark(version.value))
        return dataclasses.replace(found, version=plain)


def mark_the_emulator(run: Run, patch: Patches) -> None:
    from keyvault_emulator import KeyVaultEmulator
    from keyvault_emulator.principals import Principal

    marks = run.marks
    init, vault = KeyVaultEmulator.__init__, KeyVaultEmulator.vault

    def marked_init(self: KeyVaultEmulator, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("client_secret") is None:  # tests that name one compare it
            random = secrets.token_urlsafe(24)
            kwargs["client_secret"] = marks.mark(random, "emulator client secret")
        init(self, *args, **kwargs)

    def matches(self: Principal, candidate: str) -> bool:
        # A client secret a test wrote reaches the emulator marked through the
        # service and unmarked through the SDK: both are that secret.
        return marks.unmark(candidate) == marks.unmark(self.client_secret)

    patch.setattr(KeyVaultEmulator, "__init__", marked_init)
    patch.setattr(KeyVaultEmulator, "vault", lambda self, *a: _MarkedVault(vault(self, *a), marks))
    patch.setattr(Principal, "secret_matches", matches)


def record_tokens(run: Run, patch: Patches) -> None:
    """Tokens made in the test process (tests/conftest.py admin_channel) are searched for."""
    from service.app.service_tokens import ServiceTokens

    create = ServiceTokens.create

    def recorded(self: ServiceTokens, *args: Any, **kwargs: Any) -> Any:
        record, token = create(self, *args, **kwargs)
        run.marks.credential(token)
        return record, token

    patch.setattr(ServiceTokens, "create", recorded)


def count_what_the_service_receives(run: Run, patch: Patches) -> None:
    """How many secret values and client secrets reached the service marked, whatever
    the way (a gRPC call, the CLI, an import job reading the vault): the coverage."""
    from service.app.connections import AzureConnections
    from service.app.secret_sources import SecretSources

    set_secrets, create = SecretSources.set_secrets, AzureConnections.create

    def counted_values(self: SecretSources, *args: Any, **kwargs: Any) -> Any:
        entries = kwargs.get("entries", args[3] if len(args) > 3 else [])
        run.received([value for _, value, _ in entries], "secret value")
        return set_secrets(self, *args, **kwargs)

    def counted_secrets(self: AzureConnections, *args: Any, **kwargs: Any) -> Any:
        auth = kwargs.get("auth", args[4] if len(args) > 4 else None)
        run.received(list(getattr(auth, "secrets", {}).values()), "credential")
        return create(self, *args, **kwargs)

    patch.setattr(SecretSources, "set_secrets", counted_values)
    patch.setattr(AzureConnections, "create", counted_secrets)


def record_stores(run: Run, patch: Patches) -> None:
    """Every store a server of the run opens: the search must reach each one."""
    from service.server import SecretSyncServer

    init = SecretSyncServer.__init__

    def recorded(self: SecretSyncServer, config: Any, *args: Any, **kwargs: Any) -> None:
        url = config.database_url
        try:
            init(self, config, *args, **kwargs)
        except BaseException:
            # A server refused before it opened its store (a setting: plaintext, limits)
            # left no SQLite file; one refused later (a wrong key) did, and is searched.
            if not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists():
                run.stores.add(url)
            raise
        run.stores.add(url)

    patch.setattr(SecretSyncServer, "__init__", recorded)


def log_everything(run: Run) -> Callable[[], None]:
    """Every record of every logger, DEBUG up, to logs/<name>.log; returns its undo."""
    handler = logging.FileHandler(run.folder / LOGS / f"{run.name}.log", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()

    return undo


Started = tuple["Run", Patches, Callable[[], None]]


def start(folder: Path, name: str, *, servers: bool, first_mark: int = 1) -> Started:
    """Everything the run does in this process; (run, patches, undo of the logging).

    servers: the process runs servers in it (the test process); a CLI call does not,
    and importing the server would cost each one more than half a second."""
    run = Run(folder, name, first_mark)
    patch = Patches()
    intercept_channels(run, patch)
    mark_the_emulator(run, patch)
    if servers:
        record_tokens(run, patch)
        record_stores(run, patch)
        count_what_the_service_receives(run, patch)
    return run, patch, log_everything(run)


def unmark_azure_reads(run: Run, patch: Patches) -> None:
    """A subprocess reading the vault with the Azure SDK is a test or an operator
    (docs/quickstart.sh), never the service (the suite runs servers in the test
    process): it reads values as the tests wrote them."""
    from azure.keyvault.secrets import KeyVaultSecret

    value = KeyVaultSecret.value

    def unmarked(self: KeyVaultSecret) -> str | None:
        found = value.fget(self)
        return run.marks.unmark(found) if found else found

    patch.setattr(KeyVaultSecret, "value", property(unmarked))


def start_in_subprocess() -> None:
    """For sitecustomize: a subprocess of the run records until it exits."""
    folder = os.environ.get(DIR_ENV)
    if not folder:
        return
    pid = os.getpid()  # marks numbered apart from the test process's (from 1)
    run, patch, undo_logging = start(Path(folder), str(pid), servers=False, first_mark=pid * 10**6)
    unmark_azure_reads(run, patch)

    def finish() -> None:
        undo_logging()
        run.finish()

    atexit.register(finish)
