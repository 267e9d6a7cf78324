"""HMAC-signed requests: operator authentication for production (docs/signed-requests.md).

A principal holds at most two active signing keys, so a new secret can be deployed before
the old one is revoked (rotation without downtime). Secrets are kept wrapped by the key ring
(AES-GCM, bound to the key id and principal) and are shown once, when created.

Each request carries ``X-PGW-Key-Id``, ``X-PGW-Timestamp``, ``X-PGW-Nonce`` and
``X-PGW-Signature = base64(HMAC-SHA256(secret, canonical))`` where ``canonical`` is::

    METHOD \\n PATH \\n CANONICAL_QUERY \\n hex(SHA-256(body)) \\n TIMESTAMP \\n NONCE
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import sqlalchemy as sa

from gateway import state
from gateway.auth import Principal
from gateway.clock import now as _now
from gateway.errors import Conflict, NotFound, Unauthenticated, Unavailable
from gateway.nonces import NonceStore
from keys import KeyRing, KeyRingError

HEADER_KEY_ID = "X-PGW-Key-Id"
HEADER_TIMESTAMP = "X-PGW-Timestamp"
HEADER_NONCE = "X-PGW-Nonce"
HEADER_SIGNATURE = "X-PGW-Signature"
DEFAULT_SKEW_S = 300
MAX_ACTIVE_KEYS = 2

NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEY_ID_RE = re.compile(r"hk_[0-9a-f]{16}")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_UNRESERVED = "-_.~"  # RFC 3986: everything else is percent-encoded

Query = str | Mapping[str, str] | Sequence[tuple[str, str]]

signing_keys = sa.Table(
    "signing_keys",
    state.metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("principal_id", sa.String(64), sa.ForeignKey("principals.id"), nullable=False,
              index=True),
    sa.Column("secret", sa.LargeBinary, nullable=False),  # KeyRing.wrap blob
    sa.Column("status", sa.String(16), nullable=False),  # active | revoked
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


# -- the canonical request ---------------------------------------------------------------


def canonical_query(query: Query) -> str:
    """Decoded name/value pairs, each percent-encoded (RFC 3986 unreserved kept), sorted,
    joined ``name=value`` with ``&``. A raw query string is decoded first (``+`` = space)."""
    if isinstance(query, str):
        try:
            pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise Unauthenticated("malformed query string", code="bad_signature") from None
    elif isinstance(query, Mapping):
        pairs = list(query.items())
    else:
        pairs = list(query)
    encoded = sorted((quote(k, safe=_UNRESERVED), quote(v, safe=_UNRESERVED)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_path(path: str) -> str:
    """The decoded path, percent-encoded again (``/`` and unreserved kept)."""
    return quote(unquote(path or "/"), safe="/" + _UNRESERVED)


def canonical_request(method: str, path: str, query: Query, body: bytes, timestamp: str,
                      nonce: str) -> bytes:
    """The exact bytes that are signed."""
    return "\n".join([method.upper(), canonical_path(path), canonical_query(query),
                      hashlib.sha256(body).hexdigest(), timestamp, nonce]).encode()


def _mac(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def _secret_bytes(secret: bytes | str) -> bytes:
    return secret if isinstance(secret, bytes) else base64.b64decode(secret, validate=True)


def sign_request(key_id: str, secret: bytes | str, method: str, path: str, query: Query,
                 body: bytes, *, now: dt.datetime | None = None,
                 nonce: str | None = None) -> dict[str, str]:
    """The reference client: the four headers for one request. ``secret`` is the base64
    text ``create_signing_key`` returned (or its decoded bytes); a fresh nonce by default."""
    when = now or dt.datetime.now(dt.UTC)
    ts = str(math.floor(when.timestamp()))
    nonce = nonce if nonce is not None else secrets.token_urlsafe(18)
    sig = _mac(_secret_bytes(secret), canonical_request(method, path, query, body, ts, nonce))
    return {HEADER_KEY_ID: key_id, HEADER_TIMESTAMP: ts, HEADER_NONCE: nonce,
            HEADER_SIGNATURE: base64.b64encode(sig).decode("ascii")}


def is_signed(headers: Mapping[str, str]) -> bool:
    """Whether a request claims to be signed (carries ``X-PGW-Signature``)."""
    return any(k.lower() == HEADER_SIGNATURE.lower() for k in headers)


# -- signing keys --------------------------------------------------------------------------


def _aad(key_id: str, principal_id: str) -> bytes:
    # Binding the principal too: a row moved to another principal no longer unwraps.
    return f"pgw-signing-key\x00{key_id}\x00{principal_id}".encode()


def create_signing_key(engine: sa.Engine, ring: KeyRing,
                       principal_id: str) -> tuple[str, str]:
    """Issue a signing key; returns ``(key_id, secret_b64)``. The secret is shown once.
    Refuses a third active key (409 ``signing_key_limit``): revoke the oldest first."""
    p, k = state.principals.c, signing_keys.c
    key_id = "hk_" + secrets.token_hex(8)
    secret = secrets.token_bytes(32)
    with engine.begin() as conn:
        # Lock the principal (PostgreSQL) so two concurrent creates cannot both pass.
        row = conn.execute(sa.select(p.id, p.status).where(p.id == principal_id)
                           .with_for_update()).first()
        if row is None:
            raise NotFound(f"no principal {principal_id!r}", code="unknown_principal")
        conn.execute(sa.insert(signing_keys).values(
            id=key_id, principal_id=principal_id, secret=ring.wrap(secret, _aad(key_id,
                                                                                principal_id)),
            status="active", created_at=_now()))
        # Counted after the insert: on SQLite the insert took the write lock, so this
        # count sees every committed key (the raise rolls the insert back).
        active = conn.execute(sa.select(k.id).where(k.principal_id == principal_id,
                                                    k.status == "active", k.id != key_id)
                              .order_by(k.created_at, k.id)).scalars().all()
        if len(active) >= MAX_ACTIVE_KEYS:
            raise Conflict(f"principal {principal_id!r} already has {len(active)} active "
                           f"signing keys ({', '.join(active)}); revoke the oldest "
                           f"({active[0]}) first", code="signing_key_limit")
    return key_id, base64.b64encode(secret).decode("ascii")


def revoke_signing_key(engine: sa.Engine, key_id: str) -> None:
    """Revoke a signing key; requests signed with it are refused from now on."""
    k = signing_keys.c
    with engine.begin() as conn:
        if conn.execute(sa.select(k.id).where(k.id == key_id)).first() is None:
            raise NotFound(f"no signing key {key_id!r}", code="unknown_key")
        conn.execute(sa.update(signing_keys).where(k.id == key_id, k.status == "active")
                     .values(status="revoked", revoked_at=_now()))


def list_signing_keys(engine: sa.Engine, principal_id: str) -> list[dict[str, Any]]:
    """A principal's signing keys, oldest first; never the secrets."""
    k = signing_keys.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(k.id, k.status, k.created_at, k.revoked_at)
                            .where(k.principal_id == principal_id)
                            .order_by(k.created_at, k.id)).all()
    return [dict(r._mapping) for r in rows]


