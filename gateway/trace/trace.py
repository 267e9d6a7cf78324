"""``trace_file``: the grants and releases a leaked file most likely came from.

Three kinds of evidence, each with the chance that a file *not* made from that release
would show it (``log10_false_match``):

a. payload hash — the file's bytes hash to a release's ``payload_sha256``: certain;
b. pseudonym tokens — the file's ``{prefix}_{root key id}_{digest}`` tokens are recomputed
   from the dataset's source values under each candidate grant's key; a grant whose
   tokens the file holds made them (80-bit digests: a chance match is ~2^-80 per token);
c. row sketch — the share of the file's rows found in each release's Bloom filter, against
   the binomial tail of that many chance hits at the filter's false-positive rate
   (multiplied by the number of sketches searched).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.pseudonym import DIGEST_BYTES, GENERIC_PREFIX, TOKEN_PREFIXES
from gateway.auditlog import audit_log, search
from gateway.catalog import Catalog, DatasetSpec, FieldSpec
from gateway.errors import GatewayError
from gateway.plan import QueryPlan
from gateway.stores import StoreRegistry
from gateway.trace.files import LeakedFile, read_file
from gateway.trace.report import (
    PAYLOAD_LOG10,
    Evidence,
    Match,
    TraceReport,
    log10_binomial_tail,
)
from gateway.trace.sketch import Fingerprints, RowHasher, RowSketch, SketchError
from gateway.trace.store import StoredSketch, iter_sketches, sketches_by_payload
from keys.errors import KeyRingError
from keys.keyring import KeyRing

if TYPE_CHECKING:
    from gateway.services import Services

# A token anywhere in a cell (free text carries them too); key ids never contain "_".
_TOKEN = re.compile(r"(?<![A-Za-z0-9_])([a-z]+)_([A-Za-z0-9][A-Za-z0-9.:\-]{0,63})_"
                    r"([a-z2-7]{16})(?![A-Za-z0-9])")
_KEEP_LOG10 = -1.0  # sketch hits worth listing at all (better than luck 9 times in 10)


@dataclass(frozen=True)
class TraceSources:
    """What tracing reads: the state database (sketches, audit log), the key ring, and the
    catalog and stores (source values to recompute pseudonyms)."""

    engine: sa.Engine
    keyring: KeyRing
    catalog: Catalog
    stores: StoreRegistry

    @classmethod
    def of(cls, svc: Services) -> TraceSources:
        return cls(svc.state_engine, svc.keyring_or_fail(), svc.catalog, svc.stores)


@dataclass(frozen=True)
class TraceLimits:
    """Bounds on the work: the report says when one was reached."""

    matches: int = 10
    sketches: int = 200_000
    source_values: int = 1_000_000  # per dataset field
    grant_keys: int = 500


def trace_file(src: TraceSources, data: bytes, filename: str = "",
               limits: TraceLimits = TraceLimits()) -> TraceReport:
    """Rank the releases and grants ``data`` most likely came from (most likely first).
    Raises :class:`~gateway.trace.files.UnreadableFile` for a file it cannot parse."""
    leaked = read_file(data, filename)
    report = TraceReport(
        file={"name": filename, "format": leaked.format, "rows": len(leaked.rows),
              "columns": leaked.width, "sha256": hashlib.sha256(data).hexdigest(),
              "receipt_trailer": leaked.has_trailer},
        matches=[], searched={})
    found: dict[str, Match] = {}
    _payload(src, leaked, found)
    _sketches(src, leaked, found, report, limits)
    by_grant = _tokens(src, leaked, report, limits)
    _seal_check(src, found, limits)
    report.matches = _rank(found, by_grant, limits)
    if leaked.rows and not report.matched:
        report.notes.append("rows edited, columns dropped, added or renamed in a way that "
                            "changes values, or releases made before sketches were kept, "
                            "cannot be matched by the row sketch")
    return report


def _match_for(found: dict[str, Match], s: StoredSketch) -> Match:
    m = found.get(s.receipt_id)
    if m is None:
        m = found[s.receipt_id] = Match(
            grant_id=s.grant_id, receipt_id=s.receipt_id, request_id=s.request_id,
            dataset=s.dataset, operator_id=s.operator_id,
            released_at=s.created_at.isoformat(), release_rows=s.n_rows)
    return m


def _payload(src: TraceSources, leaked: LeakedFile, found: dict[str, Match]) -> None:
    covers = {leaked.digests[0]: "the whole file"}
    for d in leaked.digests[1:]:
        covers[d] = "rows as serialized by the gateway" if leaked.format == "json" \
            else "the file without its receipt trailer"
    for s in sketches_by_payload(src.engine, list(covers)):
        _match_for(found, s).evidence.append(Evidence(
            "payload_sha256", PAYLOAD_LOG10,
            {"covers": covers[s.payload_sha256], "payload_sha256": s.payload_sha256,
             "signature": s.payload_sha256}))


def _sketches(src: TraceSources, leaked: LeakedFile, found: dict[str, Match],
              report: TraceReport, limits: TraceLimits) -> None:
    n = len(leaked.rows)
    columns = leaked.columns()
    prints: dict[str, Fingerprints | None] = {}
    hits: list[tuple[StoredSketch, int, float, str]] = []
    searched = 0
    for s in iter_sketches(src.engine, limit=limits.sketches):
        searched += 1
        if n == 0:
            continue
        if s.key_id not in prints:
            prints[s.key_id] = _fingerprints(src.keyring, s.key_id, columns, report)
        fp = prints[s.key_id]
        if fp is None:
            continue
        try:
            sketch = RowSketch.from_bytes(s.sketch)
        except SketchError:
            _match_for(found, s).problems.append("its stored sketch is damaged")
            continue
        hit = sketch.hits(fp)
        h = int(hit.sum())
        if h == 0:
            continue
        p = sketch.false_positive_rate()
        tail = log10_binomial_tail(n, h, p)
        if tail <= _KEEP_LOG10:
            signature = hashlib.sha256(np.packbits(hit).tobytes()).hexdigest()[:16]
            hits.append((s, h, p, signature))
    report.searched["sketches"] = searched
    report.searched["sketches_capped"] = searched >= limits.sketches
    multiple = math.log10(max(searched, 1))  # any of the sketches searched could be lucky
    for s, h, p, signature in hits:
        tail = min(0.0, log10_binomial_tail(n, h, p) + multiple)
        _match_for(found, s).evidence.append(Evidence(
            "row_sketch", tail,
            {"rows_hit": h, "rows_checked": n, "false_positive_rate": p,
             "sketch_sha256": s.sha256, "signature": signature}))


def _fingerprints(ring: KeyRing, key_id: str, columns: list[list[Any]],
                  report: TraceReport) -> Fingerprints | None:
    try:
        return RowHasher.for_key(ring, key_id).rows(columns)
    except KeyRingError:
        report.notes.append(f"sketches made under MAC key {key_id} cannot be checked: the "
                            "key is unknown or retired")
        return None


# -- pseudonym tokens ----------------------------------------------------------------


@dataclass
class _GrantKey:
    name: str  # what the per-grant pseudonym key was derived for
    grant_id: str | None
    operator_id: str | None
    dataset: str


def _tokens(src: TraceSources, leaked: LeakedFile, report: TraceReport,
            limits: TraceLimits) -> dict[str, list[Evidence]]:
    """Token evidence per grant key name."""
    groups: dict[tuple[str, str], set[str]] = {}
    for row in leaked.rows:
        for cell in row:
            if isinstance(cell, str) and "_" in cell:
                for m in _TOKEN.finditer(cell):
                    groups.setdefault((m[1], m[2]), set()).add(m[0])
    report.searched.update(grant_keys=0, source_values=0, source_capped=False)
    if not groups:
        return {}
    candidates = _grant_keys(src.engine, limits.grant_keys, report)
    sources: dict[tuple[str, str], list[Any]] = {}
    out: dict[str, list[Evidence]] = {}
    for (prefix, root), file_tokens in sorted(groups.items()):
        verified = False
        for gk in candidates:
            try:
                dataset = src.catalog.get(gk.dataset)
            except GatewayError:
                continue
            for f in dataset.fields:
                if TOKEN_PREFIXES.get(f.pii, GENERIC_PREFIX) != prefix:
                    continue
                made = _recompute(src, gk, dataset, f, root, sources, report, limits)
                if made is None:
                    continue
                matched = len(file_tokens & made)
                if matched:
                    verified = True
                    chance = max(len(made), 1) * 2.0 ** (-8 * DIGEST_BYTES) * len(candidates)
                    out.setdefault(gk.name, []).append(Evidence(
                        "pseudonym_tokens", max(matched * math.log10(chance), -300.0),
                        {"prefix": prefix, "root_key_id": root, "field": f.name,
                         "dataset": dataset.id, "tokens_matched": matched,
                         "tokens_seen": len(file_tokens), "signature": (f.name, matched)}))
        report.tokens.append({"prefix": prefix, "root_key_id": root,
                              "count": len(file_tokens), "verified": verified})
    report.searched["grant_keys"] = len(candidates)
    return out


def _grant_keys(engine: sa.Engine, limit: int, report: TraceReport) -> list[_GrantKey]:
    """Every (grant, operator, dataset) that has released rows, from the audit log."""
    c = audit_log.c
    q = (sa.select(c.grant_id, c.operator_id, c.dataset).where(c.kind == "release")
         .where(c.dataset.is_not(None)).distinct().limit(limit + 1))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    if len(rows) > limit:
        report.notes.append(f"only {limit} grant keys were tried for pseudonym tokens")
        rows = rows[:limit]
    keys = []
    for grant_id, operator_id, dataset in rows:
        name = grant_id or f"operator:{operator_id}:{dataset}"
        keys.append(_GrantKey(name, grant_id, operator_id, dataset))
    return keys


def _recompute(src: TraceSources, gk: _GrantKey, dataset: DatasetSpec, f: FieldSpec,
               root: str, sources: dict[tuple[str, str], list[Any]], report: TraceReport,
               limits: TraceLimits) -> set[str] | None:
    """The tokens this grant's key makes of every source value of ``f`` (capped)."""
    values = sources.get((dataset.id, f.name))
    if values is None:
        values = sources[(dataset.id, f.name)] = _source_values(src, dataset, f, report,
                                                                limits)
    if not values:
        return None
    try:
        key = src.keyring.pseudonym_key_for(root, gk.name)
    except KeyRingError:
        note = f"pseudonym root {root} is unknown or retired: its tokens cannot be re-derived"
        if note not in report.notes:
            report.notes.append(note)
        return None
    ctx = ColumnContext(pseudonym_key=key.secret, pseudonym_key_id=key.key_id,
                        today=dt.date.today())
    column = _to_arrow(values, f.type == "string")
    tokens = apply_operator(column, "pseudonymize", {}, pii=f.pii, ctx=ctx)
    return {t for t in tokens.to_pylist() if t is not None}


