"""The safety net: direct identifiers in released columns the catalog did not declare as PII.

For each released string (or integer) column without a declared PII type:

1. a vectorized RE2 prefilter over the whole column (runs of 7+ digits, optionally
   spaced or hyphenated, full-width too; ``@``; a plate's province character followed by
   a letter; dotted quads; IPv6-like groups) finds the rows that *could* hold an
   identifier: a clean column stops here, at about the cost of one regex pass;
2. the detector scans a sample of those candidate rows (evenly spaced, up to ``sample``)
   for direct identifiers only (PERSON and LOCATION are too noisy for a net);
3. if the sample hits, every candidate row is scanned and each hit is masked in place with
   its entity's default convention (the rest of the cell is kept).

Rows the prefilter rejects cannot hold a direct identifier as the recognizers define them
(each needs 7+ digits, ``@``, a plate prefix or a dotted/colon address), so step 3
covers the whole column. The counts per entity go into the decision's audit entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import RecognizerResult

from anonymizers.identifiers import PLATE_PROVINCES
from anonymizers.strbuf import rechunk_like, to_numpy_bool
from anonymizers.text_ops import OperatorContext, resolve_spans
from anonymizers.textscrub import Detector, TextAnonymizer

DIRECT_IDENTIFIERS: tuple[str, ...] = (
    "ID_CARD", "PHONE_NUMBER", "BANK_CARD", "USCC", "EMAIL_ADDRESS", "PASSPORT",
    "LICENSE_PLATE", "IP_ADDRESS",
)  # fmt: skip
_D = "[0-9０-９]"
_HEX = "[0-9A-Fa-f]"
PREFILTER = "|".join(
    [
        _D + r"(?:[\s\-－]?" + _D + "){6,}",
        "[@＠]",
        "[" + PLATE_PROVINCES + "][A-Za-zＡ-Ｚａ-ｚ]",
        _D + "{1,3}(?:[.．]" + _D + "{1,3}){3}",
        _HEX + "{0,4}::" + _HEX + "{0,4}|(?:" + _HEX + "{1,4}:){5,7}" + _HEX + "{1,4}",
    ]
)


@dataclass(frozen=True)
class SafetyResult:
    """What the net found in one column: hits per entity type, and the column to release
    (the input itself when nothing was found; masked where the hits were otherwise)."""

    name: str
    hits: dict[str, int]
    column: pa.Array | pa.ChunkedArray = field(repr=False)
    candidates: int = 0  # rows that passed the prefilter
    scanned: int = 0  # distinct cells that went through the detector

    @property
    def clean(self) -> bool:
        """No direct identifier found."""
        return not self.hits


class SafetyNet:
    """Scans undeclared columns for direct identifiers and masks what it finds."""

    def __init__(self, detector: Detector, *, today: dt.date | None = None) -> None:
        """``detector``: the analyzer (only direct identifier types are asked for)."""
        self._detector = detector
        self._today = today
        self._masker: tuple[dt.date, TextAnonymizer] | None = None

    def check_column(
        self, name: str, arr: pa.Array | pa.ChunkedArray, *, sample: int = 200
    ) -> SafetyResult:
        """Scan column ``name``; see the module docstring. Columns that are neither text
        nor integers come back untouched; an integer column with hits comes back as text."""
        whole = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        text = _as_text(whole)
        if text is None or len(text) == 0:
            return SafetyResult(name, {}, arr)
        rows = np.flatnonzero(to_numpy_bool(pc.match_substring_regex(text, PREFILTER)))
        if len(rows) == 0:
            return SafetyResult(name, {}, arr)
        values: list[str] = pc.take(text, pa.array(rows)).to_pylist()
        n_sample = min(max(sample, 1), len(rows))
        picked = np.unique(np.linspace(0, len(rows) - 1, n_sample).astype(np.int64))
        memo: dict[str, list[RecognizerResult]] = {}  # repeated cells are scanned once
        found = {int(i): self._analyze(values[i], memo) for i in picked}
        if not any(found.values()):
            return SafetyResult(name, {}, arr, len(rows), len(memo))
        for i in range(len(values)):
            if i not in found:
                found[i] = self._analyze(values[i], memo)
        hit_rows = [i for i in range(len(values)) if found[i]]
        masked = self._masking().apply([values[i] for i in hit_rows], [found[i] for i in hit_rows])
        hits: dict[str, int] = {}
        for i in hit_rows:
            for span in found[i]:
                hits[span.entity_type] = hits.get(span.entity_type, 0) + 1
        where = np.zeros(len(text), dtype=bool)
        where[rows[hit_rows]] = True
        out = pc.replace_with_mask(text, pa.array(where), pa.array(masked, pa.string()))
        column = rechunk_like(out, arr) if isinstance(arr, pa.ChunkedArray) else out
        return SafetyResult(name, hits, column, len(rows), len(memo))

    def _masking(self) -> TextAnonymizer:
        """The default masks (built once per date: ``today`` bounds ID birth dates)."""
        today = self._today or dt.date.today()
        if self._masker is None or self._masker[0] != today:
            self._masker = (today, TextAnonymizer(ctx=OperatorContext(today)))
        return self._masker[1]

    def _analyze(
        self, value: str, memo: dict[str, list[RecognizerResult]]
    ) -> list[RecognizerResult]:
        spans = memo.get(value)
        if spans is None:
            found = self._detector.analyze(value, entities=list(DIRECT_IDENTIFIERS))
            direct = (r for r in found if r.entity_type in DIRECT_IDENTIFIERS)
            spans = memo[value] = resolve_spans(direct, len(value))
        return spans


def _as_text(arr: pa.Array) -> pa.Array | None:
    t = arr.type
    if pa.types.is_dictionary(t):
        return _as_text(arr.cast(t.value_type))
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_integer(t):
        return arr.cast(pa.string())
    return None
