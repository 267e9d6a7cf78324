"""Passports and travel permits: no public check digit, so a context word is required."""

from __future__ import annotations

from presidio_analyzer import Pattern

from ._base import CnPatternRecognizer
from ._text import NOT_ALNUM_AFTER, NOT_ALNUM_BEFORE

_PASSPORT = NOT_ALNUM_BEFORE + r"(?:E[A-HJ-NP-Z0-9]\d{7}|[GDSP]\d{8}|[DSP]E\d{7})" + NOT_ALNUM_AFTER
# 港澳通行证 C+8, 往来台湾通行证 L/T+8, 回乡证 H/M+8(+2).
_PERMIT = NOT_ALNUM_BEFORE + r"(?:C[A-HJ-NP-Z0-9]\d{7}|[LTHM]\d{8}(?:\d{2})?)" + NOT_ALNUM_AFTER


class PassportRecognizer(CnPatternRecognizer):
    """``E`` + 8 digits, ``E`` + letter + 7 digits, older ``G`` + 8 digits, service and
    diplomatic passports, and travel permits. The base score is below the analyzer's
    threshold: only a context word (护照, 通行证, 证件…) releases a match."""

    ENTITY = "PASSPORT"
    PATTERNS = (Pattern("passport", _PASSPORT, 0.3), Pattern("permit", _PERMIT, 0.3))
    CONTEXT = (
        "护照", "通行证", "回乡证", "台胞证", "旅行证", "证件", "出境", "入境", "签证",
        "passport",
    )
