"""Vectorized check-digit validation of whole columns (GB 11643 ID cards, GB 32100 USCCs).

The per-value reference implementations live in :mod:`anonymizers.identifiers`; these
compute the same answer for a whole Arrow array at once on an (n, 18) uint8 view of the
data buffer, so masking a million ID numbers needs no Python loop.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

# Private on purpose there, shared here so the two validators cannot drift apart.
from anonymizers.identifiers import _PROVINCES, USCC_CHARSET
from anonymizers.strbuf import BoolVec, IntVec, Utf8Buffers

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int32)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_PROVINCE_OK = np.zeros(100, dtype=bool)
_PROVINCE_OK[[int(p) for p in _PROVINCES]] = True

_USCC_WEIGHTS = np.array(
    [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64
)
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)] = np.arange(len(USCC_CHARSET))

_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_EARLIEST = 18800101  # same floor as identifiers._valid_date


def valid_dates(year: IntVec, month: IntVec, day: IntVec) -> BoolVec:
    """Element-wise: is (year, month, day) a real calendar date (years 1..9999)?"""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    dim = _DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok: BoolVec = (year >= 1) & (year <= 9999) & month_ok & (day >= 1) & (day <= dim)
    return ok


def id_card_births(strings: pa.Array, today: dt.date) -> tuple[BoolVec, IntVec]:
    """Validate ID numbers (18-digit with check char, ``x`` accepted; 15-digit legacy).

    Returns ``(valid, birth)`` per row; ``birth`` is ``YYYYMMDD`` as an int (0 if invalid).
    Same rules as :func:`anonymizers.identifiers.id_card_valid`, with ``today`` as the
    upper bound of the birth date so results are reproducible.
    """
    n = len(strings)
    buf = Utf8Buffers.of(strings)
    valid = np.zeros(n, dtype=bool)
    birth = np.zeros(n, dtype=np.int64)
    limit = today.year * 10000 + today.month * 100 + today.day

    rows, m = buf.fixed_width(18)
    if len(rows):
        d = m.astype(np.int32) - 48
        digits = ((d[:, :17] >= 0) & (d[:, :17] <= 9)).all(axis=1)
        last = np.where(m[:, 17] == ord("x"), ord("X"), m[:, 17])
        # Non-digit rows fail ``digits``; their sum is garbage but % 11 keeps it indexable.
        check = _ID_CHECK[(d[:, :17] @ _ID_WEIGHTS) % 11]
        ymd = _birth(d, 6, 4)
        ok = digits & (check == last) & _province(d) & _birth_ok(ymd, limit)
        valid[rows], birth[rows] = ok, np.where(ok, ymd, 0)

    rows, m = buf.fixed_width(15)
    if len(rows):
        d = m.astype(np.int32) - 48
        digits = ((d >= 0) & (d <= 9)).all(axis=1)
        ymd = 19000000 + _birth(d, 6, 2)  # legacy numbers carry YYMMDD of a 19YY birth
        ok = digits & _province(d) & _birth_ok(ymd, limit)
        valid[rows], birth[rows] = ok, np.where(ok, ymd, 0)
    return valid, birth


def _province(d: IntVec) -> BoolVec:
    ok: BoolVec = _PROVINCE_OK[np.clip(d[:, 0] * 10 + d[:, 1], 0, 99)]
    return ok


def _birth(d: IntVec, start: int, year_digits: int) -> IntVec:
    width = year_digits + 4
    place = 10 ** np.arange(width - 1, -1, -1, dtype=np.int32)
    ymd: IntVec = (d[:, start : start + width] @ place).astype(np.int64)
    return ymd


def _birth_ok(ymd: IntVec, limit: int) -> BoolVec:
    ok = valid_dates(ymd // 10000, ymd // 100 % 100, ymd % 100)
    return ok & (ymd >= _EARLIEST) & (ymd <= limit)


def uscc_valid(strings: pa.Array) -> BoolVec:
    """GB 32100: 18 characters of the USCC charset (upper case) with a correct check char."""
    buf = Utf8Buffers.of(strings)
    valid = np.zeros(len(strings), dtype=bool)
    rows, m = buf.fixed_width(18)
    if len(rows):
        v = _USCC_VALUE[m]
        charset_ok = (v >= 0).all(axis=1)
        check = (31 - (np.clip(v[:, :17], 0, 30) @ _USCC_WEIGHTS) % 31) % 31
        valid[rows] = charset_ok & (check == v[:, 17])
    return valid