# -- verification --------------------------------------------------------------------------


def _bad(message: str = "request signature does not verify") -> Unauthenticated:
    return Unauthenticated(message, code="bad_signature")


def verify_signed_request(engine: sa.Engine, ring: KeyRing, nonces: NonceStore, method: str,
                          path: str, query: Query, body: bytes, headers: Mapping[str, str],
                          now: dt.datetime | None = None, *,
                          skew_s: int = DEFAULT_SKEW_S) -> Principal:
    """Authenticate a signed request or raise 401 (``missing_signature``, ``bad_signature``,
    ``stale_request``, ``key_revoked``, ``replayed_nonce``); 503 if the key ring or nonce
    store cannot answer. Messages never echo the signature, the body or the query."""
    h = {k.lower(): v for k, v in headers.items()}
    names = (HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
    key_id, ts, nonce, sig_b64 = (h.get(n.lower(), "").strip() for n in names)
    if not (key_id and ts and nonce and sig_b64):
        raise Unauthenticated(f"signed requests need the headers {', '.join(names)}",
                              code="missing_signature")
    if not KEY_ID_RE.fullmatch(key_id) or not _TIMESTAMP_RE.fullmatch(ts):
        raise _bad("malformed X-PGW-Key-Id or X-PGW-Timestamp")
    if not NONCE_RE.fullmatch(nonce):
        raise _bad("X-PGW-Nonce must be 16-64 characters of [A-Za-z0-9_-]")
    try:
        sig = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("X-PGW-Signature is not base64") from None
    when = now or _now()
    now_s = when.timestamp()
    if abs(now_s - int(ts)) > skew_s:
        raise Unauthenticated(f"X-PGW-Timestamp is more than {skew_s} s from the gateway's "
                              f"clock; check the client's clock (NTP)", code="stale_request")

    k, p = signing_keys.c, state.principals.c
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(k.principal_id, k.secret, k.status, p.name, p.org_uscc, p.roles,
                      p.status.label("principal_status"))
            .join(state.principals, p.id == k.principal_id).where(k.id == key_id)).first()
    if row is None:
        secret = secrets.token_bytes(32)  # verify anyway: timing says nothing of which ids exist
    else:
        try:
            secret = ring.unwrap(row.secret, _aad(key_id, row.principal_id))
        except KeyRingError as exc:
            if row.status != "active":  # e.g. its wrapping key was retired since: refused
                raise Unauthenticated("signing key revoked", code="key_revoked") from None
            raise Unavailable("signing key cannot be opened by the key ring",
                              code="signing_key_unavailable") from exc
    expected = _mac(secret, canonical_request(method, path, query, body, ts, nonce))
    if not hmac.compare_digest(expected, sig) or row is None:
        raise _bad()
    if row.status != "active" or row.principal_status != "active":
        raise Unauthenticated("signing key revoked or principal disabled", code="key_revoked")
    # Only now, with the signature verified, may the request spend a nonce.
    ttl = max(1, math.ceil(int(ts) + skew_s - now_s) + 1)
    if not nonces.claim(key_id, nonce, now=when, ttl_s=ttl):
        raise Unauthenticated("X-PGW-Nonce was already used; sign each request with a fresh "
                              "nonce", code="replayed_nonce")
    return Principal(id=row.principal_id, name=row.name, org_uscc=row.org_uscc,
                     roles=tuple(sorted(row.roles)), key_id=key_id)
