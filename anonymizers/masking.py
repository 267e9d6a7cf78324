"""``mask``: the Chinese masking conventions (DOMAIN.md), one whole column at a time.

Every convention is "validate, then keep the first k and last m characters (or digits)";
validation and the choice of k and m are vectorized Arrow/numpy, the edit itself is
:func:`anonymizers.strbuf.mask_ranks`. Output has the input's length in characters
(IPv4 excepted: ``192.*.*.*``). Fail closed: a value that does not validate as its
declared type, or is too short for anything to be hidden, is masked entirely.

Defaults (first, last kept), ``keep_first``/``keep_last`` override where listed:

==============  =========================================================  ============
PERSON          surname: 1 char, 2 for compound surnames on names of 3+    first, last
ID_CARD         18 digits: 6 + 4; 15-digit legacy: 6 + 3 (hides the date)  first, last
PHONE_NUMBER    mobile 3 + 4 digits, landline area code + 2 digits;        first, last
                separators and +86/0086 stay in place
BANK_CARD       12-19 digits (spaces, hyphens allowed): 6 + 4 digits       first, last
USCC            valid GB 32100 code: 8 (dept, type, region) + 1 (check)    first, last
PASSPORT        1-2 letters + 6-10 digits: 1 + 2                           first, last
LICENSE_PLATE   province, authority letter, 1st serial char + last char    first, last
EMAIL_ADDRESS   first char of the local part + ``@domain``                 first
LOCATION        administrative prefix down to district/county              none
IP_ADDRESS      IPv4 first octet: ``192.*.*.*``                            none
DATE_OF_BIRTH   the year; every later digit masked: ``1977-**-**``         none
other / None    1 + 1                                                      first, last
==============  =========================================================  ============
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymizers.address import district_prefix_lengths
from anonymizers.errors import BadOperatorParams
from anonymizers.idcheck import id_card_births, uscc_valid
from anonymizers.identifiers import PLATE_PROVINCES
from anonymizers.strbuf import (
    Utf8Buffers,
    char_lengths,
    fully_masked,
    mask_ranks,
    to_numpy_bool,
    to_numpy_int,
)

COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 澹台 公冶 宗政 "
    "濮阳 淳于 单于 太叔 申屠 轩辕 端木 独孤 南宫 西门 万俟 闻人 呼延 赫连 钟离 拓跋 百里 "
    "东郭 司空 司寇 仲孙 第五 左丘 谷梁 公羊 微生 羊舌 梁丘 段干".split()
)

_SEP = r"[\s\-]*"
_MOBILE = r"^(?:(?:\+86|0086|86)" + _SEP + r")?1" + _SEP + r"[3-9](?:" + _SEP + r"\d){9}$"
_LANDLINE = r"^\(?0(?:10|2\d|[3-9]\d{2})\)?" + _SEP + r"\d(?:" + _SEP + r"\d){6,7}$"
_BANK_CARD = r"^\d(?:" + _SEP + r"\d){11,18}$"
_PLATE = (
    "^[" + PLATE_PROVINCES + r"][A-HJ-NP-Z][·•\s\-]?"
    r"(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳领])$"
)
_PASSPORT = r"^[A-Z]{1,2}\d{6,10}$"
_EMAIL = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = "^" + _OCTET + r"(?:\." + _OCTET + "){3}$"
_DOB = r"^\d{4}(?:(?:[-/.]\d{1,2}){1,2}|年\d{1,2}月(?:\d{1,2}日)?|\d{4})(?:[\sT].*)?$"


@dataclass(frozen=True)
class MaskSpec:
    """Parameters of ``mask``; ``None`` means the entity's convention."""

    char: str = "*"
    keep_first: int | None = None
    keep_last: int | None = None


def _keeps(spec: MaskSpec, first: int, last: int) -> tuple[int, int]:
    return (
        first if spec.keep_first is None else spec.keep_first,
        last if spec.keep_last is None else spec.keep_last,
    )


def _no_keeps(spec: MaskSpec, entity: str, *, allow_first: bool = False) -> None:
    # A keep that cannot be honoured would silently reveal more than the policy asked.
    if spec.keep_last is not None or (spec.keep_first is not None and not allow_first):
        name = "keep_last" if spec.keep_last is not None else "keep_first"
        raise BadOperatorParams(f"mask of {entity} does not take '{name}'")


def _matches(strings: pa.Array, pattern: str) -> np.ndarray:
    return to_numpy_bool(pc.match_substring_regex(strings, pattern))


