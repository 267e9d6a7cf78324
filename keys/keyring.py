"""Derived keys for the gateway. All key derivation happens here (HKDF-SHA256).

Every derived key carries a key id that names its purpose and version, so tokens,
pseudonyms and cursors say which key made them. Versioned rotation and the
encrypted ring at rest build on this seam.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.master import MasterKey

_VERSION = "v1"


@dataclass(frozen=True, repr=False)
class DerivedKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"DerivedKey({self.key_id!r}, <redacted>)"

    def __reduce__(self) -> object:
        raise TypeError("DerivedKey cannot be pickled")


class KeyRing:
    """Derives purpose- and context-bound keys from the master key."""

    def __init__(self, master: MasterKey):
        self._master = master

    def __repr__(self) -> str:
        return "KeyRing(<redacted>)"

    def __reduce__(self) -> object:
        raise TypeError("KeyRing cannot be pickled")

    def _derive(self, purpose: str, context: str) -> bytes:
        info = f"pgw/{purpose}/{_VERSION}|{context}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            self._master.secret()
        )

    def pseudonym_key(self, grant_id: str) -> DerivedKey:
        """Per-grant HMAC key: two grants never share pseudonyms for the same value."""
        return DerivedKey(f"psn{_VERSION}", self._derive("pseudonym", grant_id))

    def cursor_key(self) -> DerivedKey:
        return DerivedKey(f"cur{_VERSION}", self._derive("cursor", "gateway"))

    def mac(self, purpose: str, message: bytes) -> bytes:
        """HMAC-SHA256 under a purpose-bound key (e.g. hashing PII filter values for logs)."""
        return hmac.new(self._derive("mac", purpose), message, hashlib.sha256).digest()
