"""Step 7: apply each released field's operator to a batch, column at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import AnonymizerError
from anonymizers.safety import SafetyNet
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
                 string_fields: frozenset[str] = frozenset(),
                 safety_net: SafetyNet | None = None):
        self.fields = tuple(fields)
        self.ctx = ctx
        self.string_fields = string_fields
        self.safety_net = safety_net
        self.net_hits: dict[str, dict[str, int]] = {}  # field → entity → count, for audit

    def apply(self, batch: Batch) -> dict[str, Sequence[Any]]:
        out: dict[str, Sequence[Any]] = {}
        for f in self.fields:
            values = batch.columns[f.name]
            if f.operator == "keep":
                out[f.name] = self._net(f, values)
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

    def _net(self, f: ReleasedField, values: Sequence[Any]) -> Sequence[Any]:
        """The safety net: a string column the catalog did not declare personal is scanned
        for direct identifiers (sampled; the whole column when a sample hits); hits are
        masked and counted for the audit entry."""
        if self.safety_net is None or f.pii is not None or f.free_text \
                or f.name not in self.string_fields:
            return values
        result = self.safety_net.check_column(f.name, _to_arrow(values, True))
        if result.clean:
            return values
        hits = self.net_hits.setdefault(f.name, {})
        for entity, n in result.hits.items():
            hits[entity] = hits.get(entity, 0) + n
        masked: list[Any] = result.column.to_pylist()
        return masked
