"""``mask``: the Chinese masking conventions (DOMAIN.md), the same rules as the columns.

Each span is masked by :func:`anonymizers.masking.mask` as if it were a cell of a column of
its entity type, so ``段正淳`` becomes ``段**`` in prose and in a name column alike; a span
that does not validate as its type is masked entirely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa

from anonymizers.columns import check_params
from anonymizers.masking import MaskSpec, mask
from anonymizers.text_ops.base import TextOperator, context_of, entity_of, own_params


def _spec(params: Mapping[str, Any]) -> MaskSpec:
    own = own_params(params)
    return MaskSpec(
        char=own.get("char", "*"), keep_first=own.get("keep_first"), keep_last=own.get("keep_last")
    )


class MaskOperator(TextOperator):
    """Mask by the entity's convention; params ``char``, ``keep_first``, ``keep_last``."""

    NAME = "mask"
    PARAMS: ClassVar[Mapping[str, type]] = {"char": str, "keep_first": int, "keep_last": int}

    def check(self, entity: str, params: Mapping[str, Any]) -> None:
        """Same parameter rules as the column ``mask``; keeps an entity cannot honour
        (e.g. ``keep_last`` on an e-mail) are refused now, not at the first span."""
        check_params("mask", own_params(params))
        mask(pa.array([], pa.string()), entity or None, _spec(params), context_of(params).today)

    def operate_batch(self, values: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """One vectorized masking call for every span of the entity."""
        if not values:
            return []
        entity = entity_of(params) or None
        out = mask(pa.array(values, pa.string()), entity, _spec(params), context_of(params).today)
        result: list[str] = out.to_pylist()
        return result
