"""The leaf document: what each audit entry hashes, and the columns copied out of it.

A leaf is the canonical JSON (sorted keys, no whitespace, UTF-8) of::

    {"entry": {...}, "kind": "decision", "request_id": "...", "seq": 41,
     "time": "2026-05-01T08:00:00.123456Z", "v": 1}

The sequence number is inside the hashed bytes, so swapping or renumbering rows changes
what verification recomputes even when the ``seq`` column is rewritten to match.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.clock import as_utc as as_utc  # re-exported for the log's modules

LEAF_VERSION = 1
MAX_KIND = 32
MAX_REQUEST_ID = 128
MAX_INDEXED = 200
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, compact, UTF-8. Raises TypeError if not JSON."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)


def format_time(t: dt.datetime) -> str:
    """RFC 3339 UTC with microseconds, the form used inside leaves."""
    return as_utc(t).strftime(_TIME_FORMAT)


def leaf_document(seq: int, time: dt.datetime, kind: str, request_id: str,
                  entry_json: bytes) -> bytes:
    """Assemble the canonical leaf from an already-canonical entry (no re-encoding)."""
    return b"".join((
        b'{"entry":', entry_json,
        b',"kind":', orjson.dumps(kind),
        b',"request_id":', orjson.dumps(request_id),
        b',"seq":', str(seq).encode(),
        b',"time":', orjson.dumps(format_time(time)),
        b',"v":', str(LEAF_VERSION).encode(), b"}",
    ))


@dataclass(frozen=True)
class IndexFields:
    """Search columns derived from an entry at append time."""

    operator_id: str | None
    dataset: str | None
    grant_id: str | None
    allowed: bool | None


def _short_str(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_INDEXED else None


def index_fields(entry: Mapping[str, Any]) -> IndexFields:
    """``principal.operator_id``, ``dataset`` (or ``dataset.id``), ``grant_id``,
    ``decision.allow`` — whatever of them the entry has, else None."""
    principal = entry.get("principal")
    dataset = entry.get("dataset")
    if isinstance(dataset, Mapping):
        dataset = dataset.get("id")
    decision = entry.get("decision")
    allow = decision.get("allow") if isinstance(decision, Mapping) else None
    return IndexFields(
        operator_id=_short_str(principal.get("operator_id"))
        if isinstance(principal, Mapping) else None,
        dataset=_short_str(dataset),
        grant_id=_short_str(entry.get("grant_id")),
        allowed=allow if isinstance(allow, bool) else None,
    )


@dataclass(frozen=True)
class Leaf:
    """A parsed leaf document."""

    seq: int
    time: dt.datetime
    kind: str
    request_id: str
    entry: dict[str, Any]


def parse_leaf(text: str | bytes) -> Leaf:
    """Parse a stored leaf document; raises ValueError when it is not one."""
    try:
        doc = orjson.loads(text)
        leaf = Leaf(seq=doc["seq"], kind=doc["kind"], request_id=doc["request_id"],
                    entry=doc["entry"],
                    time=dt.datetime.strptime(doc["time"], _TIME_FORMAT).replace(
                        tzinfo=dt.UTC))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a leaf document ({type(exc).__name__})") from None
    if (not isinstance(leaf.seq, int) or isinstance(leaf.seq, bool)
            or not isinstance(leaf.kind, str) or not isinstance(leaf.request_id, str)
            or not isinstance(leaf.entry, dict)):
        raise ValueError("not a leaf document (field types)")  # noqa: TRY004 - one error type
    return leaf
