"""The key package's one exception tree.

Every failure is a :class:`KeyRingError`. The failures a verifier must treat as "this was
not made by us" also subclass pyca's own exceptions, so code written against
``cryptography`` (``except InvalidSignature`` / ``except InvalidTag``) keeps working::

    KeyRingError
    ├── MasterKeyError          master key missing, malformed, unsafe file, or wrong
    ├── UnknownKey              no key with that id (or not of that purpose)
    ├── KeyRetired              the key was retired and cannot do this any more
    ├── KeyConflict             a concurrent writer got there first / illegal transition
    ├── BadSignature            (also cryptography.exceptions.InvalidSignature)
    └── BadCiphertext           (also cryptography.exceptions.InvalidTag)
        └── BadToken            a reversible token that does not open
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature, InvalidTag


class KeyRingError(Exception):
    """A key could not be loaded or used safely."""


class MasterKeyError(KeyRingError):
    """The master key is missing, malformed, stored unsafely, or does not open the ring."""


class UnknownKey(KeyRingError):
    """No key with this id exists in the ring (for the purpose asked)."""


class KeyRetired(KeyRingError):
    """The key is retired: it no longer signs, encrypts or derives."""


class KeyConflict(KeyRingError):
    """A store write lost a race or would break a ring invariant (one primary per purpose)."""


class BadSignature(KeyRingError, InvalidSignature):
    """The signature does not verify (wrong data, wrong key, unknown or foreign key id)."""


class BadCiphertext(KeyRingError, InvalidTag):
    """The ciphertext does not open (tampered, wrong key, wrong associated data)."""


class BadToken(BadCiphertext):
    """A reversible token does not open (malformed, tampered, wrong context or key)."""
