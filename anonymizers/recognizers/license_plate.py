"""Vehicle plates (GA 36): province character, authority letter, 5 or 6 characters."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymizers.identifiers import PLATE_PROVINCES

from ._base import CnPatternRecognizer
from ._text import NOT_ALNUM_AFTER

_L = "[A-HJ-NP-Z0-9]"  # no I or O
_PLATE = (
    f"[{PLATE_PROVINCES}][A-HJ-NP-Z][·•. ]?"
    rf"(?:[DF]{_L}\d{{4}}|\d{{5}}[DF]|{_L}{{5}}|{_L}{{4}}[挂学警港澳])"
    + NOT_ALNUM_AFTER
)


class LicensePlateRecognizer(CnPatternRecognizer):
    """Ordinary (5 characters), new-energy (6: ``D``/``F`` first or last) and special
    (挂 学 警 港 澳) plates; the serial must hold at least two digits so that a word
    like ``新CEO…`` is not taken for a Xinjiang plate."""

    ENTITY = "LICENSE_PLATE"
    PATTERNS = (Pattern("plate", _PLATE, 0.65),)
    CONTEXT = ("车牌", "号牌", "车辆", "驾驶", "汽车", "轿车", "货车", "车主", "机动车", "车")

    def validate_result(self, pattern_text: str) -> bool | None:
        """At least two digits in the serial."""
        return sum(c.isdigit() for c in pattern_text) >= 2
