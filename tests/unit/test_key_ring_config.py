"""The root-key ring from configuration: the primary and the older keys still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.envelope import RootKey, RootKeyError
from service.runtime.config import Config


def key_id(text: str) -> str:
    return RootKey.from_text(text).key_id


def test_old_keys_from_text_and_files_join_the_ring_after_the_primary(tmp_path: Path):
    primary, old_1, old_2, old_3 = (RootKey.generate_text() for _ in range(4))
    (tmp_path / "a.key").write_text(old_2 + "\n")
    (tmp_path / "b.key").write_text(old_3)
    config = Config.from_env(
        {
            "SECRET_SYNC_ROOT_KEY": primary,
            "SECRET_SYNC_OLD_ROOT_KEYS": f"{old_1}, ,{primary}",  # blanks and repeats are fine
            "SECRET_SYNC_OLD_ROOT_KEY_FILES": f"{tmp_path / 'a.key'},{tmp_path / 'b.key'}",
        }
    )
    ring = config.load_root_key()
    assert ring.key_id == key_id(primary)
    assert ring.key_ids == tuple(key_id(k) for k in (primary, old_1, old_2, old_3))
    project = "p-1"
    assert ring.is_primary(ring.new_wrapped_data_key(project))
    wrapped_by_old = RootKey.from_text(old_3).new_wrapped_data_key(project)
    assert ring.cipher_for(project, wrapped_by_old) is not None


def test_without_old_keys_the_ring_is_the_primary_alone():
    primary = RootKey.generate_text()
    ring = Config.from_env({"SECRET_SYNC_ROOT_KEY": primary}).load_root_key()
    assert ring.key_ids == (key_id(primary),)


def test_a_bad_old_key_or_missing_file_is_refused_without_key_material(tmp_path: Path):
    primary = RootKey.generate_text()
    bad = primary[:20]
    with pytest.raises(RootKeyError) as raised:
        Config(root_key=primary, old_root_keys=bad).load_root_key()
    assert bad not in str(raised.value) and primary not in str(raised.value)
    with pytest.raises(RootKeyError, match="no root key file"):
        Config(root_key=primary, old_root_key_files=str(tmp_path / "gone.key")).load_root_key()
    assert not (tmp_path / "gone.key").exists()  # an old key is never made up
