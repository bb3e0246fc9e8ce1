"""Unit tests for adapters/envelope.py: root key handling, data keys, sealing, fingerprints."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import string
import uuid
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.envelope import KEY_BYTES, ProjectCipher, RootKey, RootKeyError

FAST = settings(max_examples=100, database=None, deadline=None)
B64URL = set(string.ascii_letters + string.digits + "-_")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.fixture(scope="module")
def root() -> RootKey:
    return RootKey.from_text(RootKey.generate_text())


def new_cipher(root: RootKey) -> ProjectCipher:
    project_id = str(uuid.uuid4())
    return root.cipher_for(project_id, root.new_wrapped_data_key(project_id))


@pytest.fixture
def cipher(root: RootKey) -> ProjectCipher:
    return new_cipher(root)


# --- the root key ------------------------------------------------------------------


def test_generated_text_round_trips() -> None:
    text = RootKey.generate_text()
    assert len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == KEY_BYTES
    assert RootKey.generate_text() != text
    first, second = RootKey.from_text(text), RootKey.from_text(text + "\n")
    assert first.key_id == second.key_id
    # The same text wraps and unwraps the same data keys.
    project_id = str(uuid.uuid4())
    wrapped = first.new_wrapped_data_key(project_id)
    sealed = first.cipher_for(project_id, wrapped).seal("hello", "aad")
    assert second.cipher_for(project_id, wrapped).open(sealed, "aad") == "hello"


def test_key_id_differs_between_keys() -> None:
    assert (
        RootKey.from_text(RootKey.generate_text()).key_id
        != RootKey.from_text(RootKey.generate_text()).key_id
    )


@pytest.mark.parametrize("size", [0, 1, 16, 31, 33, 64])
def test_wrong_length_is_refused_without_key_material(size: int) -> None:
    text = b64(os.urandom(size))
    with pytest.raises(RootKeyError) as raised:
        RootKey.from_text(text)
    message = str(raised.value)
    if text:
        assert text not in message
    assert "32" in message


@pytest.mark.parametrize(
    "text",
    [
        "Zq9xW",  # one character past a multiple of four is never valid base64
        b64(os.urandom(KEY_BYTES)) + "a",
        "é" * 43,  # not ASCII
        "\u00ff" + b64(os.urandom(KEY_BYTES)),
    ],
)
def test_bad_base64_is_refused_without_key_material(text: str) -> None:
    with pytest.raises(RootKeyError) as raised:
        RootKey.from_text(text)
    message = str(raised.value)
    assert text.strip() not in message
    # Nothing of the text leaks through a chained exception in a traceback either.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_from_bytes_wrong_length() -> None:
    with pytest.raises(RootKeyError):
        RootKey(b"x" * 16)


def test_from_file_creates_a_private_key_and_reuses_it(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "root.key"
    first = RootKey.from_file(path, create=True)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    second = RootKey.from_file(path, create=True)
    assert path.read_text() == content
    assert second.key_id == first.key_id
    assert RootKey.from_file(path, create=False).key_id == first.key_id


def test_from_file_without_create_requires_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.key"
    with pytest.raises(RootKeyError):
        RootKey.from_file(path, create=False)
    assert not path.exists()


def test_from_file_with_bad_content(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text(b64(b"short") + "\n")
    with pytest.raises(RootKeyError) as raised:
        RootKey.from_file(path, create=True)
    assert b64(b"short") not in str(raised.value)


# --- data keys ------------------------------------------------------------------------


def test_wrapped_data_key_names_the_root_key(root: RootKey) -> None:
    project_id = str(uuid.uuid4())
    wrapped = root.new_wrapped_data_key(project_id)
    assert wrapped.startswith(root.key_id + ".")
    assert root.new_wrapped_data_key(project_id) != wrapped  # a fresh random data key


def test_cipher_for_another_root_key_is_refused(root: RootKey) -> None:
    other = RootKey.from_text(RootKey.generate_text())
    project_id = str(uuid.uuid4())
    wrapped = other.new_wrapped_data_key(project_id)
    with pytest.raises(RootKeyError) as raised:
        root.cipher_for(project_id, wrapped)
    assert wrapped.partition(".")[2] not in str(raised.value)


def test_wrapped_data_key_is_bound_to_its_project(root: RootKey) -> None:
    wrapped = root.new_wrapped_data_key(str(uuid.uuid4()))
    with pytest.raises(RootKeyError, match="does not open"):
        root.cipher_for(str(uuid.uuid4()), wrapped)


def test_cipher_for_is_cached_per_project(root: RootKey) -> None:
    project_id = str(uuid.uuid4())
    wrapped = root.new_wrapped_data_key(project_id)
    assert root.cipher_for(project_id, wrapped) is root.cipher_for(project_id, wrapped)


# --- the key ring: old keys unwrap, only the primary wraps ---------------------------


def test_old_key_unwraps_and_rewrap_moves_onto_the_primary() -> None:
    old_text, new_text = RootKey.generate_text(), RootKey.generate_text()
    old = RootKey.from_text(old_text)
    project_id = str(uuid.uuid4())
    wrapped = old.new_wrapped_data_key(project_id)
    sealed = old.cipher_for(project_id, wrapped).seal("value", "aad")

    ring = RootKey.from_text(new_text)
    ring.add_old(RootKey.from_text(old_text))
    assert ring.key_ids == (ring.key_id, old.key_id)
    assert not ring.is_primary(wrapped)
    assert ring.cipher_for(project_id, wrapped).open(sealed, "aad") == "value"
    assert ring.new_wrapped_data_key(project_id).startswith(ring.key_id + ".")

    rewrapped = ring.rewrap_data_key(project_id, wrapped)
    assert ring.is_primary(rewrapped)
    # The data key is the same: what it sealed opens with the new key alone.
    alone = RootKey.from_text(new_text)
    assert alone.cipher_for(project_id, rewrapped).open(sealed, "aad") == "value"
    with pytest.raises(RootKeyError, match="not configured"):
        alone.cipher_for(project_id, wrapped)


def test_unwrap_names_keys_by_id_only() -> None:
    old_text = RootKey.generate_text()
    wrapped = RootKey.from_text(old_text).wrap(b"k" * KEY_BYTES, b"aad")
    ring = RootKey.from_text(RootKey.generate_text())
    with pytest.raises(RootKeyError) as raised:
        ring.unwrap(wrapped, b"aad", "the store key")
    message = str(raised.value)
    assert old_text not in message and wrapped.partition(".")[2] not in message
    assert wrapped.partition(".")[0] in message


def test_tampered_wrapped_key_is_refused() -> None:
    ring = RootKey.from_text(RootKey.generate_text())
    wrapped = ring.wrap(b"k" * KEY_BYTES, b"aad")
    key_id, _, sealed = wrapped.partition(".")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(RootKeyError, match="does not open"):
        ring.unwrap(f"{key_id}.{flipped}", b"aad", "x")
    with pytest.raises(RootKeyError, match="does not open"):
        ring.unwrap(wrapped, b"other aad", "x")
    assert ring.unwrap(wrapped, b"aad", "x") == b"k" * KEY_BYTES


# --- sealing --------------------------------------------------------------------------


@FAST
@given(plaintext=st.text(), aad=st.text())
def test_seal_open_round_trip(root: RootKey, plaintext: str, aad: str) -> None:
    cipher = new_cipher(root)
    sealed = cipher.seal(plaintext, aad)
    assert sealed.startswith("v1.")
    assert cipher.open(sealed, aad) == plaintext


@FAST
@given(plaintext=st.text(), aad=st.text(), other=st.text())
def test_open_with_other_aad_fails(root: RootKey, plaintext: str, aad: str, other: str) -> None:
    assume(aad != other)
    cipher = new_cipher(root)
    with pytest.raises(InvalidTag):
        cipher.open(cipher.seal(plaintext, aad), other)


def test_open_with_another_projects_key_fails(root: RootKey) -> None:
    sealed = new_cipher(root).seal("value", "aad")
    with pytest.raises(InvalidTag):
        new_cipher(root).open(sealed, "aad")


def test_open_refuses_unknown_format(cipher: ProjectCipher) -> None:
    sealed = cipher.seal("value", "aad")
    with pytest.raises(ValueError):
        cipher.open("v2." + sealed.partition(".")[2], "aad")


def test_tampered_ciphertext_fails(cipher: ProjectCipher) -> None:
    sealed = cipher.seal("value", "aad")
    last = sealed[-2]
    tampered = sealed[:-2] + ("A" if last != "A" else "B") + sealed[-1]
    with pytest.raises(InvalidTag):
        cipher.open(tampered, "aad")


@FAST
@given(plaintext=st.text(min_size=4))
def test_ciphertext_is_fresh_and_hides_the_plaintext(root: RootKey, plaintext: str) -> None:
    # A short plaintext made only of base64 characters could turn up by chance.
    assume(len(plaintext) >= 12 or not set(plaintext) <= B64URL | {"."})
    cipher = new_cipher(root)
    first, second = cipher.seal(plaintext, "aad"), cipher.seal(plaintext, "aad")
    assert first != second
    assert plaintext not in first
    assert plaintext not in second


# --- fingerprints ---------------------------------------------------------------------


@FAST
@given(value=st.text(), other=st.text())
def test_fingerprint_is_equal_exactly_for_equal_values(
    root: RootKey, value: str, other: str
) -> None:
    cipher = new_cipher(root)
    assert cipher.fingerprint(value) == cipher.fingerprint(value)
    if value != other:
        assert cipher.fingerprint(value) != cipher.fingerprint(other)


def test_fingerprint_depends_on_the_data_key(root: RootKey) -> None:
    assert new_cipher(root).fingerprint("value") != new_cipher(root).fingerprint("value")


def test_fingerprint_is_stable_for_the_same_data_key(root: RootKey) -> None:
    data_key = os.urandom(KEY_BYTES)
    assert ProjectCipher(data_key).fingerprint("v") == ProjectCipher(data_key).fingerprint("v")


@pytest.mark.parametrize("value", ["", "password", "hunter2", "x" * 1000])
def test_fingerprint_is_not_a_plain_hash(cipher: ProjectCipher, value: str) -> None:
    fingerprint = cipher.fingerprint(value)
    plain = value.encode()
    for digest in (hashlib.sha256(plain).hexdigest(), hashlib.md5(plain).hexdigest()):
        assert fingerprint != digest
        assert fingerprint != digest[: len(fingerprint)]
    assert value not in fingerprint or value == ""
