"""Turn a detector's (possibly overlapping) results into disjoint spans to replace.

Overlapping results form clusters (transitively). A cluster becomes one span covering all
of it, so no character of any detected value is left in clear (fail closed). Its type is
that of the best result not contained in a longer one (a phone number inside a bank card
is a fragment of the card): highest score, then longer, then the more specific type (an
18-digit ID that also passes Luhn stays an ID). Touching spans of
the same type are joined (``北京市海淀区`` + ``马连洼街道289号`` masks as one address).
"""

from __future__ import annotations

from collections.abc import Iterable

from presidio_analyzer import RecognizerResult

# Where scores tie: checksum-backed and specific types first, noisy NER types last.
SPECIFICITY: dict[str, int] = {
    "ID_CARD": 10,
    "USCC": 9,
    "BANK_CARD": 8,
    "PASSPORT": 7,
    "PHONE_NUMBER": 6,
    "EMAIL_ADDRESS": 5,
    "LICENSE_PLATE": 4,
    "IP_ADDRESS": 3,
    "LOCATION": 2,
    "PERSON": 1,
}


def _rank(r: RecognizerResult) -> tuple[float, int, int]:
    return (r.score, r.end - r.start, SPECIFICITY.get(r.entity_type, 0))


def resolve_spans(results: Iterable[RecognizerResult], text_length: int) -> list[RecognizerResult]:
    """Disjoint spans sorted by start, clipped to ``[0, text_length]``; new objects (the
    detector's results are not modified)."""
    spans = sorted(
        (
            (max(0, r.start), min(text_length, r.end), r)
            for r in results
            if min(text_length, r.end) > max(0, r.start)
        ),
        key=lambda t: (t[0], -t[1]),
    )
    resolved: list[RecognizerResult] = []
    i = 0
    while i < len(spans):
        start, end, _ = spans[i]
        j = i + 1
        while j < len(spans) and spans[j][0] < end:
            end = max(end, spans[j][1])
            j += 1
        cluster = spans[i:j]
        # Results inside a longer one are fragments of it (Presidio drops them too).
        maximal = [
            r
            for s, e, r in cluster
            if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2, _ in cluster)
        ]
        best = max(maximal, key=_rank)
        prev = resolved[-1] if resolved else None
        if prev is not None and prev.end == start and prev.entity_type == best.entity_type:
            prev.end, prev.score = end, max(prev.score, best.score)
        else:
            resolved.append(RecognizerResult(best.entity_type, start, end, best.score))
        i = j
    return resolved
