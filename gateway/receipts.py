"""Step 8: signed release receipts, and their offline verification.

A receipt names what was released to whom under which policy, with the SHA-256 of the
exact payload bytes, signed with the key ring's Ed25519 signing key. Canonical form:
the receipt without ``signature``, as compact JSON with sorted keys, UTF-8.
Payload bytes: for a JSON page, ``rows`` serialized compactly (orjson, UTF-8); for
NDJSON, every row line before the trailer; for CSV, header and rows before the trailer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

RECEIPT_VERSION = 1
NDJSON_TRAILER_KEY = "_receipt"
CSV_TRAILER_PREFIX = b"#pgw-receipt "


class ReceiptInvalid(Exception):
    """The receipt's signature, key or payload hash does not verify."""


def new_receipt_id() -> str:
    return "rcpt-" + secrets.token_hex(10)


def canonical(doc: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def sign_receipt(sign: Callable[[bytes], Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``key_id`` and ``signature`` (base64url Ed25519) to ``body`` using ``sign``."""
    probe = sign(b"")  # learn the primary key id before it goes into the signed body
    doc = {**body, "v": RECEIPT_VERSION, "key_id": probe.key_id, "alg": "EdDSA"}
    sig = sign(canonical(doc))
    if sig.key_id != doc["key_id"]:  # rotated in between: sign again with the new key
        doc["key_id"] = sig.key_id
        sig = sign(canonical(doc))
    doc["signature"] = base64.urlsafe_b64encode(sig.sig).rstrip(b"=").decode()
    return doc


def verify_receipt(receipt: Mapping[str, Any], verify: Callable[[str, bytes, bytes], None],
                   payload: bytes | None = None) -> None:
    """Raise ``ReceiptInvalid`` unless the signature verifies (and the payload hash matches)."""
    try:
        sig_s = str(receipt["signature"])
        sig = base64.urlsafe_b64decode(sig_s + "=" * (-len(sig_s) % 4))
        key_id = str(receipt["key_id"])
    except (KeyError, ValueError) as exc:
        raise ReceiptInvalid("receipt has no valid key_id/signature") from exc
    try:
        verify(key_id, canonical(receipt), sig)
    except Exception as exc:  # InvalidSignature, unknown key, …
        raise ReceiptInvalid(f"signature does not verify under key {key_id!r}") from exc
    if payload is not None:
        digest = hashlib.sha256(payload).hexdigest()
        if not hmac.compare_digest(digest, str(receipt.get("payload_sha256", ""))):
            raise ReceiptInvalid("payload SHA-256 does not match the receipt")


def public_key_verifier(keys: list[Mapping[str, Any]]) -> Callable[[str, bytes, bytes], None]:
    """A verifier from published keys (``GET /v1/keys``) — no secrets needed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    by_kid = {str(k["kid"]): k for k in keys}

    def verify(key_id: str, data: bytes, sig: bytes) -> None:
        k = by_kid.get(key_id)
        if k is None:
            raise ReceiptInvalid(f"unknown key id {key_id!r}")
        pub = load_pem_public_key(str(k["public_key_pem"]).encode())
        if not isinstance(pub, Ed25519PublicKey):
            raise ReceiptInvalid(f"key {key_id!r} is not an Ed25519 key")
        pub.verify(sig, data)

    return verify


def split_stream(body: bytes, fmt: str) -> tuple[bytes, dict[str, Any]]:
    """Split a streamed NDJSON/CSV body into (payload bytes, receipt)."""
    trimmed = body.rstrip(b"\n")
    cut = trimmed.rfind(b"\n") + 1
    last = trimmed[cut:]
    if fmt == "csv":
        if not last.startswith(CSV_TRAILER_PREFIX):
            raise ReceiptInvalid("no receipt trailer line (interrupted or failed export)")
        return body[:cut], json.loads(last[len(CSV_TRAILER_PREFIX):])
    doc = json.loads(last) if last else {}
    if not isinstance(doc, dict) or NDJSON_TRAILER_KEY not in doc:
        raise ReceiptInvalid("no receipt trailer record (interrupted or failed export)")
    return body[:cut], dict(doc[NDJSON_TRAILER_KEY])
