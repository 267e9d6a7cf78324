"""Base class of the identifier recognizers: Presidio ``PatternRecognizer`` on folded text.

Subclasses declare ``ENTITY``, ``PATTERNS``, ``CONTEXT`` (words that raise the score
when they occur in the same clause just before or after the match), optionally
``NEGATIVE_CONTEXT`` (labels that mark a look-alike, e.g. ``订单号``), and implement
``validate_result`` with the identifier's check digits. Matching runs on
:func:`~anonymizers.recognizers._text.to_halfwidth` text, so full-width digits are found
and every offset is an offset into the caller's original text.

Scores: a match the checksum accepts gets ``VALID_SCORE``; a match with no checksum
(``validate_result`` returns ``None``) keeps its pattern's score; a rejected match is
dropped. The context enhancer (:mod:`._context`) then adds or subtracts.
"""

from __future__ import annotations

from typing import Any, ClassVar

import regex
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

from ._text import to_halfwidth

LANGUAGE = "zh"
# Case matters for USCCs, plates and passports; DOTALL/MULTILINE as Presidio's default.
CASE_SENSITIVE = regex.DOTALL | regex.MULTILINE


class CnPatternRecognizer(PatternRecognizer):
    """A ``PatternRecognizer`` for Chinese text with width folding and graded scores."""

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[tuple[Pattern, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    NEGATIVE_CONTEXT: ClassVar[tuple[str, ...]] = ()
    VALID_SCORE: ClassVar[float] = 0.85
    FLAGS: ClassVar[int] = CASE_SENSITIVE

    def __init__(self, supported_language: str = LANGUAGE) -> None:
        self.recognizer_name: str = type(self).__name__
        super().__init__(
            supported_entity=self.ENTITY,
            name=self.recognizer_name,
            supported_language=supported_language,
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
            global_regex_flags=self.FLAGS,
        )
        self.negative_context: list[str] = list(self.NEGATIVE_CONTEXT)
        self._compiled = [(p, regex.compile(p.regex, self.FLAGS)) for p in self.PATTERNS]

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: Any = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        """Run every pattern over the width-folded text and score each match."""
        folded = to_halfwidth(text)
        found: dict[tuple[int, int], RecognizerResult] = {}
        for pattern, compiled in self._compiled:
            for match in compiled.finditer(folded):
                start, end = match.span()
                if start == end:
                    continue
                score = self.score_match(match.group(), pattern)
                if score is None or score <= 0.0:
                    continue
                old = found.get((start, end))
                if old is None or old.score < score:
                    found[(start, end)] = RecognizerResult(
                        entity_type=self.ENTITY,
                        start=start,
                        end=end,
                        score=score,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.recognizer_name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
        return list(found.values())

    def score_match(self, matched: str, pattern: Pattern) -> float | None:
        """Score of one match: ``None`` drops it. ``matched`` is already width-folded."""
        valid = self.validate_result(matched)
        if valid is False or self.invalidate_result(matched):
            return None
        return pattern.score if valid is None else max(pattern.score, self.VALID_SCORE)
