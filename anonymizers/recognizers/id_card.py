"""Resident ID numbers (GB 11643-1999): 18 digits with check character, 15-digit legacy."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymizers.identifiers import id_card_valid

from ._base import CnPatternRecognizer
from ._text import NOT_ALNUM_AFTER, NOT_ALNUM_BEFORE, compact

_D = r"\d"


class IdCardRecognizer(CnPatternRecognizer):
    """GB 11643 resident ID: province code, birth date and check character must hold.

    Also residence permits for HK/Macao/Taiwan residents (81/82/83) and the 2023
    foreigner permanent-residence card (9x), which use the same algorithm. Written
    contiguously or in groups (``110105 19491231 002X``); a lowercase ``x`` is accepted.
    A 15-digit legacy ID has no check digit, so it needs a context word.
    """

    ENTITY = "ID_CARD"
    PATTERNS = (
        Pattern("id18", NOT_ALNUM_BEFORE + _D + "{17}[0-9Xx]" + NOT_ALNUM_AFTER, 0.1),
        Pattern(
            "id18_grouped",
            NOT_ALNUM_BEFORE
            + r"\d{6}([ \-])\d{8}\1\d{3}[0-9Xx]"
            + NOT_ALNUM_AFTER,
            0.1,
        ),
        Pattern(
            "id18_grouped_4",
            NOT_ALNUM_BEFORE + r"\d{6}([ \-])\d{4}\1\d{4}\1\d{3}[0-9Xx]" + NOT_ALNUM_AFTER,
            0.1,
        ),
        Pattern("id15", NOT_ALNUM_BEFORE + _D + "{15}" + NOT_ALNUM_AFTER, 0.1),
    )
    CONTEXT = (
        "身份证", "身份号", "公民身份", "证件号", "证件号码", "社会保障号", "社保号",
        "社会保障卡号", "居住证", "永久居留", "身份信息", "证号", "id",
    )
    VALID_SCORE = 0.9
    LEGACY_SCORE = 0.4

    def validate_result(self, pattern_text: str) -> bool | None:
        """GB 11643 check: province, date of birth, check character (15-digit: no check)."""
        return id_card_valid(compact(pattern_text))

    def score_match(self, matched: str, pattern: Pattern) -> float | None:
        """Valid 18-digit IDs score high; legacy 15-digit ones need context."""
        value = compact(matched)
        if not id_card_valid(value):
            return None
        return self.VALID_SCORE if len(value) == 18 else self.LEGACY_SCORE
