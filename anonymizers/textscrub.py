"""Desensitize free text: detect spans, resolve overlaps, apply one operator per entity type.

``TextAnonymizer(detector, operators={...}, ctx=...)`` is the free-text path of the
pipeline (``scrub`` columns through :class:`anonymizers.columns.ColumnContext` ``text``)
and of ``pgw scan --anonymize`` (:func:`default_text_anonymizer`). Operators are the
:mod:`anonymizers.text_ops` ones, chosen per entity type as ``(name, params)``; an entity
without a choice gets ``operators["DEFAULT"]``, else the masking convention.

Spans are applied by our own single pass rather than Presidio's ``AnonymizerEngine``:
the spans of a whole batch are grouped by entity type and each operator runs once per
group (one vectorized mask call instead of one per span), overlaps are resolved so that
no detected character survives (:func:`anonymizers.text_ops.resolve_spans`), and offsets
are Python string indices (code points), right for full-width text. The operators are
still Presidio ``Operator`` classes; :func:`anonymizers.text_ops.presidio_engine` runs them
through Presidio's engine with the same output on disjoint spans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from presidio_analyzer import RecognizerResult

from anonymizers.errors import AnonymizerError, BadOperatorParams
from anonymizers.text_ops import OperatorContext, TextOperator, resolve_spans, text_operator

OperatorChoice = tuple[str, Mapping[str, Any]]
DEFAULT_OPERATOR: OperatorChoice = ("mask", {})
ENTITY_TYPES = (
    "PERSON", "LOCATION", "ID_CARD", "PHONE_NUMBER", "USCC", "BANK_CARD", "EMAIL_ADDRESS",
    "LICENSE_PLATE", "PASSPORT", "IP_ADDRESS",
)  # fmt: skip


class Detector(Protocol):
    """Finds entity spans in text (:func:`anonymizers.analyzer.build_analyzer` builds one)."""

    def analyze(self, text: str, entities: list[str] | None = None) -> list[RecognizerResult]:
        """Spans of ``entities`` (all types when None) with character offsets."""
        ...


class _Bound:
    """An operator with its validated parameters for one entity type."""

    __slots__ = ("operator", "params")

    def __init__(self, operator: TextOperator, params: dict[str, Any]) -> None:
        self.operator, self.params = operator, params

    def run(self, values: Sequence[str]) -> list[str]:
        out = self.operator.operate_batch(values, self.params)
        if len(out) != len(values):
            raise AnonymizerError(f"operator '{self.operator.NAME}' changed the span count")
        return out


class TextAnonymizer:
    """Detect and desensitize free text with one operator per entity type."""

    def __init__(
        self,
        detector: Detector | None = None,
        *,
        operators: Mapping[str, OperatorChoice] | None = None,
        ctx: OperatorContext | None = None,
        entities: Sequence[str] | None = None,
    ) -> None:
        """``detector`` may be None when spans always come from outside (:meth:`apply`).
        ``operators`` maps entity type (or ``"DEFAULT"``) to ``(operator name, params)``;
        ``ctx`` carries date and grant keys; ``entities`` restricts detection.

        Every choice is validated now (unknown operator, bad params, missing key → error),
        the default against every contract entity type, so a release cannot fail halfway.
        """
        self._detector = detector
        self._ctx = ctx if ctx is not None else OperatorContext(dt.date.today())
        self._entities = list(entities) if entities is not None else None
        self._choices = dict(operators or {})
        self._bound: dict[str, _Bound] = {}
        for entity in (set(self._choices) - {"DEFAULT"}) | set(ENTITY_TYPES):
            self._bind(entity)

    def _bind(self, entity: str) -> _Bound:
        bound = self._bound.get(entity)
        if bound is None:
            choice = self._choices.get(entity) or self._choices.get("DEFAULT") or DEFAULT_OPERATOR
            if not (isinstance(choice, tuple) and len(choice) == 2):
                raise BadOperatorParams(f"operator for {entity[:40]} must be (name, params)")
            name, params = choice
            if not isinstance(params, Mapping):
                raise BadOperatorParams(f"params of '{name}' must be a mapping")
            operator = text_operator(name)
            full = {**params, "entity_type": entity, "ctx": self._ctx}
            operator.validate(full)
            bound = self._bound[entity] = _Bound(operator, full)
        return bound

    def anonymize(self, text: str) -> tuple[str, list[RecognizerResult]]:
        """The desensitized text and the spans replaced (offsets into ``text``)."""
        return self.anonymize_many([text])[0]

    def anonymize_many(self, texts: Sequence[str]) -> list[tuple[str, list[RecognizerResult]]]:
        """:meth:`anonymize` for a batch; operators run once per entity type."""
        batch = getattr(self._detector, "analyze_batch", None)
        if callable(batch):  # the analyzer tags a whole batch at once when it can
            found: list[list[RecognizerResult]] = batch(list(texts), self._entities)
            if len(found) != len(texts):
                raise AnonymizerError("the detector did not return one result list per text")
        else:
            found = [self._detect(t) for t in texts]
        spans = [resolve_spans(r, len(t)) for t, r in zip(texts, found)]
        return list(zip(self._replace(texts, spans), spans))

    def apply(
        self, texts: Sequence[str], results: Sequence[Sequence[RecognizerResult]]
    ) -> list[str]:
        """Desensitize ``texts`` at the given detector results (no detection here)."""
        if len(texts) != len(results):
            raise AnonymizerError("need one result list per text")
        return self._replace(texts, [resolve_spans(r, len(t)) for t, r in zip(texts, results)])

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """The column hook (:class:`anonymizers.columns.TextScrubber`): texts only."""
        return [text for text, _ in self.anonymize_many(texts)]

    def _detect(self, text: str) -> list[RecognizerResult]:
        if self._detector is None:
            raise AnonymizerError("this text anonymizer has no detector: use apply()")
        return self._detector.analyze(text, entities=self._entities) if text else []

    def _replace(self, texts: Sequence[str], spans: Sequence[list[RecognizerResult]]) -> list[str]:
        by_entity: dict[str, list[str]] = {}
        for text, found in zip(texts, spans):
            for s in found:
                by_entity.setdefault(s.entity_type, []).append(text[s.start : s.end])
        replaced: dict[str, Iterator[str]] = {
            entity: iter(self._bind(entity).run(values)) for entity, values in by_entity.items()
        }
        out: list[str] = []
        for text, found in zip(texts, spans):
            if not found:
                out.append(text)
                continue
            parts: list[str] = []
            pos = 0
            for s in found:
                parts += (text[pos : s.start], next(replaced[s.entity_type]))
                pos = s.end
            parts.append(text[pos:])
            out.append("".join(parts))
        return out


class SpanMasker:
    """``(text, results) -> masked text`` by the masking conventions; :meth:`many` masks
    a batch at once (faster: one vectorized call per entity type instead of per text)."""

    def __init__(self, today: dt.date | None = None) -> None:
        """``today`` bounds ID birth dates; defaults to the current date."""
        self._anonymizer = TextAnonymizer(ctx=OperatorContext(today or dt.date.today()))

    def __call__(self, text: str, results: Sequence[RecognizerResult]) -> str:
        """Mask one text at its detector results."""
        return self._anonymizer.apply([text], [results])[0]

    def many(
        self, texts: Sequence[str], results: Sequence[Sequence[RecognizerResult]]
    ) -> list[str]:
        """Mask a batch of texts, one result list per text."""
        return self._anonymizer.apply(texts, results)


def default_text_anonymizer(today: dt.date | None = None) -> SpanMasker:
    """The anonymizer of ``pgw scan --anonymize``: a callable ``(text, results) -> str``
    with the masking conventions; no keys needed; build one per run."""
    return SpanMasker(today)
