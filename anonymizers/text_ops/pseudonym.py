"""``pseudonymize``: the grant's keyed HMAC token, identical to the column operator's.

The value is normalized per entity and tokenized by :func:`anonymizers.pseudonym.pseudonymize`
under the grant's pseudonym key, so ``138-0013-8000`` in a complaint and ``13800138000``
in a phone column get the same token within a grant and unrelated tokens across grants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from anonymizers.errors import BadOperatorParams
from anonymizers.pseudonym import pseudonymize
from anonymizers.text_ops.base import TextOperator, context_of, entity_of


class PseudonymOperator(TextOperator):
    """Keyed token ``{prefix}_{key_id}_{digest}``; needs the grant key in ``ctx``."""

    NAME = "pseudonymize"

    def check(self, entity: str, params: Mapping[str, Any]) -> None:
        """A pseudonym key and its id must be in the context."""
        ctx = context_of(params)
        if ctx.pseudonym_key is None or ctx.pseudonym_key_id is None:
            raise BadOperatorParams("pseudonymize needs the grant's pseudonym key")

    def operate_batch(self, values: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """Tokens for every span, one MAC per distinct normalized value."""
        if not values:
            return []
        ctx = context_of(params)
        self.check("", params)
        assert ctx.pseudonym_key is not None and ctx.pseudonym_key_id is not None
        out = pseudonymize(
            pa.array(values, pa.string()),
            entity_of(params) or None,
            ctx.pseudonym_key,
            ctx.pseudonym_key_id,
        )
        result: list[str] = out.to_pylist()
        return result
