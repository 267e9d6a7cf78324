"""The master key: from the environment or an owner-only file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from keys import MasterKey, MasterKeyError, create_master_key_file, load_master_key


def test_created_key_file_is_owner_only_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "data" / "master.key"
    key = create_master_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(None, path).secret() == key.secret()
    with pytest.raises(FileExistsError):  # never overwrites an existing key
        create_master_key_file(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o610])
def test_a_key_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    create_master_key_file(path)
    os.chmod(path, mode)
    with pytest.raises(MasterKeyError, match=f"group or others \\(mode {mode:o}\\)"):
        load_master_key(None, path)


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    create_master_key_file(path)
    os.chmod(path, 0o644)  # not even looked at
    env = MasterKey.generate()
    loaded = load_master_key(base64.b64encode(env.secret()).decode(), path)
    assert loaded.secret() == env.secret()


def test_a_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="GATEWAY_MASTER_KEY.*pgw init"):
        load_master_key(None, tmp_path / "master.key")


@pytest.mark.parametrize("text", ["not base64!!", base64.b64encode(b"short").decode(),
                                  base64.b64encode(b"x" * 33).decode(), ""])
def test_a_malformed_key_is_refused_without_echoing_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "master.key"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(MasterKeyError) as caught:
        load_master_key(None, path)
    assert text == "" or text not in str(caught.value)
    assert caught.value.__cause__ is None


def test_the_master_key_is_redacted(tmp_path: Path) -> None:
    key = MasterKey.generate()
    assert repr(key) == "MasterKey(<redacted>)"
    with pytest.raises(MasterKeyError):
        MasterKey(b"\0" * 16)
