"""What the ring knows about a key: purpose, version, status, algorithm, id.

Key ids (contract: they appear in receipts, tokens, pseudonyms and bundle signatures)::

    <abbrev>-v<version>-<6 hex>        e.g.  psn-v2-3fa91c   sig-v1-0b7e2d

- ``abbrev`` names the purpose (``sig``, ``bsig``, ``psn``, ``tok``, ``wrap``, ``cur``,
  ``mac``) so a human reading a token knows which kind of key made it;
- ``version`` counts rotations of that purpose in this ring (1, 2, …);
- the random 24-bit suffix keeps two deployments' keys apart: a leaked file or a receipt
  carrying ``psn-v1-3fa91c`` names one ring, not "version 1 of any gateway".

Only ``[a-z0-9-]``: the id is embedded verbatim in pseudonym tokens (``_``-separated),
reversible tokens (``.``-separated) and JWS headers.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from keys.errors import KeyRingError


class Purpose(StrEnum):
    """What a key is for; each purpose has its own versions and one primary."""

    SIGNING = "signing"                # Ed25519: receipts, audit checkpoints
    BUNDLE_SIGNING = "bundle-signing"  # ES256: OPA bundles (OPA has no EdDSA)
    PSEUDONYM = "pseudonym"            # HMAC root; per-grant keys via HKDF
    TOKEN = "token"                    # AES-SIV: deterministic reversible tokens
    WRAPPING = "wrapping"              # AES-256-GCM: envelope encryption of blobs
    CURSOR = "cursor"                  # HMAC root: pagination cursors
    MAC = "mac"                        # HMAC root: keyed hashes of filter values in the log


class KeyStatus(StrEnum):
    """``primary``: makes new output. ``active``: older version, still verifies/decrypts.
    ``retired``: makes nothing new; see :mod:`keys.ring` for what it still does."""

    PRIMARY = "primary"
    ACTIVE = "active"
    RETIRED = "retired"


class Alg(StrEnum):
    """The one algorithm each purpose uses (stored per key so a later change is visible)."""

    ED25519 = "Ed25519"
    ES256 = "ES256"
    HMAC_SHA256 = "HMAC-SHA256"
    AES_SIV_512 = "AES-SIV-512"
    AES_256_GCM = "AES-256-GCM"


ALG_FOR: dict[Purpose, Alg] = {
    Purpose.SIGNING: Alg.ED25519,
    Purpose.BUNDLE_SIGNING: Alg.ES256,
    Purpose.PSEUDONYM: Alg.HMAC_SHA256,
    Purpose.TOKEN: Alg.AES_SIV_512,
    Purpose.WRAPPING: Alg.AES_256_GCM,
    Purpose.CURSOR: Alg.HMAC_SHA256,
    Purpose.MAC: Alg.HMAC_SHA256,
}

ABBREV: dict[Purpose, str] = {
    Purpose.SIGNING: "sig",
    Purpose.BUNDLE_SIGNING: "bsig",
    Purpose.PSEUDONYM: "psn",
    Purpose.TOKEN: "tok",
    Purpose.WRAPPING: "wrap",
    Purpose.CURSOR: "cur",
    Purpose.MAC: "mac",
}

KEY_ID = re.compile(r"(?P<abbrev>[a-z]+)-v(?P<version>[1-9][0-9]{0,8})-(?P<suffix>[0-9a-f]{6})")


def parse_purpose(value: str) -> Purpose:
    """``Purpose`` from its name (CLI input), with an error that lists the valid ones."""
    try:
        return Purpose(value)
    except ValueError:
        raise KeyRingError(f"unknown key purpose {value!r}; one of: "
                           + ", ".join(p.value for p in Purpose)) from None


def new_key_id(purpose: Purpose, version: int, suffix: str | None = None) -> str:
    """A fresh key id for ``version`` of ``purpose`` (random suffix unless given)."""
    key_id = f"{ABBREV[purpose]}-v{version}-{suffix or secrets.token_hex(3)}"
    if not KEY_ID.fullmatch(key_id):
        raise KeyRingError(f"bad key id {key_id!r}")
    return key_id


def utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC (SQLite hands back naive datetimes for timezone-aware columns)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about one key; never any secret."""

    id: str
    purpose: Purpose
    version: int
    status: KeyStatus
    alg: Alg
    created_at: dt.datetime
    retired_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One stored key: its facts plus its material sealed under the master key.

    ``purpose`` and ``alg`` stay plain strings here so that a row written by a newer
    gateway (a purpose this code does not know) can be loaded and skipped, not crash.
    """

    id: str
    purpose: str
    version: int
    status: KeyStatus
    alg: str
    created_at: dt.datetime
    wrapped: bytes = field(repr=False)
    public_key: str | None = field(default=None, repr=False)
    retired_at: dt.datetime | None = None

    def info(self) -> KeyInfo:
        """The record's public facts (raises if its purpose or algorithm is unknown)."""
        try:
            purpose, alg = Purpose(self.purpose), Alg(self.alg)
        except ValueError:
            raise KeyRingError(f"key {self.id}: unknown purpose {self.purpose!r} "
                               f"or algorithm {self.alg!r}") from None
        if ALG_FOR[purpose] is not alg:
            raise KeyRingError(f"key {self.id}: {purpose} keys use {ALG_FOR[purpose]}, "
                               f"not {alg}")
        return KeyInfo(self.id, purpose, self.version, self.status, alg,
                       self.created_at, self.retired_at)
