"""Context words for Chinese: a character window in the same clause, not lemmas.

Presidio's ``LemmaContextAwareEnhancer`` needs tokens and lemmas from an NLP engine;
with ``NoOpNlpEngine`` there are none, and Chinese has no spaces to split on anyway.
This enhancer looks for each recognizer's ``context`` words in the clause just before
the match (and a few characters after it). A hit adds ``boost``; a recognizer's
``negative_context`` (e.g. ``订单号`` before a bank-card look-alike) found with no
positive word subtracts ``penalty``. Words passed explicitly to ``analyze(context=…)``
(for instance a column header) count as found when they contain or are contained in a
context word.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts

from ._text import clause_after, clause_before, to_halfwidth

_ID_KEY = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
_ENHANCED_KEY = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY


class ClauseContextEnhancer(ContextAwareEnhancer):
    """Raise or lower scores by context words found in the surrounding clause."""

    def __init__(
        self, window_before: int = 12, window_after: int = 6, boost: float = 0.35,
        penalty: float = 0.4,
    ) -> None:
        super().__init__(
            context_similarity_factor=boost,
            min_score_with_context_similarity=0.0,
            context_prefix_count=window_before,
            context_suffix_count=window_after,
        )
        self.penalty = penalty

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts | None,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """Return the results with context-adjusted scores (in place)."""
        if not raw_results:
            return raw_results
        by_id = {rec.id: rec for rec in recognizers}
        folded = to_halfwidth(text).lower()
        external = [w.lower() for w in context or [] if w]
        for result in raw_results:
            rec = by_id.get(result.recognition_metadata.get(_ID_KEY))
            words: list[str] = getattr(rec, "context", None) or []
            negative: list[str] = getattr(rec, "negative_context", None) or []
            if not words and not negative:
                continue
            before = clause_before(folded, result.start, self.context_prefix_count)
            after = clause_after(folded, result.end, self.context_suffix_count)
            if self._found(words, before, after, external):
                boosted = result.score + self.context_similarity_factor
                result.score = min(EntityRecognizer.MAX_SCORE, boosted)
                result.recognition_metadata[_ENHANCED_KEY] = True
            elif negative and any(w in before for w in negative):
                result.score = max(EntityRecognizer.MIN_SCORE, result.score - self.penalty)
        return raw_results

    @staticmethod
    def _found(words: list[str], before: str, after: str, external: list[str]) -> bool:
        for word in words:
            w = word.lower()
            if w in before or w in after:
                return True
            if any(w in e or (len(e) > 1 and e in w) for e in external):
                return True
        return False
