"""One spelling per cell value, whatever carried it: the released Python values, a JSON or
NDJSON file, CSV text, or XLSX cells that a spreadsheet turned into numbers and dates.

A cell's canonical text depends only on that cell (never on the rest of its column), so
the released rows and a leaked copy of a few of them get the same text:

- ``None`` -> ``""``; ``bool`` -> ``true``/``false``; ``date`` -> ``YYYY-MM-DD``;
- numbers -> the shortest text that reads back as the same float64 (``5.0`` -> ``5``,
  ``0012`` -> ``12``), except integers of 16 digits or more, kept as written (float64
  cannot hold them, and a spreadsheet would have rounded them anyway);
- date-times -> ``YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]`` (``T`` or space, trailing zeros
  of the fraction dropped, ``Z`` -> ``+00:00``); a naive midnight is just the date, as a
  spreadsheet shows a date it parsed;
- text -> ASCII whitespace trimmed; ``True``/``FALSE``… -> lower case.

Columns are converted with Arrow kernels; only mixed-type columns and date-times go
through Python one cell at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from anonymizers.strbuf import Utf8Buffers

WHITESPACE = " \t\r\n\x0b\x0c"
# Integers of up to 15 digits, decimals, exponents: what a spreadsheet reads as a number.
_NUMBER = r"^[+-]?(?:\d{1,15}|(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)$"
_EXACT = 2.0 ** 53
_BOOL = r"^(?i:true|false)$"
_DATE = r"\d{4}-\d\d-\d\d"
_TZ = r"(?:Z|[+-]\d\d:?\d\d)?"
# Rewrites applied in order to a column that holds date-times (anchored: other cells
# are left alone).
_DATETIME_REWRITES = (
    (rf"^({_DATE})T(\d\d:\d\d)", r"\1 \2"),
    (rf"^({_DATE} \d\d:\d\d)({_TZ})$", r"\1:00\2"),
    (rf"^({_DATE} \d\d:\d\d:\d\d)\.0+({_TZ})$", r"\1\2"),
    (rf"^({_DATE} \d\d:\d\d:\d\d\.\d*?)0+({_TZ})$", r"\1\2"),
    (rf"^({_DATE} \d\d:\d\d:\d\d(?:\.\d+)?)Z$", r"\1+00:00"),
    (rf"^({_DATE} \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d)(\d\d)$", r"\1:\2"),
    (rf"^({_DATE}) 00:00:00$", r"\1"),
)
_ARROW_TYPES: dict[type, pa.DataType] = {
    str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(),
    dt.date: pa.date32(), type(None): pa.null(),
}
_EMPTY = pa.scalar("", pa.string())
_ZERO = pa.scalar("0", pa.string())


def canon_column(values: Sequence[Any] | pa.Array) -> pa.Array:
    """The canonical text of every cell of one column, as an Arrow ``string`` array
    without nulls."""
    return canon_columns([values])[0]


def canon_columns(columns: Sequence[Sequence[Any] | pa.Array]) -> list[pa.Array]:
    """:func:`canon_column` of each column; the text columns are canonicalized together
    (one pass instead of one per column: the rules look at one cell at a time)."""
    staged = [_stage(c) for c in columns]
    text = [a for a, done in staged if not done]
    if not text:
        return [a for a, _ in staged]
    joined = canon_strings(pa.concat_arrays(text)) if len(text) > 1 else canon_strings(text[0])
    out, start = [], 0
    for a, done in staged:
        if done:
            out.append(a)
        else:
            out.append(joined.slice(start, len(a)))
            start += len(a)
    return out


def _stage(values: Sequence[Any] | pa.Array) -> tuple[pa.Array, bool]:
    """A column as Arrow text: final (True), or still to go through ``canon_strings``."""
    if isinstance(values, pa.Array):
        arr = values
    else:
        # An explicit type: Arrow's own inference costs ~50 us a call, and a column whose
        # cells do not all fit the first one's type goes through ``_mixed``.
        first = next((v for v in values if v is not None), None)
        kind = _ARROW_TYPES.get(type(first))
        if kind is None:
            return pa.array([_text(v) for v in values], type=pa.string()), False
        try:
            arr = pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return _mixed(values), True
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(pa.string()), False
    if pa.types.is_null(t):
        return pc.fill_null(pa.nulls(len(arr), pa.string()), _EMPTY), True
    if pa.types.is_floating(t):
        return pc.fill_null(_floats(arr.cast(pa.float64())), _EMPTY), True
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_date(t):
        return pc.fill_null(arr.cast(pa.string()), _EMPTY), True
    # Date-times (their offsets), decimals, times, anything else: through their text.
    return pa.array([_text(v) for v in arr.to_pylist()], type=pa.string()), False


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _mixed(values: Sequence[Any]) -> pa.Array:
    """A column of several Python types: each type's cells converted together."""
    groups: dict[type, list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(type(v), []).append(i)
    out = [""] * len(values)
    for kind, idx in groups.items():
        if kind is type(None):
            continue
        sub = [values[i] for i in idx]
        try:
            texts = canon_column(sub).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            texts = canon_strings(pa.array([_text(v) for v in sub], type=pa.string())).to_pylist()
        for i, text in zip(idx, texts):
            out[i] = text
    return pa.array(out, type=pa.string())


def canon_strings(strings: pa.Array) -> pa.Array:
    """Canonical text of a ``string`` column (see the module docstring). Byte-level checks
    on the whole column pick the few cells that need a regular expression at all."""
    s = pc.fill_null(strings, _EMPTY) if strings.null_count else strings
    cells = _Cells.of(s)
    if cells.edge_is(_WS).any():
        s = pc.utf8_trim(s, WHITESPACE)
        cells = _Cells.of(s)
    if cells.first_is(_NUMBER_START).any():
        kinds = cells.byte_kinds()
        # Digits only, up to 15, no leading zero: already canonical (codes, counts).
        plain = ((kinds & _DIGIT) > 0) & (cells.lens <= 15) \
            & ~(cells.first_is(_ZERO_BYTE) & (cells.lens > 1))
        todo = ((kinds & _NUMERIC) > 0) & ~plain
        if todo.any():
            s = _rewrite(s, todo, _numbers)
            cells = _Cells.of(s)
    stamps = cells.datetime_like()
    if stamps.any():
        s = _rewrite(s, stamps, _datetimes)
        cells = _Cells.of(s)
    flags = cells.first_is(_BOOL_START) & ((cells.lens == 4) | (cells.lens == 5))
    if flags.any():
        s = _rewrite(s, flags, _booleans)
    return s


def _rewrite(s: pa.Array, mask: npt.NDArray[np.bool_],
             rule: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``rule`` applied to the cells picked by ``mask`` only."""
    picked = pa.array(mask, type=pa.bool_())
    return pc.replace_with_mask(s, picked, rule(s.filter(picked)))


def _datetimes(s: pa.Array) -> pa.Array:
    for pattern, replacement in _DATETIME_REWRITES:
        s = pc.replace_substring_regex(s, pattern, replacement)
    return s


def _booleans(s: pa.Array) -> pa.Array:
    return pc.if_else(pc.match_substring_regex(s, _BOOL), pc.utf8_lower(s), s)


def _byte_class(chars: bytes) -> npt.NDArray[np.bool_]:
    table = np.zeros(256, dtype=bool)
    table[np.frombuffer(chars, dtype=np.uint8)] = True
    return table


_WS = _byte_class(WHITESPACE.encode())
_NUMBER_START = _byte_class(b"0123456789+-.")
_ZERO_BYTE = _byte_class(b"0")
_BOOL_START = _byte_class(b"tTfF")
_DATE_SEP = _byte_class(b"T ")
# Bit flags per byte, ANDed over a cell: every byte a digit / every byte a number character.
_DIGIT, _NUMERIC = np.uint8(1), np.uint8(2)
_KINDS = (_byte_class(b"0123456789").astype(np.uint8) * _DIGIT
          | _byte_class(b"0123456789+-.eE").astype(np.uint8) * _NUMERIC)


class _Cells:
    """Byte-level views of a string column without nulls (numpy, no per-cell Python).
    Every per-cell answer is False for empty cells."""

    def __init__(self, buf: Utf8Buffers):
        self.data = buf.data
        self.offsets = buf.offsets
        self.lens = buf.byte_lengths
        self.full = self.lens > 0
        self.all_full = bool(self.full.all())
        self.starts = buf.offsets[:-1] if self.all_full else buf.offsets[:-1][self.full]
        self.ends = buf.offsets[1:] if self.all_full else buf.offsets[1:][self.full]

    @classmethod
    def of(cls, s: pa.Array) -> _Cells:
        return cls(Utf8Buffers.of(s))

    def _spread(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self.all_full:
            return values
        out = np.zeros(len(self.lens), dtype=values.dtype)
        out[self.full] = values
        return out

    def first_is(self, table: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        return self._spread(table[self.data[self.starts]])

    def edge_is(self, table: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        return np.asarray(table[self.data[self.starts]] | table[self.data[self.ends - 1]])

    def byte_kinds(self) -> npt.NDArray[np.uint8]:
        """Per cell, the ``_KINDS`` flags that every one of its bytes has."""
        if not len(self.starts):
            return np.zeros(len(self.lens), dtype=np.uint8)
        return self._spread(np.bitwise_and.reduceat(_KINDS[self.data], self.starts))

    def datetime_like(self) -> npt.NDArray[np.bool_]:
        """``YYYY-MM-DD[T ]HH:MM`` candidates, by the bytes at 4 and 10 (regexes confirm)."""
        out = np.zeros(len(self.lens), dtype=bool)
        long = np.flatnonzero(self.lens >= 16)
        at = self.offsets[long]
        out[long] = (self.data[at + 4] == ord("-")) & _DATE_SEP[self.data[at + 10]]
        return out


def _numbers(s: pa.Array) -> pa.Array:
    number = pc.match_substring_regex(s, _NUMBER)
    if not pc.any(number).as_py():
        return s
    as_float = pc.cast(pc.if_else(number, s, _ZERO), pa.float64())
    return pc.if_else(number, _floats(as_float), s)


def _floats(x: pa.Array) -> pa.Array:
    """Integral values below 2**53 as integers (``5.0`` -> ``5``, as in a CSV cell that a
    spreadsheet read back); others in Arrow's shortest round-trip form."""
    integral = pc.fill_null(pc.and_(pc.equal(pc.floor(x), x),
                                    pc.less(pc.abs(x), pa.scalar(_EXACT))), False)
    as_int = pc.cast(pc.if_else(integral, x, pa.scalar(0.0)), pa.int64())
    return pc.if_else(integral, pc.cast(as_int, pa.string()), pc.cast(x, pa.string()))
