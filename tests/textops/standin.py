"""A tiny regex detector standing in for the real analyzer in these tests only."""

from __future__ import annotations

import re
from collections.abc import Callable

from presidio_analyzer import RecognizerResult

from anonymizers.identifiers import PLATE_PROVINCES, id_card_valid, luhn_valid, uscc_valid

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
_PATTERNS: list[tuple[str, str, float]] = [
    ("ID_CARD", r"\d{17}[\dXx]|\d{15}", 0.9),
    ("USCC", r"[0-9A-HJ-NPQRTUWXY]{18}", 0.9),
    ("BANK_CARD", r"\d{4}(?: ?\d{4}){2,3}(?: ?\d{1,3})?", 0.8),
    ("PHONE_NUMBER", r"(?:\+86[ \-]?)?1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}", 0.7),
    ("EMAIL_ADDRESS", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", 0.9),
    ("LICENSE_PLATE", f"[{PLATE_PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5,6}}", 0.8),
    ("PASSPORT", r"[EG]\d{8}", 0.6),
    ("IP_ADDRESS", r"(?:\d{1,3}\.){3}\d{1,3}", 0.6),
    ("PERSON", r"段正淳|欧阳娜娜|张三|李四", 0.85),
    ("LOCATION", r"北京市海淀区[^，。,\s]*?号", 0.85),
]


def _card(value: str) -> bool:
    return luhn_valid(value.replace(" ", ""))


_VALIDATE: dict[str, Callable[[str], bool]] = {
    "ID_CARD": id_card_valid,
    "USCC": uscc_valid,
    "BANK_CARD": _card,
}
_COMPILED = [
    (e, re.compile(_NOT_ALNUM_BEFORE + f"(?:{p})" + _NOT_ALNUM_AFTER), s) for e, p, s in _PATTERNS
]


class RegexDetector:
    """``analyze(text, entities)`` like the real detector; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, text: str, entities: list[str] | None = None) -> list[RecognizerResult]:
        self.calls += 1
        out = []
        for entity, pattern, score in _COMPILED:
            if entities is not None and entity not in entities:
                continue
            for m in pattern.finditer(text):
                check = _VALIDATE.get(entity)
                if check is None or check(m.group()):
                    out.append(RecognizerResult(entity, m.start(), m.end(), score))
        return out
