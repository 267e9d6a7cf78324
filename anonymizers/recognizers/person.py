"""Person names in Chinese prose: tagger candidates filtered and completed by rules.

The tagger (LAC or jieba, :mod:`anonymizers.ner`) finds most names but also labels
nicknames, interjections, amounts in capital numerals (陆佰柒拾元: 陆 is a surname)
and document-number prefixes (鲁政办发〔…〕) as persons, and it cuts some three-character
names after two. The rules:

- a candidate shaped like a Chinese full name (a 百家姓 surname, then one or two
  given-name characters, three after a compound surname; not a common word) scores
  high; one framed by a cue word (``我叫…``, ``…先生``, ``申请人…``) or written with a
  middle dot (帕提古丽·买买提) scores in the middle; anything else (nicknames, given
  names alone) scores exactly the default threshold with LAC, so it is released only
  as long as the threshold is not raised, and below it with jieba, whose bare name tags
  are mostly wrong;
- two names run together (包嘉俊周苏飘) are split, a name with a tail (方进玉哈哈) is cut;
- a name slot after a record label (``申请人：×××``, ``法定代表人×××``) is read up to
  the next punctuation or predicate, even where the tagger saw no name;
- ``姓 + 先生/女士…`` forms are kept even when the tagger misses them.
"""

from __future__ import annotations

from typing import Any

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult

from anonymizers.ner import NerBackend, Token

from ._base import LANGUAGE
from ._lexicon import common_words
from ._names import (
    CAPITAL_NUMERALS,
    COMPOUND_SURNAMES,
    CUES_AFTER,
    CUES_BEFORE,
    NOMINALS,
    SLOT_CUES,
    SLOT_STOPS,
    SURNAMES,
    TITLES,
)
from ._text import doc_number_ahead

_HAN = regex.compile(r"\p{Han}")
_FIRST_CHARS = SURNAMES | frozenset(w[0] for w in COMPOUND_SURNAMES)
_NAME_RUN = regex.compile(r"\p{Han}[\p{Han}·•]*")
_DOTS = "·•"
_SURNAME_RX = "(?:" + "|".join(sorted(COMPOUND_SURNAMES)) + "|[" + "".join(sorted(SURNAMES)) + "])"
_TITLE_FORM = regex.compile(_SURNAME_RX + "(?:先生|女士|小姐|阿姨|大爷|师傅|老师|同志)")
_SLOT_CUE = regex.compile("(?:" + "|".join(sorted(SLOT_CUES, key=len, reverse=True)) + ")[:： ]?")
# Tags of words that cannot be part of a name slot.
_NOT_NAME_TAGS = frozenset({"v", "vn", "vd", "p", "c", "u", "r", "m", "q", "w", "xc", "TIME", "f"})
_PROPER_TAGS = frozenset({"PER", "LOC", "ORG", "nz", "nr", "ns", "nw"})
_PRONOUNS = frozenset("其我你他她它这那该此本各每")
_INTERJECTIONS = frozenset("哈呵嘿嘻啊哦嗯呀丫噢哇唉")


