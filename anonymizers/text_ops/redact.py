"""``redact``: remove the span from the text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from anonymizers.text_ops.base import TextOperator


class RedactOperator(TextOperator):
    """The span disappears (use ``placeholder`` to leave a trace of what was there)."""

    NAME = "redact"

    def operate_batch(self, values: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """An empty string for every span."""
        return [""] * len(values)