def _to_arrow(values: Sequence[Any], string: bool) -> pa.Array:
    # As gateway.desensitize reads a column before its operator runs.
    try:
        return pa.array(values, type=pa.string()) if string else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _source_values(src: TraceSources, dataset: DatasetSpec, f: FieldSpec,
                   report: TraceReport, limits: TraceLimits) -> list[Any]:
    plan = QueryPlan(dataset=dataset, columns=(f.name,), filters=(), row_filter=(),
                     limit=limits.source_values)
    values: list[Any] = []
    try:
        for batch in src.stores.get(dataset.upstream).stream(plan, 10_000):
            values.extend(v for v in batch.columns[f.name] if v is not None)
    except GatewayError as exc:
        report.notes.append(f"source of {dataset.id}.{f.name} unreadable ({exc.code})")
        return []
    report.searched["source_values"] += len(values)
    if len(values) >= limits.source_values:
        report.searched["source_capped"] = True
        report.notes.append(f"only the first {limits.source_values:,} values of "
                            f"{dataset.id}.{f.name} were pseudonymized for comparison")
    return values


# -- sealing and ranking ----------------------------------------------------------------


def _seal_check(src: TraceSources, found: dict[str, Match], limits: TraceLimits) -> None:
    """A sketch or payload hash counts only if the release's audit entry seals it."""
    ranked = sorted(found.values(), key=lambda m: m.log10_false_match)
    for m in ranked[: 4 * limits.matches]:
        if m.request_id is None:
            continue
        entries = search(src.engine, request_id=m.request_id, kind="release", limit=10)
        entry = next((e for e in entries.entries
                      if e.entry.get("receipt_id") == m.receipt_id), None)
        if entry is None:
            m.problems.append("no release entry in the audit log seals this release "
                              "(pruned, or the sketch was added behind the log's back)")
            continue
        m.released_at = entry.time.isoformat()
        for e in m.evidence:
            if e.kind == "row_sketch" and \
                    entry.entry.get("sketch_sha256") != e.detail["sketch_sha256"]:
                m.problems.append("the stored sketch differs from the one its audit "
                                  f"entry (seq {entry.seq}) seals")
            if e.kind == "payload_sha256" and \
                    entry.entry.get("payload_sha256") != e.detail["payload_sha256"]:
                m.problems.append("the payload hash differs from its audit entry "
                                  f"(seq {entry.seq})")


def _rank(found: dict[str, Match], by_grant: dict[str, list[Evidence]],
          limits: TraceLimits) -> list[Match]:
    matches = list(found.values())
    named = set()
    for m in matches:
        name = m.grant_id or f"operator:{m.operator_id}:{m.dataset}"
        if name in by_grant:
            m.evidence.extend(by_grant[name])
            named.add(name)
    for name, evidence in by_grant.items():
        if name not in named:  # the grant's key made the tokens; no sketch names a release
            first = evidence[0].detail
            grant = None if name.startswith("operator:") else name
            operator = name.split(":")[1] if grant is None else None
            matches.append(Match(grant_id=grant, receipt_id=None, dataset=first["dataset"],
                                 operator_id=operator, evidence=list(evidence)))
    matches.sort(key=lambda m: (bool(m.problems), m.log10_false_match))
    top = [m for m in matches if m.matched]
    for m in top:
        m.indistinguishable_from = [o.receipt_id or o.grant_id or "-" for o in top
                                    if o is not m and o.signature() == m.signature()]
    return matches[: limits.matches]
