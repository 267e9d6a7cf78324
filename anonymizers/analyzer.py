"""The detector: a Presidio ``AnalyzerEngine`` for Chinese, built once, offline.

The engine gets an explicit registry holding only our recognizers (Presidio's
predefined ones use ``\\b`` and its e-mail recognizer calls ``tldextract``, which
downloads the public-suffix list), a ``NoOpNlpEngine`` (no spaCy model is loaded; the
Chinese tagger runs inside the PERSON/LOCATION recognizers) and a context enhancer
that reads Chinese clauses. After Presidio has scored and thresholded the results,
:func:`resolve_overlaps` keeps one entity per stretch of text: where checksums
overlap (a valid ID also passes Luhn about one time in ten) the more specific type
wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine

from anonymizers.errors import AnonymizerError
from anonymizers.ner import NerBackend, load_backend
from anonymizers.recognizers import ENTITIES, ClauseContextEnhancer, build_recognizers
from anonymizers.recognizers._base import LANGUAGE

# Most specific first: checksummed identifiers, then formats, then tagger entities.
PRIORITY = {
    name: rank
    for rank, name in enumerate(
        (
            "ID_CARD", "USCC", "BANK_CARD", "PASSPORT", "PHONE_NUMBER", "EMAIL_ADDRESS",
            "IP_ADDRESS", "LICENSE_PLATE", "LOCATION", "PERSON",
        )
    )
}
NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
DEFAULT_THRESHOLD = 0.5
_BATCH = 256


def resolve_overlaps(results: Iterable[RecognizerResult]) -> list[RecognizerResult]:
    """Keep one result per overlapping stretch: highest priority type, then score, then
    the longer span; deterministic for equal inputs. Sorted by start offset."""
    ranked = sorted(
        results,
        key=lambda r: (PRIORITY.get(r.entity_type, len(PRIORITY)), -r.score,
                       r.start - r.end, r.start, r.entity_type),
    )
    kept: list[RecognizerResult] = []
    for r in ranked:
        if all(r.end <= k.start or k.end <= r.start for k in kept):
            kept.append(r)
    kept.sort(key=lambda r: (r.start, r.end))
    return kept


class Detector:
    """Finds the contract entities in Chinese text. Thread-safe; build once."""

    def __init__(
        self, engine: AnalyzerEngine, backend: NerBackend | None, score_threshold: float
    ) -> None:
        self.engine = engine
        self.backend = backend
        self.score_threshold = score_threshold
        self.entities: tuple[str, ...] = tuple(
            e for e in ENTITIES if backend is not None or e not in NER_ENTITIES
        )
        self._artifacts: NlpArtifacts = engine.nlp_engine.process_text("", LANGUAGE)

    def _select(self, entities: Sequence[str] | None) -> list[str]:
        if entities is None:
            return list(self.entities)
        unknown = sorted(set(entities) - set(self.entities))
        if unknown:
            raise AnonymizerError(
                f"entity types not available in this detector: {', '.join(unknown)}"
            )
        return list(dict.fromkeys(entities))

    def analyze(
        self,
        text: str,
        entities: Sequence[str] | None = None,
        context: Sequence[str] | None = None,
    ) -> list[RecognizerResult]:
        """Entities in ``text`` (offsets into ``text``, end exclusive), overlaps resolved.

        ``entities`` restricts the types; ``context`` adds words that count as found
        near every match (e.g. a column header such as ``身份证号``).
        """
        selected = self._select(entities)
        if not text or not selected:
            return []
        results = self.engine.analyze(
            text=text,
            language=LANGUAGE,
            entities=selected,
            score_threshold=self.score_threshold,
            context=list(context) if context else None,
            nlp_artifacts=self._artifacts,
        )
        return resolve_overlaps(results)

    def analyze_batch(
        self, texts: Iterable[str], entities: Sequence[str] | None = None
    ) -> list[list[RecognizerResult]]:
        """:meth:`analyze` for many texts; the tagger runs on them in batches."""
        selected = self._select(entities)
        out: list[list[RecognizerResult]] = []
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) == _BATCH:
                out += self._chunk(chunk, selected)
                chunk = []
        if chunk:
            out += self._chunk(chunk, selected)
        return out

    def _chunk(self, texts: list[str], selected: list[str]) -> list[list[RecognizerResult]]:
        if self.backend is not None and NER_ENTITIES.intersection(selected):
            self.backend.tag([t for t in texts if t])
        return [self.analyze(t, selected) for t in texts]


def build_analyzer(
    backend: str | None = "lac", *, score_threshold: float = DEFAULT_THRESHOLD
) -> Detector:
    """Build the detector once at start-up.

    ``backend`` names the PERSON/LOCATION tagger (``lac`` default, ``jieba``), or
    ``None``/``"none"`` for identifiers only. Raises
    :class:`~anonymizers.errors.DetectorUnavailable` when the tagger cannot load;
    nothing is downloaded.
    """
    tagger = None if backend in (None, "none") else load_backend(backend)
    registry = RecognizerRegistry(
        recognizers=build_recognizers(tagger), supported_languages=[LANGUAGE]
    )
    engine = AnalyzerEngine(
        registry=registry,
        nlp_engine=NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}]),
        supported_languages=[LANGUAGE],
        context_aware_enhancer=ClauseContextEnhancer(),
        default_score_threshold=score_threshold,
    )
    return Detector(engine, tagger, score_threshold)
