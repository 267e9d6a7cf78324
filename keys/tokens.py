"""Reversible tokens (AES-SIV) and envelope encryption of blobs (AES-256-GCM).

Token (contract; the detector issue stores and parses these)::

    tok.<key id>.<base64url(AES-SIV(key, plaintext, ad=[label, key id, context]))>

AES-SIV is deterministic on purpose: the same value under the same key and context gives
the same token, so tokens can be joined and counted without being opened. Different
contexts (say, two datasets or grants) give unrelated tokens. AES-SIV stays safe when
deterministic (RFC 5297, misuse-resistant), which AES-GCM would not.

Wrapped blob (binary)::

    0x01 || len(key id) || key id || nonce(12) || AES-256-GCM(key, data, ad)

with ``ad = "pgw/wrap/v1" || lp(header) || lp(caller's aad)``; the nonce is random.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from keys.errors import BadCiphertext, BadToken
from keys.material import SymmetricKey, lp
from keys.records import KEY_ID

TOKEN_PREFIX = "tok"
_TOKEN_LABEL = b"pgw/token/v1"
_WRAP_FORMAT = b"\x01"
_WRAP_LABEL = b"pgw/wrap/v1"
_NONCE_BYTES = 12


def token_encrypt(key: SymmetricKey, plaintext: bytes, context: bytes) -> str:
    """Deterministic token for ``plaintext`` bound to ``context``."""
    key.check_usable("encrypt")
    kid = key.info.id
    body = AESSIV(key.secret).encrypt(plaintext, [_TOKEN_LABEL, kid.encode(), context])
    return f"{TOKEN_PREFIX}.{kid}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}"


def token_key_id(token: str) -> str:
    """The key id a token names; :class:`BadToken` if it is not a token."""
    return _split_token(token)[0]


def _split_token(token: str) -> tuple[str, bytes]:
    prefix, _, rest = token.partition(".")
    kid, _, body = rest.partition(".")
    if prefix != TOKEN_PREFIX or not KEY_ID.fullmatch(kid) or not body:
        raise BadToken("not a token")
    try:
        return kid, base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise BadToken("token body is not base64url") from None


def token_decrypt(key: SymmetricKey, token: str, context: bytes) -> bytes:
    """Open a token made by ``key`` under ``context``; :class:`BadToken` otherwise."""
    key.check_usable("decrypt")
    kid, body = _split_token(token)
    if kid != key.info.id:
        raise BadToken(f"token was made by key {kid}, not {key.info.id}")
    try:
        return AESSIV(key.secret).decrypt(body, [_TOKEN_LABEL, kid.encode(), context])
    except InvalidTag:
        raise BadToken(f"token does not open under key {kid} with this context "
                       f"(tampered, or another context)") from None


def wrap(key: SymmetricKey, data: bytes, aad: bytes) -> bytes:
    """Encrypt ``data`` under ``key`` with a fresh nonce; ``aad`` must match to unwrap."""
    key.check_usable("encrypt")
    header = _header(key.info.id)
    nonce = os.urandom(_NONCE_BYTES)
    return header + nonce + AESGCM(key.secret).encrypt(nonce, data,
                                                       _WRAP_LABEL + lp(header, aad))


def _header(kid: str) -> bytes:
    raw = kid.encode()
    return _WRAP_FORMAT + len(raw).to_bytes(1, "big") + raw


def wrapped_key_id(blob: bytes) -> str:
    """The key id a wrapped blob names; :class:`BadCiphertext` if malformed."""
    if blob[:1] != _WRAP_FORMAT or len(blob) < 2:
        raise BadCiphertext("not a wrapped blob (unknown format)")
    n = blob[1]
    kid = blob[2:2 + n].decode("ascii", errors="replace")
    if not KEY_ID.fullmatch(kid) or len(blob) < 2 + n + _NONCE_BYTES + 16:
        raise BadCiphertext("not a wrapped blob (bad header)")
    return kid


def unwrap(key: SymmetricKey, blob: bytes, aad: bytes) -> bytes:
    """Decrypt a blob from :func:`wrap`; :class:`BadCiphertext` on any mismatch."""
    key.check_usable("decrypt")
    kid = wrapped_key_id(blob)
    if kid != key.info.id:
        raise BadCiphertext(f"blob was wrapped by key {kid}, not {key.info.id}")
    header = _header(kid)
    nonce = blob[len(header):len(header) + _NONCE_BYTES]
    try:
        return AESGCM(key.secret).decrypt(nonce, blob[len(header) + _NONCE_BYTES:],
                                          _WRAP_LABEL + lp(header, aad))
    except InvalidTag:
        raise BadCiphertext(f"blob does not open under key {kid} with this associated "
                            f"data (tampered, or other associated data)") from None
