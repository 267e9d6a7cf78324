"""Keys derived with HKDF-SHA256 from a purpose's root: per-grant pseudonym keys, the cursor
key, and per-label MAC keys.

``info`` is a fixed label followed by length-prefixed fields, so no two (key id, grant) or
(key id, label) pairs can produce the same ``info``::

    pseudonym:  "pgw/pseudonym/v1" || lp(root key id) || lp(grant id)
    cursor:     "pgw/cursor/v1"    || lp(root key id)
    mac:        "pgw/mac/v1"       || lp(root key id) || lp(label)

Binding the root's key id means a rotated root can never yield the same per-grant key;
binding the grant id makes two grants' pseudonyms of one person unlinkable.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.material import SymmetricKey, lp

DERIVED_KEY_BYTES = 32


@dataclass(frozen=True, eq=False, repr=False)
class DerivedKey:
    """A derived secret and the id of the root it came from (which goes into the output)."""

    key_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"DerivedKey({self.key_id!r}, <redacted>)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DerivedKey):
            return NotImplemented
        return self.key_id == other.key_id and hmac.compare_digest(self.secret, other.secret)

    __hash__ = None  # type: ignore[assignment]  # secrets are not dictionary keys

    def __reduce__(self) -> NoReturn:
        raise TypeError("DerivedKey holds key material and cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("DerivedKey holds key material and cannot be pickled")


@dataclass(frozen=True, slots=True)
class KeyedHash:
    """An HMAC-SHA256 digest and the id of the MAC root whose derived key made it."""

    key_id: str
    digest: bytes


def _hkdf(root: SymmetricKey, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=DERIVED_KEY_BYTES, salt=None,
                info=info).derive(root.secret)


def pseudonym_key(root: SymmetricKey, grant_id: str) -> DerivedKey:
    """The HMAC key for pseudonyms released under ``grant_id``."""
    kid = root.info.id
    return DerivedKey(kid, _hkdf(root, b"pgw/pseudonym/v1" + lp(kid.encode(),
                                                                grant_id.encode())))


def cursor_key(root: SymmetricKey) -> DerivedKey:
    """The HMAC key for pagination cursors (the root itself never leaves the ring)."""
    kid = root.info.id
    return DerivedKey(kid, _hkdf(root, b"pgw/cursor/v1" + lp(kid.encode())))


def keyed_hash(root: SymmetricKey, label: str, message: bytes) -> KeyedHash:
    """HMAC-SHA256 of ``message`` under the key derived for ``label``."""
    kid = root.info.id
    mac = crypto_hmac.HMAC(_hkdf(root, b"pgw/mac/v1" + lp(kid.encode(), label.encode())),
                           hashes.SHA256())
    mac.update(message)
    return KeyedHash(kid, mac.finalize())
