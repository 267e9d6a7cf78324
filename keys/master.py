"""The master key: from the environment or an owner-only file, never logged or pickled.

The master key only ever encrypts the key ring's material at rest (through a key-wrapping
key derived from it with HKDF); it signs, encrypts or derives nothing a client sees.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path
from typing import NoReturn

from keys.errors import KeyRingError, MasterKeyError

MASTER_KEY_BYTES = 32

# Kept for the gateway, which catches ``KeyError_`` around loading the master key and the
# ring: every error of this package is a ``KeyRingError``.
KeyError_ = KeyRingError


class MasterKey:
    """32 secret bytes. ``repr`` is redacted and instances refuse pickling."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or len(secret) != MASTER_KEY_BYTES:
            raise MasterKeyError(f"master key must be {MASTER_KEY_BYTES} bytes")
        self._secret = secret

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh random master key (tests, ``pgw init``)."""
        return cls(secrets.token_bytes(MASTER_KEY_BYTES))

    def secret(self) -> bytes:
        """The raw bytes; only ``keys`` should call this."""
        return self._secret

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("MasterKey cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("MasterKey cannot be pickled")


def decode_master_key(text: str) -> MasterKey:
    """Parse the base64 form used in ``GATEWAY_MASTER_KEY`` and in the key file."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        # ``from None``: the decoder's message could quote part of the secret.
        raise MasterKeyError("master key is not valid base64") from None
    return MasterKey(raw)


def load_master_key(env_value: str | None, path: Path) -> MasterKey:
    """Environment value first; else the file, which must be readable by its owner only."""
    if env_value:
        return decode_master_key(env_value)
    try:
        # Check the mode on the descriptor we read from, not on the path: no window in
        # which the file can be swapped between the check and the read.
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise MasterKeyError(
            f"no master key: set GATEWAY_MASTER_KEY or create {path} (pgw init)") from None
    except OSError as exc:
        raise MasterKeyError(f"cannot read master key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r", encoding="ascii") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise MasterKeyError(f"master key file {path} is not a regular file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MasterKeyError(
                f"refusing master key file {path}: it is accessible to group or others "
                f"(mode {stat.S_IMODE(mode):o}); chmod 600 it")
        try:
            text = fh.read()
        except UnicodeDecodeError:
            raise MasterKeyError("master key is not valid base64") from None
        except OSError as exc:
            raise MasterKeyError(f"cannot read master key file {path}: {exc.strerror}") from None
    return decode_master_key(text)


def create_master_key_file(path: Path) -> MasterKey:
    """Write a fresh random master key to ``path`` with mode 0600 (fails if it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = MasterKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(base64.b64encode(key.secret()).decode() + "\n")
    return key