def _alternation(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(sorted(set(words), key=len, reverse=True)) + ")"


_AFTER = regex.compile(_alternation(CUES_AFTER + TITLES))
_BEFORE = regex.compile(_alternation(CUES_BEFORE))
_BEFORE_AT_END = regex.compile(_alternation(CUES_BEFORE) + r"\Z")
_NOUN_ENDINGS = frozenset("号码单证卡费款局院所站厅处部委办会司店厂族省市区县路街")


def surname_length(word: str) -> int:
    """Length of the surname ``word`` starts with (2 compound, 1 single, 0 none)."""
    if word[:2] in COMPOUND_SURNAMES:
        return 2
    return 1 if word[:1] in SURNAMES else 0


def looks_like_full_name(word: str) -> bool:
    """A surname followed by one or two given-name characters (three after a compound
    surname), all Han, not one character repeated (宋宋宋), not an amount (伍佰), not a
    common word (游客) and not a family (周家)."""
    n = surname_length(word)
    return (
        n > 0
        and 1 <= len(word) - n <= (3 if n == 2 else 2)
        and all(_HAN.match(c) for c in word)
        and len(set(word)) > 1
        and sum(c in CAPITAL_NUMERALS for c in word) < 2
        and not (len(word) == 2 and word[1] in "家氏某")
        and word not in common_words()
    )


def _starts_predicate(text: str, pos: int) -> bool:
    return (pos >= len(text) or not _HAN.match(text[pos]) or text[pos] in SLOT_STOPS
            or _AFTER.match(text, pos) is not None)


def _cued_before(text: str, start: int) -> bool:
    before = text[max(0, start - 10) : start].rstrip(" :：为是")
    return _BEFORE_AT_END.search(before) is not None


def _name_end(text: str, start: int, limit: int = 16) -> int:
    """End of the name written from ``start``: Han characters (and middle-dot parts)
    up to punctuation or the predicate that follows the name."""
    end = start
    dotted = False
    while end < len(text) and end - start < limit:
        ch = text[end]
        if ch in _DOTS and end > start and end + 1 < len(text) and _HAN.match(text[end + 1]):
            dotted = True
        elif not _HAN.match(ch) or (end > start and _ends_name(text, end, dotted)):
            break
        end += 1
    return end


def _ends_name(text: str, pos: int, dotted: bool) -> bool:
    if _AFTER.match(text, pos):
        return True
    # Transliterated names (阿不都热西提) contain characters that are stops elsewhere.
    return text[pos] in ("的在于和与及" if dotted else SLOT_STOPS)


def not_a_name(word: str) -> bool:
    """Amounts in capital numerals, nominal person nouns, and words ending in a
    morpheme of things or institutions (…单号, …局, …族)."""
    return (
        word in NOMINALS
        or (len(word) <= 3 and word in common_words())
        or sum(c in CAPITAL_NUMERALS for c in word) >= 2
        or (not looks_like_full_name(word) and word[-1] in _NOUN_ENDINGS)
    )


def cued_full_name(text: str, start: int, end: int) -> bool:
    """A full-name-shaped word right after a person cue (邻居薛国, 其母亲向娜洁)."""
    return (2 <= end - start <= 4 and text[start] in _FIRST_CHARS
            and looks_like_full_name(text[start:end]) and _cued_before(text, start))


def name_slots(text: str, tokens: list[Token]) -> list[tuple[int, int, float]]:
    """Names in the slots after record labels (``申请人：秦国波；``) as (start, end, score)."""
    out: list[tuple[int, int, float]] = []
    for cue in _SLOT_CUE.finditer(text):
        start = cue.end()
        while True:  # 来电人：邻居白鑫 — a relation word between the label and the name
            cue_word = _BEFORE.match(text, start)
            if cue_word is None:
                break
            start = cue_word.end()
        end = _name_end(text, start)
        word = text[start:end]
        dotted = any(c in _DOTS for c in word)
        if (not 2 <= len(word) <= (16 if dotted else 4) or not_a_name(word)
                or word[0] in _PRONOUNS):
            continue
        inside = [t for t in tokens if t.start < end and start < t.end]
        if any(t.tag in _NOT_NAME_TAGS and t.end - t.start >= 2 and start <= t.start
               and t.end <= end for t in inside):
            continue
        if looks_like_full_name(word):
            out.append((start, end, 0.8))
        elif dotted or any(t.tag in _PROPER_TAGS for t in inside):
            out.append((start, end, 0.7))
    return out


class PersonRecognizer(EntityRecognizer):
    """PERSON from a Chinese tagger plus surname, cue-word and nominal rules."""

    FULL_NAME_SCORE = 0.85
    CUED_SCORE = 0.75
    TITLE_FORM_SCORE = 0.7
    WEAK_SCORE = 0.5  # at the default threshold: kept, for recall (LAC)
    WEAK_SCORE_JIEBA = 0.35  # jieba's name tags without a name shape are mostly wrong

    def __init__(self, backend: NerBackend, supported_language: str = LANGUAGE) -> None:
        self._backend = backend
        self.recognizer_name = f"{type(self).__name__}[{backend.name}]"
        self.weak_score = self.WEAK_SCORE_JIEBA if backend.name == "jieba" else self.WEAK_SCORE
        super().__init__(
            supported_entities=["PERSON"],
            name=self.recognizer_name,
            supported_language=supported_language,
        )

    def load(self) -> None:
        """Nothing to load: the backend is built (and fails) before the recognizer."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        """PERSON spans with rule-based scores; offsets index ``text``."""
        tokens = self._backend.tag([text])[0]
        spans: list[tuple[int, int, float]] = name_slots(text, tokens)
        i = 0
        while i < len(tokens):
            j = i
            if tokens[i].tag == "PER":
                while j + 1 < len(tokens) and tokens[j + 1].tag == "PER":
                    j += 1  # 向/娜琳: adjacent PER words are one name
                for found in self._candidates(text, tokens[i].start, tokens[j].end):
                    if not _overlaps(found, spans):
                        spans.append(found)
            elif cued_full_name(text, tokens[i].start, tokens[i].end):
                found = (tokens[i].start, tokens[i].end, self.CUED_SCORE)
                if not _overlaps(found, spans):
                    spans.append(found)  # 邻居薛国: tagged as a place or a verb
            i = j + 1
        for m in _TITLE_FORM.finditer(text):
            if not _overlaps((m.start(), m.end(), 0.0), spans):
                spans.append((m.start(), m.end(), self.TITLE_FORM_SCORE))
        meta = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.recognizer_name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        return [
            RecognizerResult("PERSON", s, e, score, recognition_metadata=dict(meta))
            for s, e, score in spans
        ]

    def _candidates(self, text: str, tok_start: int, tok_end: int) -> list[tuple[int, int, float]]:
        m = _NAME_RUN.search(text, tok_start, tok_end)
        if m is None:
            return []
        start, end = m.span()
        dotted = any(c in _DOTS for c in text[start : end + 1])
        if dotted:
            end = _name_end(text, start)
        while end - start > 2 and text[start] in _INTERJECTIONS:
            start += 1  # 哈哈柯震倲
        if not dotted and end - start >= 4 and surname_length(text[start:end]):
            parts = _split_names(text[start:end])
            if parts:  # 包嘉俊周苏飘: two names run together; 方进玉哈哈: a name and a tail
                return [(start + a, start + b, self.FULL_NAME_SCORE) for a, b in parts]
        found = self._candidate(text, start, end)
        return [found] if found else []

    def _candidate(self, text: str, start: int, end: int) -> tuple[int, int, float] | None:
        lead = _BEFORE.match(text, start)  # 邻居白鑫: the tagger took the relation word along
        if lead and end - lead.end() >= 2:
            start = lead.end()
        if start > 0 and text[start - 1 : start + 1] in COMPOUND_SURNAMES:
            start -= 1  # 令/狐丽彤
        elif (start > 0 and text[start - 1] in SURNAMES and _cued_before(text, start - 1)
              and looks_like_full_name(text[start - 1 : end])):
            start -= 1  # 母亲/向/娜洁: the surname read as a preposition
        word = text[start:end]
        if (len(word) < 2 or len(word) > 16 or not_a_name(word)
                or doc_number_ahead(text, end)):
            return None
        cued = _cued_before(text, start) or _AFTER.match(text, end) is not None
        if (len(word) == 2 and looks_like_full_name(word) and cued
                and not _starts_predicate(text, end) and _starts_predicate(text, end + 1)):
            end += 1  # 钟刚/成（: the tagger cut a three-character name after two
        if looks_like_full_name(text[start:end]):
            return start, end, self.FULL_NAME_SCORE
        if cued or any(c in _DOTS for c in word):
            return start, end, self.CUED_SCORE
        return start, end, self.weak_score


def _split_names(word: str) -> list[tuple[int, int]]:
    """Full names that make up ``word`` (三字 preferred), or the full name it starts with."""
    def parse(i: int) -> list[tuple[int, int]] | None:
        if i == len(word):
            return []
        n = surname_length(word[i:])
        for length in ((n + 2, n + 1) if n else ()):
            if i + length <= len(word) and looks_like_full_name(word[i : i + length]):
                rest = parse(i + length)
                if rest is not None:
                    return [(i, i + length), *rest]
        return None

    whole = parse(0)
    if whole:
        return whole
    n = surname_length(word)
    for length in (n + 2, n + 1):
        if looks_like_full_name(word[:length]):
            return [(0, length)]
    return []


def _overlaps(span: tuple[int, int, float], spans: list[tuple[int, int, float]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e, _ in spans)
