"""Bank card numbers: 16-19 digits, Luhn, plausible issuer prefix, context."""

from __future__ import annotations

import re

from presidio_analyzer import Pattern

from anonymizers.identifiers import luhn_valid

from ._base import CnPatternRecognizer
from ._text import NOT_ALNUM_AFTER, NOT_ALNUM_BEFORE, compact

# Issuer prefixes of cards used in China: UnionPay 62/60, Visa 4, Mastercard 51-55 and
# 2221-2720, Amex 34/37, JCB 35, Diners 30/36/38, legacy domestic 94/95.
_IIN = re.compile(r"62|60|4|5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720|3[04-8]|9[45]")


class BankCardRecognizer(CnPatternRecognizer):
    """Luhn-valid numbers with a card issuer prefix; Luhn failures only with context.

    Some legacy domestic cards fail Luhn, so a failing number with a card prefix is
    kept at a low score that only a context word (银行卡, 卡号, 账号…) lifts over the
    threshold. Numbers labelled as order, waybill or serial numbers lose score.
    """

    ENTITY = "BANK_CARD"
    PATTERNS = (
        Pattern("card", NOT_ALNUM_BEFORE + r"\d{16,19}" + NOT_ALNUM_AFTER, 0.1),
        Pattern(
            "card_grouped",
            NOT_ALNUM_BEFORE + r"\d{4}([ \-])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?" + NOT_ALNUM_AFTER,
            0.1,
        ),
        Pattern("card_6_13", NOT_ALNUM_BEFORE + r"\d{6}([ \-])\d{10,13}" + NOT_ALNUM_AFTER, 0.1),
    )
    CONTEXT = (
        "银行卡", "银行", "卡号", "账号", "帐号", "账户", "帐户", "借记卡", "信用卡", "储蓄卡",
        "开户", "收款", "转账", "打入", "汇入", "社保卡", "工资卡", "card",
    )
    NEGATIVE_CONTEXT = (
        "订单", "单号", "工单", "运单", "快递", "物流", "流水号", "批次", "编号", "档案",
        "会话", "序列号", "票号", "发票", "合同号", "案号", "批号",
    )
    VALID_SCORE = 0.6
    NO_PREFIX_SCORE = 0.3
    LUHN_FAIL_SCORE = 0.2

    def validate_result(self, pattern_text: str) -> bool | None:
        """Luhn over the digits (16-19 of them)."""
        digits = compact(pattern_text)
        return 16 <= len(digits) <= 19 and luhn_valid(digits)

    def score_match(self, matched: str, pattern: Pattern) -> float | None:
        """Luhn and issuer prefix together score as a card; either alone needs context."""
        digits = compact(matched)
        if not 16 <= len(digits) <= 19:
            return None
        issuer = _IIN.match(digits) is not None
        if luhn_valid(digits):
            return self.VALID_SCORE if issuer else self.NO_PREFIX_SCORE
        return self.LUHN_FAIL_SCORE if issuer else None
