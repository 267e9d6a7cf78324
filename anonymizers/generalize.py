"""``generalize`` (泛化): replace a value by a coarser class of values.

Levels (``to``):

- ``year`` / ``year_month``: dates and date strings (``YYYY-MM-DD``, ``YYYY/M/D``,
  ``YYYY.MM.DD``, ``YYYYMMDD``, ``YYYY年M月D日``, any time part ignored), or the birth
  date inside an ID number → ``"1977"`` / ``"1977-01"``;
- ``age_band``: age on ``today`` from a birth date or an ID number's embedded birth date,
  in bands of ``width`` years (default 10) → ``"30-39"``;
- ``district``: an address cut after its district/county (no stars) → ``"北京市海淀区"``;
- ``range``: numbers (or numeric text in an untyped column), bands of ``width``
  (required) over the integer part → ``"1000-1999"``.

Output is always text. A value that cannot be read at the requested level (bad date,
invalid ID, address without a district, non-numeric text) becomes ``"*"``: one symbol,
so not even its length is released. Nulls stay null.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymizers.address import district_prefix
from anonymizers.errors import BadOperatorParams
from anonymizers.idcheck import id_card_births, valid_dates
from anonymizers.strbuf import BoolVec, IntVec, as_utf8, to_numpy_bool, to_numpy_int

LEVELS = frozenset({"year", "year_month", "age_band", "district", "range"})
UNKNOWN = "*"
_DATE = (
    r"^\s*(?P<y>\d{4})(?:(?P<m1>\d{2})(?P<d1>\d{2})"
    r"|[-/.年](?P<m2>\d{1,2})[-/.月](?P<d2>\d{1,2})日?)(?:$|[^0-9])"
)
_NUMBER = r"^[-+]?\d+(?:\.\d+)?$"
# Entities whose values carry a date (an ID card embeds the birth date).
_DATED = frozenset({"DATE_OF_BIRTH", "ID_CARD"})


@dataclass(frozen=True)
class GeneralizeSpec:
    """Parameters of ``generalize``; ``to=None`` picks the default for the column."""

    to: str | None = None
    width: int | None = None


def resolve_level(column_type: pa.DataType, pii: str | None, spec: GeneralizeSpec) -> str:
    """The level to apply, or :class:`BadOperatorParams` when it does not fit the column."""
    to = spec.to or _default_level(column_type, pii)
    if to not in LEVELS:
        raise BadOperatorParams(f"generalize 'to' must be one of {sorted(LEVELS)}")
    texty = _is_text(column_type)
    temporal = _is_dated(column_type)
    untyped = pii is None
    fits = {
        "year": (temporal or texty) and (untyped or pii in _DATED),
        "year_month": (temporal or texty) and (untyped or pii in _DATED),
        "age_band": (temporal or texty) and (untyped or pii in _DATED),
        "district": texty and (untyped or pii == "LOCATION"),
        "range": untyped and (_is_number(column_type) or texty),
    }[to]
    if not fits:
        raise BadOperatorParams(
            f"generalize to={to} does not fit a column of type {column_type}, pii {pii}"
        )
    if spec.width is not None and to not in ("age_band", "range"):
        raise BadOperatorParams(f"generalize to={to} does not take 'width'")
    if to == "range" and spec.width is None:
        raise BadOperatorParams("generalize to=range needs 'width'")
    return to


def _default_level(column_type: pa.DataType, pii: str | None) -> str:
    by_entity = {"DATE_OF_BIRTH": "year", "ID_CARD": "age_band", "LOCATION": "district"}
    if pii in by_entity:
        return by_entity[pii]
    if pii is None and _is_number(column_type):
        return "range"
    if pii is None and _is_dated(column_type):
        return "year"
    raise BadOperatorParams(f"generalize needs 'to' for a column of type {column_type}, pii {pii}")


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or t == pa.string_view())


def _is_dated(t: pa.DataType) -> bool:
    # Dates and timestamps only: time-of-day, durations and intervals carry no date.
    return bool(pa.types.is_date(t) or pa.types.is_timestamp(t))


def _is_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def generalize(column: pa.Array, pii: str | None, spec: GeneralizeSpec, today: dt.date) -> pa.Array:
    """Generalize one array (see the module doc for the levels)."""
    to = resolve_level(column.type, pii, spec)
    if to == "district":
        prefix = district_prefix(as_utf8(column))
        return _labels(prefix, to_numpy_int(pc.utf8_length(prefix)) > 0, column)
    if to == "range":
        return _range(column, spec.width or 1)
    year, month, day, ok = _dates(column, pii, today)
    ys = pc.utf8_lpad(pc.cast(pa.array(year), pa.string()), 4, "0")
    if to == "year":
        return _labels(ys, ok, column)
    if to == "year_month":
        ms = pc.utf8_lpad(pc.cast(pa.array(month), pa.string()), 2, "0")
        return _labels(pc.binary_join_element_wise(ys, ms, "-"), ok, column)
    before_birthday = (today.month * 100 + today.day) < (month * 100 + day)
    age = today.year - year - before_birthday.astype(np.int64)
    return _bands(age, spec.width or 10, ok & (age >= 0), column)


def _dates(
    column: pa.Array, pii: str | None, today: dt.date
) -> tuple[IntVec, IntVec, IntVec, BoolVec]:
    if _is_dated(column.type):
        parts = [to_numpy_int(f(column)) for f in (pc.year, pc.month, pc.day)]
        return parts[0], parts[1], parts[2], to_numpy_bool(pc.is_valid(column))
    strings = as_utf8(column)
    if pii == "ID_CARD":
        valid, birth = id_card_births(strings, today)
        return birth // 10000, birth // 100 % 100, birth % 100, valid
    found = pc.extract_regex(strings, _DATE)

    def number(*names: str) -> IntVec:
        text = pc.binary_join_element_wise(*[pc.struct_field(found, n) for n in names], "")
        return to_numpy_int(pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.int64()))

    year, month, day = number("y"), number("m1", "m2"), number("d1", "d2")
    return year, month, day, to_numpy_bool(pc.is_valid(found)) & valid_dates(year, month, day)


def _range(column: pa.Array, width: int) -> pa.Array:
    if _is_number(column.type) and pa.types.is_integer(column.type):
        values = to_numpy_int(pc.cast(column, pa.int64()))
        return _bands(values, width, to_numpy_bool(pc.is_valid(column)), column)
    if _is_number(column.type):
        floats = pc.cast(column, pa.float64())
        ok = to_numpy_bool(pc.is_valid(column))
    else:
        strings = pc.utf8_trim_whitespace(as_utf8(column))
        numeric = pc.match_substring_regex(strings, _NUMBER)
        floats = pc.cast(pc.if_else(numeric, strings, None), pa.float64())
        ok = to_numpy_bool(numeric)
    raw = np.asarray(pc.fill_null(floats, np.nan).to_numpy(zero_copy_only=False), dtype=float)
    finite = np.isfinite(raw)
    # NaN, infinities and values past 2**62 (int64 labels would overflow) are unknown.
    ok &= finite & (np.abs(np.where(finite, raw, 0.0)) < 2.0**62)
    return _bands(np.floor(np.where(ok, raw, 0.0)).astype(np.int64), width, ok, column)


def _bands(values: IntVec, width: int, ok: BoolVec, like: pa.Array) -> pa.Array:
    lo = np.where(ok, values, 0) // width * width
    low = pc.cast(pa.array(lo), pa.string())
    high = pc.cast(pa.array(lo + width - 1), pa.string())
    return _labels(pc.binary_join_element_wise(low, high, "-"), ok, like)


def _labels(labels: pa.Array, ok: BoolVec, like: pa.Array) -> pa.Array:
    out = pc.if_else(pa.array(ok, type=pa.bool_()), labels, pa.scalar(UNKNOWN))
    return pc.if_else(pc.is_null(like), pa.scalar(None, pa.string()), out)
