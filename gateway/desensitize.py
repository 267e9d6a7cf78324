"""Step 7: apply each released field's operator to a batch, column at a time."""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import AnonymizerError
from gateway.enforce import ReleasedField
from gateway.errors import DesensitizeError
from gateway.stores import Batch


def _to_arrow(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed cell types in one column: desensitize their text form.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class Desensitizer:
    """Applies the decision's operators; any failure refuses the release (fail closed)."""

    def __init__(self, fields: Sequence[ReleasedField], ctx: ColumnContext):
        self.fields = tuple(fields)
        self.ctx = ctx

    def apply(self, batch: Batch) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for f in self.fields:
            values = batch.columns[f.name]
            if f.operator == "keep":
                out[f.name] = values
                continue
            try:
                arr = apply_operator(_to_arrow(values), f.operator, f.params, pii=f.pii,
                                     ctx=self.ctx)
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
