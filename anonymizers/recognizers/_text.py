"""Text helpers shared by the recognizers: width folding and ASCII-aware boundaries.

Chinese text mixes full-width forms (``１３８``, ``＠``, ``（``) with ASCII. Every
full-width ASCII variant (U+FF01–U+FF5E) and the ideographic space fold to exactly one
ASCII character, so :func:`to_halfwidth` preserves length and every offset found in
the folded text is an offset into the original text.

Regex ``\\b`` treats Han characters as word characters, so ``邮箱a@b.cn`` has no boundary
between ``箱`` and ``a``. The recognizers use the ASCII look-arounds below instead.
"""

from __future__ import annotations

import re

_HALFWIDTH = {0xFF01 + i: 0x21 + i for i in range(94)}
_HALFWIDTH[0x3000] = 0x20  # ideographic space

# No ASCII letter or digit directly before / after a match.
NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
# Digits may be separated by one space or hyphen inside a number as people write it.
SEP = r"[ \-]?"

_SEPARATORS = re.compile(r"[\s\-·.()]")
# Where a clause ends: context words beyond these belong to another clause.
CLAUSE_BREAKS = frozenset("。；;！!？?\n,，、")


# A document number ahead (赣府发〔2023〕12号, 宁发[2021]3号): the Han word before it is
# an issuing-body abbreviation, not a place or a name.
_DOC_NUMBER_AHEAD = re.compile(r"[\u4e00-\u9fff]{0,5}[〔【\[［]\d{4}")


def doc_number_ahead(text: str, end: int) -> bool:
    """Whether a document number's bracketed year follows ``end`` within a few words."""
    return _DOC_NUMBER_AHEAD.match(text, end) is not None


_last: tuple[str, str] = ("", "")


def to_halfwidth(text: str) -> str:
    """Fold full-width ASCII variants to ASCII; the result has the same length."""
    global _last
    last = _last  # every recognizer folds the same text in turn: remember the last one
    if last[0] is text:
        return last[1]
    folded = text.translate(_HALFWIDTH)
    _last = (text, folded)
    return folded


def compact(value: str) -> str:
    """The value without width variants, spaces, hyphens, dots or brackets (for checks)."""
    return _SEPARATORS.sub("", to_halfwidth(value))


def clause_before(text: str, start: int, window: int) -> str:
    """Up to ``window`` characters before ``start``, cut at the nearest clause break."""
    lo = max(0, start - window)
    for i in range(start - 1, lo - 1, -1):
        if text[i] in CLAUSE_BREAKS:
            return text[i + 1 : start]
    return text[lo:start]


def clause_after(text: str, end: int, window: int) -> str:
    """Up to ``window`` characters after ``end``, cut at the nearest clause break."""
    hi = min(len(text), end + window)
    for i in range(end, hi):
        if text[i] in CLAUSE_BREAKS:
            return text[end:i]
    return text[end:hi]
