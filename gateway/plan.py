"""Query planning: structured filters validated against the catalog and compiled to
SQLAlchemy Core with bound parameters; the policy's row filter ANDed in; keyset cursors.

Operators never send SQL. Every value reaches the database as a bound parameter.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, cast

import sqlalchemy as sa

from gateway.catalog import DatasetSpec, FieldSpec
from gateway.errors import BadCursor, BadFilter, UnknownField
from gateway.policy.decision import FILTER_OPS
from keys.keyring import DerivedKey

MAX_IN_VALUES = 1000
MAX_STRING = 1000

_SA_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "string": sa.String(),
    "integer": sa.BigInteger(),
    "number": sa.Numeric(asdecimal=False),
    "date": sa.Date(),
    "datetime": sa.DateTime(),
}


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: Any


def _coerce(f: FieldSpec, value: Any, where: str) -> Any:
    """Turn a JSON value into the field's Python type, or raise 400 naming the field."""
    t = f.type
    if t == "string":
        if not isinstance(value, str):
            raise BadFilter(f"{where}: field '{f.name}' takes a string value")
        if len(value) > MAX_STRING:
            raise BadFilter(f"{where}: value for '{f.name}' is longer than {MAX_STRING}")
        if "\x00" in value:
            raise BadFilter(f"{where}: value for '{f.name}' contains a NUL character")
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise BadFilter(f"{where}: field '{f.name}' takes an integer value")
        return value
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise BadFilter(f"{where}: field '{f.name}' takes a number value")
        return value
    if not isinstance(value, str):
        raise BadFilter(f"{where}: field '{f.name}' takes an ISO 8601 {t} string")
    try:
        if t == "date":
            return dt.date.fromisoformat(value)
        parsed = dt.datetime.fromisoformat(value)
        return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed
    except ValueError as exc:
        raise BadFilter(f"{where}: field '{f.name}' takes an ISO 8601 {t} string") from exc


def validate_filters(raw: Sequence[Mapping[str, Any]], dataset: DatasetSpec, *,
                     source: str = "filters") -> list[Filter]:
    """Check each ``{field, op, value}`` against the catalog and coerce its value."""
    fields = dataset.field_map()
    out: list[Filter] = []
    for i, item in enumerate(raw):
        where = f"{source}[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"field", "op", "value"}:
            raise BadFilter(f"{where}: a filter is {{field, op, value}}")
        name, op, value = item.get("field"), item.get("op"), item.get("value")
        if not isinstance(name, str) or name not in fields:
            raise UnknownField(f"{where}: unknown field {name!r}" if isinstance(name, str)
                               else f"{where}: 'field' must be a string")
        if op not in FILTER_OPS:
            raise BadFilter(f"{where}: unknown op {op!r}; one of {sorted(FILTER_OPS)}",
                            code="bad_operator")
        f = fields[name]
        if op == "is_null":
            if not isinstance(value, bool):
                raise BadFilter(f"{where}: is_null takes true or false")
            coerced: Any = value
        elif op == "in":
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                raise BadFilter(f"{where}: 'in' takes a list of 1..{MAX_IN_VALUES} values")
            coerced = [_coerce(f, v, where) for v in value]
        elif op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise BadFilter(f"{where}: 'between' takes [low, high]")
            coerced = [_coerce(f, v, where) for v in value]
        elif op == "prefix":
            if f.type != "string":
                raise BadFilter(f"{where}: 'prefix' works on string fields only")
            coerced = _coerce(f, value, where)
            if not coerced:
                raise BadFilter(f"{where}: 'prefix' needs a non-empty string")
        else:
            if value is None:
                raise BadFilter(f"{where}: use op 'is_null' to test for null")
            coerced = _coerce(f, value, where)
        out.append(Filter(name, op, coerced))
    return out


def table_clause(dataset: DatasetSpec) -> sa.TableClause:
    """A lightweight typed table for the dataset, built from the catalog (no reflection)."""
    return sa.table(dataset.table, *[sa.column(f.name, _SA_TYPES[f.type]) for f in dataset.fields])


