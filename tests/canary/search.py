"""Looking for secrets in bytes: each secret as plain text, hex and base64.

Shared by the canary tests (tests/integration/test_canary.py and the whole-suite run
of tests/canary/) and by the tests that look for credentials in the store.
"""

from __future__ import annotations

import base64
import functools
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg

from tests.conftest import POSTGRES_ADMIN_URL

# Shorter secrets have base64 forms of a few characters that match anywhere.
MIN_SECRET = 12


def encodings(secret: str) -> list[bytes]:
    """The secret as plain bytes, hex, and base64 at each alignment (standard and URL-safe)."""
    raw = secret.encode()
    found = [raw, raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).rstrip(b"=")
            found.append(text[4:-4])  # the part that depends only on the secret
    return found


def leaks(secret: str, data: bytes | str) -> list[bytes]:
    blob = data.encode() if isinstance(data, str) else data
    return [form for form in encodings(secret) if form in blob]


def form_name(secret: str, form: bytes) -> str:
    """Which encoding of the secret `form` is: plain, hex or base64."""
    index = encodings(secret).index(form)
    return "plain" if index == 0 else "hex" if index < 3 else "base64"


@dataclass(frozen=True)
class Hit:
    secret: str
    form: str  # plain, hex or base64
    where: str
    context: str  # a few bytes around the hit, for the report

    def __str__(self) -> str:
        return f"{self.where}: {self.form} {self.secret!r} in …{self.context}…"


class Searcher:
    """Finds any of many secrets, in every form, in blobs and files.

    Files go through `grep -F` (Aho-Corasick: all forms in one pass, a fraction of a
    second for the whole run); one regular expression of thousands of alternatives
    took half a minute.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self.forms: dict[bytes, str] = {}
        for secret in sorted(set(secrets)):
            if len(secret) < MIN_SECRET:
                raise ValueError(f"{secret!r} is too short to search for without false hits")
            for form in encodings(secret):
                self.forms.setdefault(form, secret)

    @functools.cached_property
    def pattern(self) -> re.Pattern[bytes]:
        # Longest first: a value that extends another is reported as itself.
        alternatives = sorted(self.forms, key=len, reverse=True)
        return re.compile(b"|".join(re.escape(f) for f in alternatives) or b"(?!)")

    def hit(self, where: str, blob: bytes, start: int, form: bytes) -> Hit:
        secret = self.forms[form]
        around = blob[max(0, start - 40) : start + len(form) + 40]
        context = around.decode("utf-8", "backslashreplace")
        return Hit(secret, form_name(secret, form), where, context)

    def search(self, where: str, blob: bytes) -> list[Hit]:
        return [self.hit(where, blob, m.start(), m.group()) for m in self.pattern.finditer(blob)]

    def search_files(self, files: Iterable[Path], root: Path) -> list[Hit]:
        paths = [str(p) for p in files]
        if not paths or not self.forms:
            return []
        with tempfile.NamedTemporaryFile("wb", suffix=".forms") as forms:
            forms.write(b"\n".join(self.forms) + b"\n")
            forms.flush()
            # -a binary as text, -b byte offsets, -o each match, -F fixed strings,
            # -H always the file name, -Z a NUL after it (names may hold colons).
            found = subprocess.run(
                ["grep", "-aboFHZ", "-f", forms.name, "--", *paths],
                capture_output=True,
            )
        assert found.returncode in (0, 1), found.stderr  # 1: nothing found
        hits = []
        for line in found.stdout.split(b"\n")[:-1]:
            name, rest = line.split(b"\0", 1)
            offset, form = rest.split(b":", 1)
            path = Path(name.decode())
            where = str(path.relative_to(root))
            hits.append(self.hit(where, path.read_bytes(), int(offset), form))
        return hits


def files_under(root: Path, excluded: Iterable[str] = ()) -> Iterator[Path]:
    """Every file under root except those whose name is in `excluded`."""
    skip = set(excluded)
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in skip:
            yield path


def store_tables(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the store."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            names = [
                n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return {n: conn.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        names = [
            n
            for (n,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        return {n: conn.execute(f'SELECT * FROM "{schema}"."{n}"').fetchall() for n in names}


def raw_store(database_url: str) -> bytes:
    """The store's bytes: every file of the SQLite database (with -wal, -shm), or every
    value of every row of every table of the PostgreSQL schema (bytea as bytes)."""
    if database_url.startswith("sqlite"):
        folder = Path(database_url.removeprefix("sqlite:///")).parent
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        assert any(p.name == "store.sqlite" for p in files)
        return b"\n".join(p.read_bytes() for p in files)
    chunks: list[bytes] = []
    for name, rows in store_tables(database_url).items():
        chunks.append(name.encode())
        for row in rows:
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview):
                    chunks.append(bytes(value))
                else:
                    chunks.append(str(value).encode())
    return b"\n".join(chunks)
