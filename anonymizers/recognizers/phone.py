"""Phone numbers: mainland mobiles (with +86/0086, spaces, hyphens) and landlines."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymizers.identifiers import mobile_valid

from ._base import CnPatternRecognizer
from ._text import NOT_ALNUM_AFTER, NOT_ALNUM_BEFORE, compact

_PREFIX = r"(?:(?:\+|00)86[ \-]?|\(\+?86\)[ \-]?)?"
_MOBILE = NOT_ALNUM_BEFORE + _PREFIX + r"1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}" + NOT_ALNUM_AFTER
# Area codes: 010 and 02x take 8-digit numbers; 0xxx (3-9) take 7 or 8. Local numbers
# do not start with 0 or 1.
_LANDLINE = (
    NOT_ALNUM_BEFORE
    + r"(?:\(0(?:10|2\d)\)[ \-]?|0(?:10|2\d)[ \-]?)[2-8]\d{7}"
    + NOT_ALNUM_AFTER
    + "|"
    + NOT_ALNUM_BEFORE
    + r"(?:\(0[3-9]\d{2}\)[ \-]?|0[3-9]\d{2}[ \-]?)[2-8]\d{6,7}"
    + NOT_ALNUM_AFTER
)


class PhoneRecognizer(CnPatternRecognizer):
    """Mainland mobile numbers (``1[3-9]`` + 9 digits) and landlines with an area code."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS = (
        Pattern("mobile", _MOBILE, 0.7),
        Pattern("landline", _LANDLINE, 0.55),
    )
    CONTEXT = (
        "电话", "手机", "联系", "致电", "来电", "回电", "号码", "座机", "固话", "拨打",
        "微信", "tel", "phone", "mobile",
    )
    NEGATIVE_CONTEXT = (
        "订单", "单号", "工单", "运单", "快递", "物流", "流水号", "批次", "编号", "档案",
        "会话", "序列号", "票号", "发票", "合同号", "案号", "批号", "卡号", "账号",
    )

    def validate_result(self, pattern_text: str) -> bool | None:
        """Mobiles must be ``1[3-9]`` + 9 digits once the country prefix is removed."""
        digits = compact(pattern_text).lstrip("+")
        if digits.startswith("0") and not digits.startswith("0086"):
            return None  # landline: no check beyond the pattern
        for prefix in ("0086", "86"):
            if len(digits) > 11 and digits.startswith(prefix):
                digits = digits[len(prefix) :]
                break
        return mobile_valid(digits)
