"""Places and street addresses: tagger LOC words extended by the address grammar.

A street-level address (``江西省南昌市青云谱区北京东路903号康桥水郡17栋3单元104室``)
becomes ONE span from its first unit to its room number, so an operator that keeps
"down to the district" sees the whole address. Bare place names the tagger marks
(``北京``, ``浦东``) are kept at a lower score; one-character place words and the
province abbreviations of document numbers (``赣府发〔2023〕``) are not places.
"""

from __future__ import annotations

from typing import Any

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult

from anonymizers.ner import NerBackend, Token

from ._address import match_address
from ._base import LANGUAGE
from ._names import CAPITAL_NUMERALS
from ._text import doc_number_ahead, to_halfwidth
from .person import cued_full_name, name_slots

# Words an address may start at: place names, and nouns/proper nouns the tagger gives
# to road or estate names it does not know.
_START_TAGS = frozenset({"LOC", "ns", "nz", "n", "s"})
_HAN = regex.compile(r"\p{Han}")
_PLACE = regex.compile(r"\p{Han}[\p{Han}·]*")


class LocationRecognizer(EntityRecognizer):
    """LOCATION: street addresses (whole) and place names from a Chinese tagger."""

    ADDRESS_SCORE = 0.85
    PLACE_SCORE = 0.7

    def __init__(self, backend: NerBackend, supported_language: str = LANGUAGE) -> None:
        self._backend = backend
        self.recognizer_name = f"{type(self).__name__}[{backend.name}]"
        super().__init__(
            supported_entities=["LOCATION"],
            name=self.recognizer_name,
            supported_language=supported_language,
        )

    def load(self) -> None:
        """Nothing to load: the backend is built (and fails) before the recognizer."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        """LOCATION spans; offsets index ``text``."""
        tokens = self._backend.tag([text])[0]
        folded = to_halfwidth(text)
        spans: list[tuple[int, int, float]] = []
        names = name_slots(text, tokens)
        covered = 0
        for i, tok in enumerate(tokens):
            if tok.start < covered or tok.tag not in _START_TAGS:
                continue
            if text.rfind("《", 0, tok.start) > text.rfind("》", 0, tok.start):
                continue  # 《中华人民共和国道路交通安全法》: part of a title
            if any(s <= tok.start < e for s, e, _ in names):
                covered = max(e for s, e, _ in names if s <= tok.start < e)
                continue  # 来电人曹海国: a name the tagger took for a place
            if cued_full_name(text, tok.start, tok.end):
                continue  # 邻居薛国
            run_end = _loc_run_end(tokens, i)
            end, street, first = match_address(folded, tok.start)
            if tok.tag != "LOC" and first > tok.end:
                end, street = tok.start, False  # 地址青秀区…, 汽车行经…: the word is not part of it
            if street and end > tok.start and _HAN.match(text[tok.start]):
                spans.append((tok.start, max(end, run_end), self.ADDRESS_SCORE))
                covered = max(end, run_end)
            elif run_end > tok.start:
                if self._is_place(folded, tok.start, run_end):
                    spans.append((tok.start, run_end, self.PLACE_SCORE))
                covered = run_end
        meta = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.recognizer_name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        return [
            RecognizerResult("LOCATION", s, e, score, recognition_metadata=dict(meta))
            for s, e, score in spans
        ]

    @staticmethod
    def _is_place(text: str, start: int, end: int) -> bool:
        word = text[start:end]
        if len(word) < 2 or not _PLACE.fullmatch(word):
            return False
        if sum(c in CAPITAL_NUMERALS for c in word) >= 2:
            return False
        if word.endswith("族") or text[end : end + 1] == "族":
            return False  # 朝鲜族: an ethnic group
        return not doc_number_ahead(text, end)


def _loc_run_end(tokens: list[Token], i: int) -> int:
    """End of the run of adjacent LOC tokens starting at ``tokens[i]`` (its start if none)."""
    end = tokens[i].start
    while i < len(tokens) and tokens[i].tag == "LOC" and tokens[i].start == end:
        end = tokens[i].end
        i += 1
    return end
