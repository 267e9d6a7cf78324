"""Step 7: apply each released field's operator to a batch, column at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import AnonymizerError
from gateway.enforce import ReleasedField
from gateway.errors import DesensitizeError
from gateway.stores import Batch


def _to_arrow(values: Sequence[Any], string: bool) -> pa.Array:
    try:
        # A declared string column converts without type inference (the common case).
        return pa.array(values, type=pa.string()) if string else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed cell types in one column: desensitize their text form.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class Desensitizer:
    """Applies the decision's operators; any failure refuses the release (fail closed)."""

    def __init__(self, fields: Sequence[ReleasedField], ctx: ColumnContext,
                 string_fields: frozenset[str] = frozenset()):
        self.fields = tuple(fields)
        self.ctx = ctx
        self.string_fields = string_fields

    def apply(self, batch: Batch) -> dict[str, Sequence[Any]]:
        out: dict[str, Sequence[Any]] = {}
        for f in self.fields:
            values = batch.columns[f.name]
            if f.operator == "keep":
                out[f.name] = values
                continue
            try:
                arr = apply_operator(_to_arrow(values, f.name in self.string_fields),
                                     f.operator, f.params, pii=f.pii, ctx=self.ctx)
            except AnonymizerError as exc:
                raise DesensitizeError(
                    f"field '{f.name}': operator {f.operator!r} failed: {exc}") from None
            except (pa.ArrowException, ValueError, TypeError) as exc:
                raise DesensitizeError(f"field '{f.name}': operator {f.operator!r} failed "
                                       f"({type(exc).__name__})") from None
            if len(arr) != batch.n_rows:
                raise DesensitizeError(f"field '{f.name}': operator changed the row count")
            out[f.name] = arr.to_pylist()
        return out
