"""Desensitize one structured column with one operator: the pipeline's entry point.

``apply_operator(column, operator, params, pii=..., ctx=...)`` takes an Arrow array or
chunked array and returns one of the same length (and, for chunked input, the same
chunk layout). Nulls stay null for every operator. Operators and their parameters:

=============  =====================================  =========================================
operator       params                                 result
=============  =====================================  =========================================
keep           none                                   the column, unchanged
suppress       none                                   all null, same type
redact         none                                   ``"[REDACTED]"`` for every value
scrub          none                                   each cell through ``ctx.text`` (the
                                                      free-text anonymizer); without one, as
                                                      ``redact`` (fail closed)
mask           ``char`` (one symbol, default ``*``),  :mod:`anonymizers.masking`
               ``keep_first``, ``keep_last`` (0-64)
pseudonymize   none                                   :mod:`anonymizers.pseudonym` tokens
generalize     ``to``, ``width`` (1..10**9)           :mod:`anonymizers.generalize` labels
=============  =====================================  =========================================

Errors (:mod:`anonymizers.errors`) name operators and parameters, never cell values.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from anonymizers.errors import AnonymizerError, BadOperatorParams, UnknownOperator
from anonymizers.generalize import GeneralizeSpec, generalize, resolve_level
from anonymizers.masking import MaskSpec, mask
from anonymizers.pseudonym import check_key_id, pseudonymize
from anonymizers.strbuf import as_utf8, fill_like

OPERATORS: frozenset[str] = frozenset(
    {"keep", "mask", "pseudonymize", "generalize", "suppress", "redact", "scrub"}
)
REDACTED = "[REDACTED]"
MAX_KEEP = 64
MAX_WIDTH = 10**9

# Parameter name -> expected Python type, per operator.
_PARAMS: dict[str, dict[str, type]] = {
    "keep": {},
    "suppress": {},
    "redact": {},
    "scrub": {},
    "pseudonymize": {},
    "mask": {"char": str, "keep_first": int, "keep_last": int},
    "generalize": {"to": str, "width": int},
}


class TextScrubber(Protocol):
    """Desensitizes free-text cells, e.g. :class:`anonymizers.textscrub.TextAnonymizer`."""

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """One desensitized string per input string, same order."""
        ...


@dataclass(frozen=True)
class ColumnContext:
    """What an operator needs beyond the column: the grant's pseudonym key, the date,
    and (for ``scrub``) the free-text anonymizer; ``text=None`` redacts whole cells."""

    pseudonym_key: bytes = field(repr=False)  # never in logs or tracebacks
    pseudonym_key_id: str
    today: datetime.date
    text: TextScrubber | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.pseudonym_key, bytes) or len(self.pseudonym_key) < 16:
            raise AnonymizerError("pseudonym key must be at least 16 bytes")
        check_key_id(self.pseudonym_key_id)

    def __reduce__(self) -> Any:
        raise TypeError("ColumnContext holds key material and is not picklable")


def apply_operator(
    column: pa.Array | pa.ChunkedArray,
    operator: str,
    params: Mapping[str, Any],
    *,
    pii: str | None,
    ctx: ColumnContext,
) -> pa.Array | pa.ChunkedArray:
    """Apply ``operator`` with ``params`` to ``column`` whose entity type is ``pii``.

    Raises :class:`UnknownOperator` for an operator not in :data:`OPERATORS` and
    :class:`BadOperatorParams` for unknown, mistyped or ill-fitting parameters.
    """
    if not isinstance(operator, str) or operator not in OPERATORS:
        raise UnknownOperator(f"unknown operator {str(operator)[:40]!r}")
    check_params(operator, params)
    if operator == "keep":
        return column
    if operator == "generalize":
        # Check the level against the column type even when there are no rows.
        resolve_level(column.type, pii, _generalize_spec(params))
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 0:
            # No rows, but parameters that do not fit the entity must still be refused.
            _apply(pa.array([], type=column.type), operator, params, pii, ctx)
        if operator == "pseudonymize":
            text = pa.chunked_array([as_utf8(c) for c in column.chunks], type=pa.string())
            return pseudonymize(text, pii, ctx.pseudonym_key, ctx.pseudonym_key_id)
        chunks = [_apply(c, operator, params, pii, ctx) for c in column.chunks]
        out_type = column.type if operator == "suppress" else pa.string()
        return pa.chunked_array(chunks, type=out_type)
    return _apply(column, operator, params, pii, ctx)


# Entity types whose mask/generalize runs a regex with submatches (slow per value): worth
# computing once per distinct value when a column repeats itself (household addresses).
_PER_DISTINCT = frozenset({"LOCATION", "EMAIL_ADDRESS"})


def _apply(
    column: pa.Array, operator: str, params: Mapping[str, Any], pii: str | None, ctx: ColumnContext
) -> pa.Array:
    if pii in _PER_DISTINCT and operator in ("mask", "generalize") and len(column) >= 64:
        encoded = pc.dictionary_encode(column)
        if 2 * len(encoded.dictionary) <= len(column):
            inner = _apply(encoded.dictionary, operator, params, pii, ctx)
            return pc.take(inner, encoded.indices)
    if operator == "suppress":
        return pa.nulls(len(column), type=column.type)
    if operator == "scrub" and ctx.text is not None:
        return _scrub(column, ctx.text)
    if operator in ("redact", "scrub"):
        return fill_like(column, REDACTED)
    if operator == "mask":
        spec = MaskSpec(
            char=params.get("char", "*"),
            keep_first=params.get("keep_first"),
            keep_last=params.get("keep_last"),
        )
        return mask(as_utf8(column), pii, spec, ctx.today)
    if operator == "pseudonymize":
        result = pseudonymize(as_utf8(column), pii, ctx.pseudonym_key, ctx.pseudonym_key_id)
        assert isinstance(result, pa.Array)
        return result
    return generalize(column, pii, _generalize_spec(params), ctx.today)


def _generalize_spec(params: Mapping[str, Any]) -> GeneralizeSpec:
    return GeneralizeSpec(to=params.get("to"), width=params.get("width"))


def _scrub(column: pa.Array, scrubber: TextScrubber) -> pa.Array:
    """Each distinct non-null cell once through the free-text anonymizer; nulls stay."""
    encoded = pc.dictionary_encode(as_utf8(column))
    values = encoded.dictionary.to_pylist()
    out = scrubber(values) if values else []
    if not isinstance(out, list) or len(out) != len(values):
        raise AnonymizerError("the free-text anonymizer changed the number of cells")
    if any(not isinstance(v, str) for v in out):
        raise AnonymizerError("the free-text anonymizer returned a non-string cell")
    return pc.take(pa.array(out, type=pa.string()), encoded.indices)


def check_params(operator: str, params: Mapping[str, Any]) -> None:
    """Raise :class:`BadOperatorParams` for parameters that ``operator`` does not take,
    mistyped ones, or values out of range (shared with the free-text operators)."""
    if not isinstance(params, Mapping):
        raise BadOperatorParams(f"params of '{operator}' must be a mapping")
    allowed = _PARAMS[operator]
    for name, value in params.items():
        if not isinstance(name, str) or name not in allowed:
            raise BadOperatorParams(f"operator '{operator}' does not take {str(name)[:40]!r}")
        expected = allowed[name]
        # bool is an int subclass; True as a keep count is a policy typo, not 1.
        if not isinstance(value, expected) or isinstance(value, bool):
            raise BadOperatorParams(f"'{name}' of '{operator}' must be {expected.__name__}")
    char = params.get("char", "*")
    if operator == "mask" and (
        len(char) != 1 or not char.isprintable() or char.isalnum() or char.isspace()
    ):
        raise BadOperatorParams("'char' of 'mask' must be one printable non-alphanumeric symbol")
    for name in ("keep_first", "keep_last"):
        if name in params and not 0 <= params[name] <= MAX_KEEP:
            raise BadOperatorParams(f"'{name}' of 'mask' must be between 0 and {MAX_KEEP}")
    if "width" in params and not 1 <= params["width"] <= MAX_WIDTH:
        raise BadOperatorParams(f"'width' of 'generalize' must be between 1 and {MAX_WIDTH}")

