"""What a trace found: ranked matches with their evidence and the chance of a false match.

Only counts, hashes and ids: a report never carries a cell of the file or of the source.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EvidenceKind = Literal["payload_sha256", "pseudonym_tokens", "row_sketch"]
MATCH_LOG10 = -6.0  # a match: a file not made from the release would do this well < 1e-6
PAYLOAD_LOG10 = -76.0  # a SHA-256 collision (2^-256) is beyond any other evidence


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence for one release or grant."""

    kind: EvidenceKind
    log10_false_match: float  # log10 of the chance a file not made from it does this well
    detail: dict[str, Any]


@dataclass
class Match:
    """A release (``receipt_id``) or, when only pseudonyms name it, a grant the file most
    likely came from."""

    grant_id: str | None
    receipt_id: str | None
    request_id: str | None = None
    dataset: str | None = None
    operator_id: str | None = None
    released_at: str | None = None
    release_rows: int | None = None
    evidence: list[Evidence] = field(default_factory=list)
    indistinguishable_from: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def log10_false_match(self) -> float:
        """Independent pieces of evidence multiply."""
        return max(sum(e.log10_false_match for e in self.evidence), -999.0)

    @property
    def matched(self) -> bool:
        return self.log10_false_match <= MATCH_LOG10 and not self.problems

    def signature(self) -> tuple[Any, ...]:
        """What distinguishes one candidate from another in this file's eyes."""
        return tuple(sorted((e.kind, e.detail.get("signature")) for e in self.evidence))


@dataclass
class TraceReport:
    """The answer to "where did this file come from", most likely first."""

    file: dict[str, Any]
    matches: list[Match]
    searched: dict[str, Any]
    tokens: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return any(m.matched for m in self.matches)

    @property
    def candidates(self) -> list[Match]:
        """The matches that pass the threshold, most likely first."""
        return [m for m in self.matches if m.matched]

    @property
    def conclusive(self) -> bool:
        """One release (or grant) explains the file better than every other."""
        return bool(self.matches) and self.matches[0].matched \
            and not self.matches[0].indistinguishable_from

    def statement(self) -> str:
        """One sentence for a person: who, and how likely a false match is."""
        if not self.matched:
            return ("No release matches this file: none of its rows, pseudonyms or bytes "
                    "were found in the releases searched.")
        top = self.matches[0]
        who = f"release {top.receipt_id}" if top.receipt_id else "a release"
        grant = f"grant {top.grant_id}" if top.grant_id else f"operator {top.operator_id}"
        chance = _chance(top.log10_false_match)
        text = (f"The file most likely came from {who} under {grant} (dataset "
                f"{top.dataset}); the chance that a file not made from it matches this well "
                f"is {chance}.")
        if top.indistinguishable_from:
            text += (f" It matches {len(top.indistinguishable_from)} other release(s) "
                     f"exactly as well ({', '.join(top.indistinguishable_from)}): they "
                     "released the same rows, and this file cannot tell them apart.")
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "matched": self.matched, "conclusive": self.conclusive,
            "statement": self.statement(), "file": self.file,
            "matches": [{**_match_json(m), "rank": i + 1}
                        for i, m in enumerate(self.matches)],
            "tokens": self.tokens, "searched": self.searched, "notes": self.notes,
        }

    def render_text(self) -> str:
        f = self.file
        head = (f"file: {f.get('name') or '-'} ({f['format']}, {f['rows']} rows x "
                f"{f['columns']} columns, sha256 {f['sha256'][:16]}…)")
        lines = [head, self.statement(), ""]
        for i, m in enumerate(self.matches, 1):
            flag = "MATCH" if m.matched else "weak"
            lines.append(f"{i}. [{flag}] grant {m.grant_id or '-'}  receipt "
                         f"{m.receipt_id or '-'}  dataset {m.dataset or '-'}  log10 false "
                         f"match {m.log10_false_match:.1f}")
            for e in m.evidence:
                lines.append(f"     {e.kind}: {_evidence_text(e)}")
            for p in m.problems:
                lines.append(f"     PROBLEM: {p}")
            if m.indistinguishable_from:
                lines.append("     same evidence as: " + ", ".join(m.indistinguishable_from))
        for t in self.tokens:
            lines.append(f"tokens: {t['count']} x {t['prefix']}_ under pseudonym root "
                         f"{t['root_key_id']} ({'verified' if t['verified'] else 'not verified'})")
        s = self.searched
        lines.append(f"searched: {s.get('sketches', 0)} release sketches, "
                     f"{s.get('grant_keys', 0)} grant keys, {s.get('source_values', 0)} "
                     f"source values")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _match_json(m: Match) -> dict[str, Any]:
    doc = {k: v for k, v in asdict(m).items() if k != "evidence"}
    doc["evidence"] = [{"kind": e.kind, "log10_false_match": round(e.log10_false_match, 2),
                        **{k: v for k, v in e.detail.items() if k != "signature"}}
                       for e in m.evidence]
    doc["log10_false_match"] = round(m.log10_false_match, 2)
    doc["matched"] = m.matched
    return doc


def _evidence_text(e: Evidence) -> str:
    d = e.detail
    if e.kind == "payload_sha256":
        return f"the file's bytes ({d['covers']}) hash to the release's payload_sha256"
    if e.kind == "pseudonym_tokens":
        return (f"{d['tokens_matched']} of {d['tokens_seen']} {d['prefix']}_ tokens recomputed "
                f"under this grant's key (field {d['field']}, root {d['root_key_id']})")
    return (f"{d['rows_hit']} of {d['rows_checked']} rows in the release's sketch "
            f"(false-positive rate {d['false_positive_rate']:.2g} per row; "
            f"log10 chance by luck {e.log10_false_match:.1f})")


def _chance(log10: float) -> str:
    if log10 <= -99:
        return "below 1e-99"
    if log10 <= -3:
        return f"about 1e{math.floor(log10)}"
    return f"about {10 ** log10:.2g}"


def log10_binomial_tail(n: int, k: int, p: float) -> float:
    """log10 P(X >= k) for X ~ Binomial(n, p): the chance that ``k`` or more of ``n`` rows
    that were never released all hit a sketch whose per-row false-positive rate is ``p``."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    lg = math.lgamma

    def term(j: int) -> float:
        return lg(n + 1) - lg(j + 1) - lg(n - j + 1) + j * log_p + (n - j) * log_q

    if k <= n * p:  # at or below the mean: the tail is most of the mass
        return math.log10(max(1e-300, 1.0 - _cdf_below(n, k, term)))
    first = term(k)
    total = 0.0
    for j in range(k, n + 1):  # terms fall away fast above the mean
        t = term(j) - first
        total += math.exp(t)
        if t < -50:
            break
    return (first + math.log(total)) / math.log(10)


def _cdf_below(n: int, k: int, term: Any) -> float:
    """P(X < k), summed directly (k is small or near the mean here)."""
    return min(1.0, sum(math.exp(term(j)) for j in range(k)))
