"""``mask``: the Chinese masking conventions (DOMAIN.md), the same rules as the columns.

Each span is masked by :func:`anonymizers.masking.mask` as if it were a cell of a column of
its entity type, so ``段正淳`` becomes ``段**`` in prose and in a name column alike; a span
that does not validate as its type is masked entirely.

One exception, for speed only: Arrow compiles its address expression on every call
(about 2 ms), which dominates when a single text is masked at a time (``pgw scan
--anonymize``). Small batches of LOCATION spans therefore find the district prefix with
the same expression (:data:`anonymizers.address._PREFIX`) compiled once by ``regex``,
then mask with the same :func:`anonymizers.strbuf.mask_ranks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import regex

from anonymizers.address import _PREFIX
from anonymizers.columns import check_params
from anonymizers.masking import MaskSpec, mask
from anonymizers.strbuf import mask_ranks
from anonymizers.text_ops.base import TextOperator, context_of, entity_of, own_params

_DISTRICT = regex.compile(_PREFIX)
SMALL_BATCH = 64  # below this, a compiled-once expression beats Arrow's per-call compile


def district_keep(value: str) -> int:
    """Characters of ``value`` up to the end of its district (0 when none is found)."""
    m = _DISTRICT.match(value)
    return len(m.group("keep")) if m else 0


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
        if entity == "LOCATION" and len(values) < SMALL_BATCH:
            keep = np.array([district_keep(v) for v in values], dtype=np.int64)
            small = mask_ranks(
                pa.array(values, pa.string()), keep, 0, keep == 0, _spec(params).char
            )
            masked: list[str] = small.to_pylist()
            return masked
        out = mask(pa.array(values, pa.string()), entity, _spec(params), context_of(params).today)
        result: list[str] = out.to_pylist()
        return result
