"""Free-text operators: Presidio ``Operator`` subclasses, one per file, batchable.

==============  ===============================================================
``mask``        the Chinese masking conventions (same rules as the columns)
``pseudonymize`` keyed HMAC token of the grant (same token as in a column)
``fpe``         FF1 format-preserving, checksum-valid surrogate
``tokenize``    reversible AES-SIV token (:func:`detokenize` for allowed roles)
``placeholder`` typed label such as ``<身份证号>``
``redact``      remove the span
==============  ===============================================================

Presidio's own ``encrypt`` (AES-CBC, no integrity) and ``hash`` (unkeyed) are never
offered: :func:`presidio_engine` removes them from the engine it builds.
"""

from __future__ import annotations

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.operators import Encrypt, Hash

from anonymizers.errors import UnknownOperator
from anonymizers.text_ops.base import TextOperator
from anonymizers.text_ops.context import OperatorContext, TokenRing
from anonymizers.text_ops.fpe import FpeOperator
from anonymizers.text_ops.mask import MaskOperator
from anonymizers.text_ops.placeholder import PLACEHOLDERS, PlaceholderOperator, placeholder
from anonymizers.text_ops.pseudonym import PseudonymOperator
from anonymizers.text_ops.redact import RedactOperator
from anonymizers.text_ops.spans import resolve_spans
from anonymizers.text_ops.token import TokenOperator, detokenize, token_context

TEXT_OPERATORS: dict[str, type[TextOperator]] = {
    cls.NAME: cls
    for cls in (
        MaskOperator,
        PseudonymOperator,
        FpeOperator,
        TokenOperator,
        PlaceholderOperator,
        RedactOperator,
    )
}


def text_operator(name: str) -> TextOperator:
    """A fresh operator by name; :class:`UnknownOperator` for any other name."""
    cls = TEXT_OPERATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownOperator(f"unknown text operator {str(name)[:40]!r}")
    return cls()


def presidio_engine() -> AnonymizerEngine:
    """A Presidio ``AnonymizerEngine`` with our operators registered by name (``mask`` and
    ``redact`` replace Presidio's own) and without ``encrypt`` and ``hash``."""
    engine = AnonymizerEngine()  # type: ignore[no-untyped-call]
    engine.remove_anonymizer(Encrypt)
    engine.remove_anonymizer(Hash)
    for cls in TEXT_OPERATORS.values():
        engine.add_anonymizer(cls)
    return engine


__all__ = [
    "PLACEHOLDERS",
    "TEXT_OPERATORS",
    "FpeOperator",
    "MaskOperator",
    "OperatorContext",
    "PlaceholderOperator",
    "PseudonymOperator",
    "RedactOperator",
    "TextOperator",
    "TokenOperator",
    "TokenRing",
    "detokenize",
    "placeholder",
    "presidio_engine",
    "resolve_spans",
    "text_operator",
    "token_context",
]
