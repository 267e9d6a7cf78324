"""Unified social credit codes (统一社会信用代码, GB 32100-2015)."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymizers.identifiers import org_code_check_char, uscc_valid

from ._base import CnPatternRecognizer
from ._text import NOT_ALNUM_AFTER, NOT_ALNUM_BEFORE

# GB 32100 charset without I O Z S V; position 1 is the registering authority
# (1-9, A, N, Y), position 2 the organisation category, 3-8 the region code.
_C = "[0-9A-HJ-NPQRTUWXY]"


class UsccRecognizer(CnPatternRecognizer):
    """18 characters of the GB 32100 charset with correct check characters (GB 32100 over
    the code, GB 11714 over its organisation-code part)."""

    ENTITY = "USCC"
    PATTERNS = (
        Pattern(
            "uscc",
            NOT_ALNUM_BEFORE + r"[1-9ANY][1-9]\d{6}" + _C + "{10}" + NOT_ALNUM_AFTER,
            0.1,
        ),
    )
    CONTEXT = (
        "统一社会信用代码", "信用代码", "社会信用", "纳税人识别号", "税号", "注册号",
        "企业代码", "机构代码", "uscc",
    )
    VALID_SCORE = 0.85
    ORG_CHECK_FAILED_SCORE = 0.4

    def validate_result(self, pattern_text: str) -> bool | None:
        """GB 32100 check character (mod 31)."""
        return uscc_valid(pattern_text)

    def score_match(self, matched: str, pattern: Pattern) -> float | None:
        """Positions 9-17 are a GB 11714 organisation code with its own check character;
        a code whose inner check fails (1 look-alike in 31 passes the outer one) needs a
        context word."""
        if not uscc_valid(matched):
            return None
        if org_code_check_char(matched[8:16]) != matched[16]:
            return self.ORG_CHECK_FAILED_SCORE
        return self.VALID_SCORE
