"""Key material: generating it, sealing it under the master key, and the in-memory key objects.

At rest every key is ``0x01 || nonce(12) || AES-256-GCM(kek, material, aad)`` where
``kek = HKDF-SHA256(master, info="pgw/keyring/kek/v1")`` and ``aad`` binds the key id,
purpose and algorithm: a sealed blob copied onto another row (to pass an attacker's key
off as the signing key, say) does not open. Nonces are random 96-bit; the number of
sealings per master key is tiny (one per rotation), far from the GCM random-nonce limit.

Public keys are stored beside the sealed material for readers without the master key, but
the ring never trusts that column: it recomputes the public key from the private one and
refuses a row where they differ.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.errors import KeyRetired, KeyRingError, MasterKeyError
from keys.master import MasterKey
from keys.records import Alg, KeyInfo, KeyRecord, KeyStatus, Purpose

_SEAL_FORMAT = b"\x01"
_NONCE_BYTES = 12
_KEK_INFO = b"pgw/keyring/kek/v1"
_RECORD_AAD = b"pgw/keyring/record/v1"

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def lp(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: ``("ab", "c")`` and ``("a", "bc")`` never collide."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class _Secret:
    """Base of objects that hold key material: redacted ``repr``, no pickling or copying."""

    __slots__ = ("info",)
    info: KeyInfo

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.id!r}, <redacted>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds key material and cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds key material and cannot be pickled")

    def check_usable(self, what: str) -> None:
        """Raise :class:`KeyRetired` if this key is retired (it may not ``what`` any more)."""
        if self.info.status is KeyStatus.RETIRED:
            raise KeyRetired(f"key {self.info.id} is retired and cannot {what}")


class SymmetricKey(_Secret):
    """An HMAC root, AES-SIV or AES-GCM key."""

    __slots__ = ("secret",)
    secret: bytes

    def __init__(self, info: KeyInfo, secret: bytes) -> None:
        self.info = info
        self.secret = secret


class AsymmetricKey(_Secret):
    """An Ed25519 or ECDSA P-256 key pair."""

    __slots__ = ("private", "public")
    private: PrivateKey
    public: PublicKey

    def __init__(self, info: KeyInfo, private: PrivateKey) -> None:
        self.info = info
        self.private = private
        self.public = private.public_key()


RingKey = SymmetricKey | AsymmetricKey


def _kek(master: MasterKey) -> AESGCM:
    # A separate key-wrapping key: the master key itself is never used as a cipher key,
    # so it can later wrap other things under other HKDF labels without key reuse.
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=_KEK_INFO).derive(master.secret()))


def _aad(key_id: str, purpose: str, alg: str) -> bytes:
    return _RECORD_AAD + lp(key_id.encode(), purpose.encode(), alg.encode())


def generate_material(alg: Alg) -> bytes:
    """Fresh random material for ``alg`` (private keys as raw bytes / the P-256 scalar)."""
    if alg is Alg.ED25519:
        return ed25519.Ed25519PrivateKey.generate().private_bytes_raw()
    if alg is Alg.ES256:
        key = ec.generate_private_key(ec.SECP256R1())
        return key.private_numbers().private_value.to_bytes(32, "big")
    if alg is Alg.AES_SIV_512:
        return AESSIV.generate_key(512)
    return secrets.token_bytes(32)  # HMAC-SHA256 roots and AES-256-GCM keys


def _private_key(alg: Alg, material: bytes) -> PrivateKey | None:
    if alg is Alg.ED25519:
        return ed25519.Ed25519PrivateKey.from_private_bytes(material)
    if alg is Alg.ES256:
        return ec.derive_private_key(int.from_bytes(material, "big"), ec.SECP256R1())
    return None


def public_pem(public: PublicKey) -> str:
    """SubjectPublicKeyInfo PEM of a public key."""
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def seal_record(master: MasterKey, *, key_id: str, purpose: Purpose, alg: Alg, version: int,
                status: KeyStatus, material: bytes,
                created_at: dt.datetime | None = None) -> KeyRecord:
    """A storable record: ``material`` encrypted under the master key, public key beside."""
    private = _private_key(alg, material)
    nonce = os.urandom(_NONCE_BYTES)
    wrapped = _SEAL_FORMAT + nonce + _kek(master).encrypt(
        nonce, material, _aad(key_id, purpose.value, alg.value))
    return KeyRecord(id=key_id, purpose=purpose.value, version=version, status=status,
                     alg=alg.value, created_at=created_at or dt.datetime.now(dt.UTC),
                     wrapped=wrapped,
                     public_key=public_pem(private.public_key()) if private else None)


def open_record(master: MasterKey, record: KeyRecord) -> RingKey:
    """Decrypt a stored record into a usable key; raises if the master key is wrong, the row
    was altered, or its public key does not belong to its private key."""
    info = record.info()
    blob = record.wrapped
    if blob[:1] != _SEAL_FORMAT or len(blob) < 1 + _NONCE_BYTES + 16:
        raise KeyRingError(f"key {record.id}: unknown sealed-material format")
    nonce, body = blob[1:1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES:]
    try:
        material = _kek(master).decrypt(nonce, body, _aad(record.id, record.purpose, record.alg))
    except InvalidTag:
        raise MasterKeyError(
            f"the master key does not open key {record.id}: wrong GATEWAY_MASTER_KEY / "
            f"master key file, or the key_ring row was altered") from None
    private = _private_key(info.alg, material)
    if private is None:
        return SymmetricKey(info, material)
    key = AsymmetricKey(info, private)
    if record.public_key is not None and record.public_key != public_pem(key.public):
        raise KeyRingError(f"key {record.id}: stored public key does not match the private "
                           f"key (the key_ring row was altered)")
    return key
