"""The base of every free-text operator: a Presidio ``Operator`` that also works in batches.

Presidio calls ``validate(params)`` then ``operate(text, params)`` once per span, with
``params["entity_type"]`` set by its engine. Our own text anonymizer calls
:meth:`TextOperator.operate_batch` once per entity type with every span of a batch, so
vectorized conventions (Arrow masking, pseudonyms) run once, not once per span; the two
paths give the same output.

``params`` holds ``entity_type``, ``ctx`` (an :class:`OperatorContext`) and the
operator's own parameters (:attr:`TextOperator.PARAMS`); unknown or mistyped ones are
refused with :class:`~anonymizers.errors.BadOperatorParams`.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from presidio_anonymizer.operators import Operator, OperatorType

from anonymizers.errors import BadOperatorParams
from anonymizers.text_ops.context import OperatorContext

RESERVED = frozenset({"entity_type", "ctx"})


class TextOperator(Operator):
    """A named, validated, batchable free-text operator."""

    NAME: ClassVar[str]
    PARAMS: ClassVar[Mapping[str, type]] = {}

    def operator_name(self) -> str:
        """The name the operator is registered under."""
        return self.NAME

    def operator_type(self) -> OperatorType:
        """Always an anonymizer (de-tokenizing is not a Presidio operator here)."""
        return OperatorType.Anonymize

    def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
        """Presidio's per-span entry point: one span through :meth:`operate_batch`."""
        return self.operate_batch([text], params or {})[0]

    def validate(self, params: dict[str, Any] | None = None) -> None:
        """Refuse unknown or mistyped parameters and a context that lacks what is needed."""
        params = params or {}
        for name, value in own_params(params).items():
            expected = self.PARAMS.get(name)
            if expected is None:
                raise BadOperatorParams(f"operator '{self.NAME}' does not take {name[:40]!r}")
            if not isinstance(value, expected) or isinstance(value, bool):
                raise BadOperatorParams(f"'{name}' of '{self.NAME}' must be {expected.__name__}")
        ctx = params.get("ctx")
        if ctx is not None and not isinstance(ctx, OperatorContext):
            raise BadOperatorParams(f"'ctx' of '{self.NAME}' must be an OperatorContext")
        self.check(entity_of(params), params)

    def check(self, entity: str, params: Mapping[str, Any]) -> None:
        """Operator-specific checks (entity supported, keys present); default: none."""

    @abstractmethod
    def operate_batch(self, values: Sequence[str], params: Mapping[str, Any]) -> list[str]:
        """Desensitize every span value of one entity type; same order, same count."""


def own_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The operator's own parameters, without ``entity_type`` and ``ctx``."""
    return {k: v for k, v in params.items() if k not in RESERVED}


def entity_of(params: Mapping[str, Any]) -> str:
    """The span's entity type ("" when the caller gave none)."""
    entity = params.get("entity_type", "")
    if not isinstance(entity, str):
        raise BadOperatorParams("'entity_type' must be a string")
    return entity


def context_of(params: Mapping[str, Any]) -> OperatorContext:
    """The operator context; without one, a keyless context dated today."""
    ctx = params.get("ctx")
    return ctx if isinstance(ctx, OperatorContext) else OperatorContext(dt.date.today())