def _person(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    length = char_lengths(s)
    compound = to_numpy_bool(
        pc.is_in(pc.utf8_slice_codeunits(s, 0, 2), value_set=pa.array(sorted(COMPOUND_SURNAMES)))
    )
    # 欧阳 alone is more likely surname 欧 + given name 阳 than a bare compound surname.
    default_first = np.where(compound & (length >= 3), 2, 1)
    first = default_first if spec.keep_first is None else spec.keep_first
    last = 0 if spec.keep_last is None else spec.keep_last
    return mask_ranks(s, first, last, None, spec.char)


def _id_card(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    valid, _ = id_card_births(s, today)
    first, last = _keeps(spec, 6, 4)
    # Legacy 15-digit numbers end YYMMDD + 3-digit sequence: keeping 4 would show a birth digit.
    legacy = (Utf8Buffers.of(s).byte_lengths == 15) & (spec.keep_last is None)
    return mask_ranks(s, first, np.where(legacy, 3, last), ~valid, spec.char)


def _phone(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    mobile = _matches(s, _MOBILE)
    landline = _matches(s, _LANDLINE)
    prefix = np.where(_matches(s, r"^0086"), 4, np.where(_matches(s, r"^\+?86"), 2, 0))
    area = np.where(_matches(s, r"^\(?0(?:10|2)"), 3, 4)
    first = np.where(mobile, prefix + (3 if spec.keep_first is None else spec.keep_first), 0)
    first = np.where(landline, area if spec.keep_first is None else spec.keep_first, first)
    last = np.where(mobile, 4, 2) if spec.keep_last is None else spec.keep_last
    return mask_ranks(s, first, last, ~(mobile | landline), spec.char, digits_only=True)


def _bank_card(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    # Luhn is not required: some legacy domestic cards fail it and must still be masked
    # by the convention rather than revealed or mangled.
    first, last = _keeps(spec, 6, 4)
    return mask_ranks(s, first, last, ~_matches(s, _BANK_CARD), spec.char, digits_only=True)


def _uscc(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    first, last = _keeps(spec, 8, 1)
    return mask_ranks(s, first, last, ~uscc_valid(s), spec.char)


def _passport(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    first, last = _keeps(spec, 1, 2)
    return mask_ranks(s, first, last, ~_matches(s, _PASSPORT), spec.char)


def _plate(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    valid = _matches(s, _PLATE)
    first, last = _keeps(spec, 3, 1)
    # 吉C·FZ543 style: the separator is not a serial character.
    separated = _matches(s, r"^..[·•\s\-]")
    first_v = np.where(separated & (first >= 3), first + 1, first)
    return mask_ranks(s, first_v, last, ~valid, spec.char)


def _email(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    _no_keeps(spec, "EMAIL_ADDRESS", allow_first=True)
    valid = _matches(s, _EMAIL)
    domain = to_numpy_int(pc.utf8_length(pc.replace_substring_regex(s, r"^[^@]*", "")))
    first = 1 if spec.keep_first is None else spec.keep_first
    return mask_ranks(s, first, domain, ~valid, spec.char)


def _location(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    _no_keeps(spec, "LOCATION")
    keep = to_numpy_int(district_prefix_lengths(s))
    return mask_ranks(s, keep, 0, keep == 0, spec.char)


def _ip(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    _no_keeps(spec, "IP_ADDRESS")
    c = spec.char.replace("\\", "\\\\")  # RE2 rewrite strings treat backslash as escape
    octet = pc.replace_substring_regex(s, r"^([0-9]+)\..*$", rf"\1.{c}.{c}.{c}")
    return pc.if_else(pc.match_substring_regex(s, _IPV4), octet, fully_masked(s, spec.char))


def _date_of_birth(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    _no_keeps(spec, "DATE_OF_BIRTH")
    return mask_ranks(s, 4, 0, ~_matches(s, _DOB), spec.char, digits_only=True)


def _generic(s: pa.Array, spec: MaskSpec, today: dt.date) -> pa.Array:
    first, last = _keeps(spec, 1, 1)
    return mask_ranks(s, first, last, None, spec.char)


_Masker = Callable[[pa.Array, MaskSpec, dt.date], pa.Array]
_MASKERS: dict[str, _Masker] = {
    "PERSON": _person,
    "ID_CARD": _id_card,
    "PHONE_NUMBER": _phone,
    "BANK_CARD": _bank_card,
    "USCC": _uscc,
    "PASSPORT": _passport,
    "LICENSE_PLATE": _plate,
    "EMAIL_ADDRESS": _email,
    "LOCATION": _location,
    "IP_ADDRESS": _ip,
    "DATE_OF_BIRTH": _date_of_birth,
}


# Identifiers typed in full-width (全角) forms are still identifiers: NFKC folds them to
# ASCII before validation, so they get the convention instead of a full mask.
_FOLD = frozenset(
    {"ID_CARD", "PHONE_NUMBER", "BANK_CARD", "USCC", "PASSPORT", "LICENSE_PLATE",
     "EMAIL_ADDRESS", "IP_ADDRESS", "DATE_OF_BIRTH"}
)  # fmt: skip


def mask(strings: pa.Array, pii: str | None, spec: MaskSpec, today: dt.date) -> pa.Array:
    """Mask a ``string`` array by the convention of entity ``pii`` (generic when unknown)."""
    if pii in _FOLD and pc.all(pc.string_is_ascii(strings)).as_py() is False:
        strings = pc.utf8_normalize(strings, form="NFKC")
    return _MASKERS.get(pii or "", _generic)(strings, spec, today)
