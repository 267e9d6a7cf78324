"""``placeholder``: replace the span by a typed label such as ``<身份证号>``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anonymizers.text_ops.base import TextOperator, entity_of

PLACEHOLDERS: dict[str, str] = {
    "PERSON": "<姓名>",
    "LOCATION": "<地址>",
    "ID_CARD": "<身份证号>",
    "PHONE_NUMBER": "<手机号>",
    "USCC": "<统一社会信用代码>",
    "BANK_CARD": "<银行卡号>",
    "EMAIL_ADDRESS": "<邮箱>",
    "LICENSE_PLATE": "<车牌号>",
    "PASSPORT": "<护照号>",
    "IP_ADDRESS": "<IP地址>",
}
GENERIC_PLACEHOLDER = "<个人信息>"


def placeholder(entity: str | None) -> str:
    """The label of an entity type (``<个人信息>`` for types without one)."""
    return PLACEHOLDERS.get(entity or "", GENERIC_PLACEHOLDER)


class PlaceholderOperator(TextOperator):
    """Typed placeholder; keeps the reader oriented without any of the value."""

    NAME = "placeholder"

    def operate_batch(self, values: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """The entity's label for every span."""
        return [placeholder(entity_of(params))] * len(values)
