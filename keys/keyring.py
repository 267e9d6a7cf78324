"""The gateway's entry point to its keys: ``KeyRing`` and the values it hands out.

The ring itself lives in :mod:`keys.ring`; this module keeps the import path the gateway
has always used (``from keys.keyring import KeyRing``).
"""

from __future__ import annotations

from keys.derive import DerivedKey, KeyedHash
from keys.records import KeyInfo, KeyStatus, Purpose
from keys.ring import KeyRing
from keys.signing import Signature

__all__ = ["DerivedKey", "KeyInfo", "KeyRing", "KeyStatus", "KeyedHash", "Purpose", "Signature"]
