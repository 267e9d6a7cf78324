"""The master key: from the environment or an owner-only file, never logged or pickled."""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

MASTER_KEY_BYTES = 32


class KeyError_(Exception):
    """A key could not be loaded or used safely."""


class MasterKey:
    """32 secret bytes. ``repr`` is redacted and instances refuse pickling."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes):
        if len(secret) != MASTER_KEY_BYTES:
            raise KeyError_(f"master key must be {MASTER_KEY_BYTES} bytes")
        self._secret = secret

    def secret(self) -> bytes:
        return self._secret

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"

    def __reduce__(self) -> object:
        raise TypeError("MasterKey cannot be pickled")


def decode_master_key(text: str) -> MasterKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyError_("master key is not valid base64") from exc
    return MasterKey(raw)


def load_master_key(env_value: str | None, path: Path) -> MasterKey:
    """Environment value first; else the file, which must be readable by its owner only."""
    if env_value:
        return decode_master_key(env_value)
    if not path.exists():
        raise KeyError_(f"no master key: set GATEWAY_MASTER_KEY or create {path} (pgw init)")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyError_(
            f"refusing master key file {path}: it is readable by group or others "
            f"(mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    return decode_master_key(path.read_text())


def create_master_key_file(path: Path) -> MasterKey:
    """Write a fresh random master key to ``path`` with mode 0600 (fails if it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(MASTER_KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(secret).decode() + "\n")
    return MasterKey(secret)