def compile_filter(table: sa.TableClause, f: Filter) -> sa.ColumnElement[bool]:
    """One validated filter as a SQL expression; its value is always a bound parameter."""
    col: sa.ColumnClause[Any] = table.c[f.field]
    v = f.value
    expr: Any
    if f.op == "eq":
        expr = col == v
    elif f.op == "ne":
        expr = sa.or_(col != v, col.is_(None))
    elif f.op == "lt":
        expr = col < v
    elif f.op == "le":
        expr = col <= v
    elif f.op == "gt":
        expr = col > v
    elif f.op == "ge":
        expr = col >= v
    elif f.op == "in":
        expr = col.in_(v)
    elif f.op == "between":
        expr = col.between(v[0], v[1])
    elif f.op == "prefix":
        expr = col.startswith(v, autoescape=True)
    elif f.op == "is_null":
        expr = col.is_(None) if v else col.is_not(None)
    else:  # validated earlier; never reached with a checked filter
        raise BadFilter(f"unknown op {f.op!r}", code="bad_operator")
    return cast("sa.ColumnElement[bool]", expr)


@dataclass(frozen=True)
class QueryPlan:
    dataset: DatasetSpec
    columns: tuple[str, ...]          # released fields, in order
    filters: tuple[Filter, ...]       # operator filters
    row_filter: tuple[Filter, ...]    # from the decision
    limit: int | None                 # None: stream everything allowed
    after_key: Any = None

    def select(self) -> sa.Select[Any]:
        t = table_clause(self.dataset)
        key = t.c[self.dataset.key]
        cols = [t.c[c] for c in self.columns]
        if self.dataset.key not in self.columns:
            cols.append(key)
        q = sa.select(*cols).select_from(t)
        for f in (*self.filters, *self.row_filter):
            q = q.where(compile_filter(t, f))
        if self.after_key is not None:
            q = q.where(key > self.after_key)
        q = q.order_by(key.asc())
        if self.limit is not None:
            q = q.limit(self.limit)
        return q


# --- opaque, tamper-proof keyset cursors --------------------------------------------


def query_fingerprint(dataset_id: str, columns: Sequence[str], filters: Sequence[Any],
                      purpose: str, grant_id: str | None) -> str:
    doc = json.dumps([dataset_id, list(columns), list(filters), purpose, grant_id],
                     sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def encode_cursor(key: DerivedKey, last_key: Any, fingerprint: str) -> str:
    """``<key id>.<body>.<tag>``: the key id lets a rotated cursor key still verify."""
    if isinstance(last_key, (dt.date, dt.datetime)):
        last_key = last_key.isoformat()
    body = json.dumps({"k": last_key, "q": fingerprint}, separators=(",", ":")).encode()
    tag = hmac.new(key.secret, body, hashlib.sha256).digest()[:16]
    return f"{key.key_id}.{_b64(body)}.{_b64(tag)}"


def decode_cursor(key_for: Callable[[str], DerivedKey], cursor: str, fingerprint: str,
                  key_field: FieldSpec) -> Any:
    """Verify the cursor's MAC and that it belongs to this same query; return the last key."""
    try:
        key_id, body_s, tag_s = cursor.split(".")
        body, tag = _unb64(body_s), _unb64(tag_s)
    except (ValueError, binascii.Error) as exc:
        raise BadCursor("cursor is malformed") from exc
    try:
        key = key_for(key_id)
    except Exception:  # unknown or retired key id: same answer as a forged cursor
        raise BadCursor("cursor was not issued by this gateway or was altered") from None
    expected = hmac.new(key.secret, body, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(expected, tag):
        raise BadCursor("cursor was not issued by this gateway or was altered")
    doc = json.loads(body)
    if doc.get("q") != fingerprint:
        raise BadCursor("cursor belongs to a different query (fields, filters or purpose changed)")
    return _coerce(key_field, doc.get("k"), "cursor")
