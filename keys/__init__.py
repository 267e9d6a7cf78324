"""All cryptography of the gateway: the versioned key ring, signatures, reversible tokens,
envelope encryption, and HKDF-derived pseudonym / cursor / MAC keys (pyca ``cryptography``).

Imports nothing from ``gateway`` or ``anonymizers``.
"""

from keys.derive import DerivedKey, KeyedHash
from keys.errors import (
    BadCiphertext,
    BadSignature,
    BadToken,
    KeyConflict,
    KeyRetired,
    KeyRingError,
    MasterKeyError,
    UnknownKey,
)
from keys.master import MasterKey, create_master_key_file, load_master_key
from keys.records import KeyInfo, KeyStatus, Purpose
from keys.ring import KeyRing
from keys.signing import Signature
from keys.store import InMemoryKeyStore, KeyStore, SqlKeyStore, create_tables

__all__ = [
    "BadCiphertext", "BadSignature", "BadToken", "DerivedKey", "InMemoryKeyStore", "KeyConflict",
    "KeyInfo", "KeyRetired", "KeyRing", "KeyRingError", "KeyStatus", "KeyStore", "KeyedHash",
    "MasterKey", "MasterKeyError", "Purpose", "Signature", "SqlKeyStore", "UnknownKey",
    "create_master_key_file", "create_tables", "load_master_key",
]
