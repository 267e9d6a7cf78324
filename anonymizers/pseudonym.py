"""``pseudonymize``: keyed, deterministic tokens (GB/T 37964 假名化 with a separate key).

Token format (contract for consumers that trace a token back to its grant)::

    {prefix}_{key_id}_{digest}
    idc_psn-v1.g-123_mfrggzdfmfzgk5lr

- ``prefix``: entity tag without ``_`` (``idc`` ID card, ``tel`` phone, ``per`` person, …,
  ``psn`` for columns without a declared type);
- ``key_id``: the pseudonym key's id, verbatim, so a released file names the grant key;
- ``digest``: the first 10 bytes (80 bits) of HMAC-SHA256(k_e, value), RFC 4648 base32,
  lower case, unpadded (16 characters), where k_e = HMAC-SHA256(key,
  ``"anonymizers.pseudonym.v1/" + ENTITY``) is a per-entity subkey.

The value is normalized per entity first (ID upper case, phone digits without +86, card
digits, e-mail lower case, …) so spellings of one identifier share one token; the
entity subkey keeps an ID number and the same digits in a column of another type apart.
The MAC runs once per distinct value of the column.

Why not plain SHA-256 of the value: ID numbers are enumerable (DOMAIN.md). The HMAC is
pyca ``cryptography``'s; the per-grant key itself is derived and held by ``keys``.
"""

from __future__ import annotations

import base64
import re
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.hmac import HMAC

from anonymizers.errors import AnonymizerError
from anonymizers.strbuf import Utf8Buffers, rechunk_like

TOKEN_PREFIXES: dict[str | None, str] = {
    "PERSON": "per",
    "LOCATION": "loc",
    "ID_CARD": "idc",
    "PHONE_NUMBER": "tel",
    "USCC": "org",
    "BANK_CARD": "card",
    "EMAIL_ADDRESS": "mail",
    "LICENSE_PLATE": "plate",
    "PASSPORT": "pass",
    "IP_ADDRESS": "ip",
    "DATE_OF_BIRTH": "dob",
}
GENERIC_PREFIX = "psn"
DIGEST_BYTES = 10  # 80 bits: 16 base32 characters, no padding
_DOMAIN = b"anonymizers.pseudonym.v1/"
_B32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_TOKEN = re.compile(r"(?P<prefix>[a-z]+)_(?P<key_id>.+)_(?P<digest>[a-z2-7]{16})")


def check_key_id(key_id: str) -> None:
    """Raise :class:`AnonymizerError` unless ``key_id`` can be embedded in a token."""
    if not _KEY_ID.fullmatch(key_id):
        raise AnonymizerError("pseudonym key id must match [A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def token_key_id(token: str) -> str:
    """The key id embedded in a token (to trace a released file back to its grant key)."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise AnonymizerError("not a pseudonym token")
    return match["key_id"]


def _strip(strings: pa.Array, pattern: str) -> pa.Array:
    return pc.replace_substring_regex(strings, pattern, "")


def normalize(strings: pa.Array, pii: str | None) -> pa.Array:
    """Canonical spelling per entity, vectorized; values of unknown type are kept as is."""
    if pii is None or pii not in TOKEN_PREFIXES:
        return strings
    s = pc.utf8_trim_whitespace(strings)
    if pc.all(pc.string_is_ascii(s)).as_py() is False:
        s = pc.utf8_normalize(s, form="NFKC")  # full-width digits and letters
    if pii == "PHONE_NUMBER":
        s = _strip(s, r"[\s\-()]")
        return pc.replace_substring_regex(s, r"^(?:\+86|0086|86)(1[3-9]\d{9})$", r"\1")
    if pii == "BANK_CARD":
        return _strip(s, r"[\s\-]")
    if pii in ("ID_CARD", "USCC", "PASSPORT", "LICENSE_PLATE"):
        return pc.utf8_upper(_strip(s, r"[\s\-·•]"))
    if pii == "EMAIL_ADDRESS":
        return pc.utf8_lower(s)
    return s


def _entity_mac(key: bytes, pii: str | None) -> HMAC:
    # Domain separation: an ID number and the same digits in an untyped column get
    # unrelated tokens. Derived once per column, so the per-value MAC input is the value.
    entity = pii if pii is not None and pii in TOKEN_PREFIXES else ""
    derive = HMAC(key, SHA256())
    derive.update(_DOMAIN + entity.encode())
    return HMAC(derive.finalize(), SHA256())


def _head(pii: str | None, key_id: str) -> str:
    check_key_id(key_id)
    return f"{TOKEN_PREFIXES.get(pii, GENERIC_PREFIX)}_{key_id}_"


def token(value: str, pii: str | None, key: bytes, key_id: str) -> str:
    """The token of one already normalized value (reference for the vectorized path)."""
    mac = _entity_mac(key, pii)
    mac.update(value.encode())
    return _head(pii, key_id) + base64.b32encode(mac.finalize()[:DIGEST_BYTES]).decode().lower()


def tokens(distinct: pa.Array, pii: str | None, key: bytes, key_id: str) -> pa.Array:
    """Tokens for a ``string`` array without nulls (normally the distinct values).

    One MAC per value, continued from a keyed state copied per value (the key schedule
    runs once); base32 and the string buffers are built with numpy.
    """
    head = np.frombuffer(_head(pii, key_id).encode(), dtype=np.uint8)
    keyed = _entity_mac(key, pii)
    buf = Utf8Buffers.of(distinct)
    raw, offsets = buf.data.tobytes(), buf.offsets.tolist()
    macs = bytearray()
    for start, stop in pairwise(offsets):
        mac = keyed.copy()
        mac.update(raw[start:stop])
        macs += mac.finalize()[:DIGEST_BYTES]
    n = len(distinct)
    bits = np.unpackbits(np.frombuffer(macs, dtype=np.uint8).reshape(n, DIGEST_BYTES), axis=1)
    quintets = bits.reshape(n, DIGEST_BYTES * 8 // 5, 5) @ np.array([16, 8, 4, 2, 1], np.uint8)
    rows = np.hstack([np.broadcast_to(head, (n, len(head))), _B32[quintets]])
    width = rows.shape[1]
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [None, pa.py_buffer(np.arange(n + 1, dtype=np.int32) * width), pa.py_buffer(rows)],
    )


def pseudonymize(
    strings: pa.Array | pa.ChunkedArray, pii: str | None, key: bytes, key_id: str
) -> pa.Array | pa.ChunkedArray:
    """Replace each value by its token; the MAC is computed once per distinct value."""
    if isinstance(strings, pa.ChunkedArray):
        # Distinct values are found over the whole column, then cut back into its chunks.
        whole = pseudonymize(strings.combine_chunks(), pii, key, key_id)
        return rechunk_like(whole, strings)
    encoded = pc.dictionary_encode(normalize(strings, pii))
    return pc.take(tokens(encoded.dictionary, pii, key, key_id), encoded.indices)
