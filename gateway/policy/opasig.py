"""Signature side of OPA bundles: OPA's file hashing, the ES256 JWS of
``.signatures.json``, and verifiers over the key ring or published keys.

Checked against OPA's documented format and its source (``v1/bundle/hash.go``,
``v1/bundle/verify.go``), not against an OPA binary (none is available offline).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.policy.bundle import DATA_FILE, PolicyLoadError
from keys.signing import Signature

MANIFEST = ".manifest"
SIGNATURES = ".signatures.json"
HASH_ALGORITHM = "SHA-256"

Verifier = Callable[[str, bytes, bytes], None]
PublicKeys = Sequence[Mapping[str, Any]] | Mapping[str, Any]


class BundleSigner(Protocol):
    """What bundle building needs from a key ring (``keys.KeyRing`` has both)."""

    def sign_es256(self, data: bytes) -> Signature: ...

    def public_keys(self) -> list[dict[str, str]]: ...


# --- OPA's canonical JSON hash (v1/bundle/hash.go) --------------------------------


class _Number(str):
    """A JSON number kept as its literal text, as Go's ``json.Number`` is."""


def _go_string(text: str) -> str:
    """``text`` as Go's ``json.Encoder`` with ``SetEscapeHTML(false)`` writes it:
    like Python's compact form, but U+2028/U+2029 escaped and lone surrogates
    replaced by U+FFFD."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    out = json.dumps(text, ensure_ascii=False)
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _walk(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-8", "surrogatepass"))):
            if i:
                out.append(",")
            out.append(_go_string(key) + ":")
            _walk(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _walk(item, out)
        out.append("]")
    elif isinstance(value, _Number):
        out.append(str.__str__(value))
    elif isinstance(value, str):
        out.append(_go_string(value))
    else:  # True, False, None
        out.append(json.dumps(value))


def opa_json_digest(raw: bytes, name: str = "JSON file") -> str:
    """Hex SHA-256 of a JSON file as OPA hashes structured bundle files: parse
    (numbers kept as written), then hash ``{`` key ``:`` value ``,`` … ``}`` with
    keys sorted and ``[`` … ``]`` for arrays, scalars as Go's JSON encoder
    writes them. Whitespace and key order do not change the digest."""
    try:
        value = json.loads(raw, parse_int=_Number, parse_float=_Number,
                           parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"{name}: invalid JSON: {exc}") from exc
    out: list[str] = []
    _walk(value, out)
    return hashlib.sha256("".join(out).encode("utf-8", "surrogatepass")).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def es256_verifier(keys: PublicKeys) -> Verifier:
    """A verifier over published keys (``GET /v1/keys``: a list or ``{"keys": [...]}``);
    only ES256 (P-256) ``bundle-signing`` keys count."""
    entries = keys.get("keys", []) if isinstance(keys, Mapping) else keys
    by_kid: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in entries:
        if entry.get("alg") != "ES256" or entry.get("purpose", "bundle-signing") != "bundle-signing":
            continue
        try:
            public = load_pem_public_key(str(entry.get("public_key_pem", "")).encode())
        except (ValueError, TypeError) as exc:
            raise PolicyLoadError(f"published key {entry.get('kid')!r}: bad PEM: {exc}") from exc
        if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
            by_kid[str(entry["kid"])] = public

    def verify(kid: str, data: bytes, sig: bytes) -> None:
        public = by_kid.get(kid)
        if public is None:
            raise PolicyLoadError(f"unknown bundle-signing key {kid!r}")
        if len(sig) != 64:
            raise PolicyLoadError("ES256 signature is not 64 bytes (r || s)")
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            public.verify(der, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise PolicyLoadError("bad signature") from None

    return verify


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise PolicyLoadError(f"{SIGNATURES}: JWT is not base64url: {exc}") from exc


def compact_json(doc: Any) -> bytes:
    """Compact JSON, keys sorted (what the gateway writes into bundles)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def file_digest(name: str, raw: bytes) -> str:
    """Hex SHA-256 of one bundle file as OPA computes it: the canonical JSON walk
    for ``.manifest`` and ``data.json``, the raw bytes otherwise."""
    base = name.rsplit("/", 1)[-1]
    if base in (MANIFEST, DATA_FILE):
        return opa_json_digest(raw, name)
    return hashlib.sha256(raw).hexdigest()


def make_jws(ring: BundleSigner, signed_files: list[dict[str, str]]) -> str:
    """The ``.signatures.json`` JWT (JWS compact) over ``signed_files``, signed by
    the ring's primary bundle-signing key."""
    kid = next((k["kid"] for k in ring.public_keys()
                if k.get("purpose") == "bundle-signing" and k.get("status") == "primary"), None)
    if kid is None:
        raise PolicyLoadError("the key ring has no primary bundle-signing key")
    header = _b64url(compact_json({"alg": "ES256", "kid": kid, "typ": "JWT"}))
    payload = _b64url(compact_json({"files": signed_files, "keyid": kid}))
    signature = ring.sign_es256(f"{header}.{payload}".encode())
    if signature.key_id != kid:
        raise PolicyLoadError("bundle-signing key rotated while signing; build again")
    return f"{header}.{payload}.{_b64url(signature.sig)}"


def check_signatures_file(files: Mapping[str, bytes], verify: Verifier,
                          scope: str | None) -> tuple[str, dict[str, dict[str, Any]]]:
    """Verify the one JWT of ``.signatures.json`` in ``files`` (OPA accepts exactly
    one); ``(kid, signed file entries by name)``. Raises :class:`PolicyLoadError`."""
    if SIGNATURES not in files:
        raise PolicyLoadError(f"bundle is not signed: no {SIGNATURES}")
    tokens = json_object(SIGNATURES, files[SIGNATURES]).get("signatures")
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise PolicyLoadError(f"{SIGNATURES}: expected exactly one JWT in 'signatures'")
    parts = tokens[0].split(".")
    if len(parts) != 3:
        raise PolicyLoadError(f"{SIGNATURES}: JWT is not in JWS compact form")
    header = json_object("JWT header", _b64url_decode(parts[0]))
    payload = json_object("JWT payload", _b64url_decode(parts[1]))
    if header.get("alg") != "ES256":
        raise PolicyLoadError(f"JWT alg {header.get('alg')!r} refused: only ES256 is accepted")
    kid = header.get("kid") or payload.get("keyid")
    if not isinstance(kid, str) or not kid:
        raise PolicyLoadError("JWT names no key id (header 'kid' or payload 'keyid')")
    if payload.get("keyid") not in (None, kid):
        raise PolicyLoadError("JWT header 'kid' and payload 'keyid' differ")
    try:
        verify(kid, f"{parts[0]}.{parts[1]}".encode(), _b64url_decode(parts[2]))
    except Exception as exc:  # BadSignature, UnknownKey, ValueError from the key list
        raise PolicyLoadError(f"bundle signature does not verify under key {kid!r}: {exc}",
                              code="policy_bundle_signature") from exc
    if payload.get("scope", "") != (scope or ""):
        raise PolicyLoadError(f"JWT scope {payload.get('scope')!r} does not match {scope!r}")
    signed: dict[str, dict[str, Any]] = {}
    for entry in payload.get("files") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise PolicyLoadError("JWT payload 'files' has an entry without a name")
        signed[entry["name"].lstrip("/")] = entry
    return kid, signed


def json_object(name: str, raw: bytes) -> dict[str, Any]:
    """``raw`` parsed as a JSON object, or :class:`PolicyLoadError` naming ``name``."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyLoadError(f"{name}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PolicyLoadError(f"{name}: not a JSON object")
    return doc
