"""Signatures: Ed25519 for receipts and audit checkpoints, ES256 for OPA bundles.

ES256 signatures are returned raw (``r || s``, 32 bytes each), the form JWS (RFC 7515
§A.3) and therefore OPA's bundle verifier expect; pyca produces DER, converted here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from keys.errors import BadSignature, KeyRingError
from keys.material import AsymmetricKey, public_pem

_ES256_HALF = 32


@dataclass(frozen=True, slots=True)
class Signature:
    """A signature and the id of the key that made it (both go into what is published)."""

    key_id: str
    sig: bytes


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(key: AsymmetricKey, data: bytes) -> Signature:
    """Sign ``data`` with ``key`` (Ed25519 raw 64 bytes, ES256 raw ``r || s``)."""
    key.check_usable("sign")
    private = key.private
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return Signature(key.info.id, private.sign(data))
    r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
    return Signature(key.info.id,
                     r.to_bytes(_ES256_HALF, "big") + s.to_bytes(_ES256_HALF, "big"))


def verify(key: AsymmetricKey, data: bytes, sig: bytes) -> None:
    """Raise :class:`BadSignature` unless ``sig`` is ``key``'s signature of ``data``."""
    public = key.public
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, data)
            return
        if len(sig) != 2 * _ES256_HALF:
            raise InvalidSignature
        der = encode_dss_signature(int.from_bytes(sig[:_ES256_HALF], "big"),
                                   int.from_bytes(sig[_ES256_HALF:], "big"))
        public.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BadSignature(f"signature does not verify under key {key.info.id}") from None


def jwk(key: AsymmetricKey) -> dict[str, str]:
    """The public half as a JWK (RFC 7517/8037) plus ``purpose``, ``status`` and PEM."""
    public = key.public
    out = {"kid": key.info.id, "use": "sig", "purpose": key.info.purpose.value,
           "status": key.info.status.value, "public_key_pem": public_pem(public)}
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {**out, "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64url(raw)}
    if not isinstance(public.curve, ec.SECP256R1):
        raise KeyRingError(f"key {key.info.id}: ES256 needs P-256")
    numbers = public.public_numbers()
    return {**out, "kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": b64url(numbers.x.to_bytes(_ES256_HALF, "big")),
            "y": b64url(numbers.y.to_bytes(_ES256_HALF, "big"))}
