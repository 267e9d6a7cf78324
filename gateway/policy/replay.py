"""Replay: what a candidate policy would have decided for the recorded requests.

Every audited decision (kind ``decision``) keeps its policy input, personal filter
values already keyed hashes (gateway/decide.py), and the decision document. ``replay``
streams those entries from the audit log, re-decides each input under the candidate
with the real embedded OPA (one interpreter per worker thread; OPA evaluates without
the GIL) and tallies the differences (:mod:`gateway.policy.diffing`).

The summary names datasets, fields, operators, reason codes, request ids and sequence
numbers; it never copies input values. See docs/replay.md.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.auditlog.entries import as_utc
from gateway.auditlog.schema import audit_log
from gateway.errors import AuditUnavailable, PolicyUnavailable
from gateway.policy.bundle import PolicyBundle, PolicyLoadError
from gateway.policy.decision import parse_decision
from gateway.policy.diffing import CATEGORIES, Tally, compare, excerpt
from gateway.policy.embedded import EmbeddedOpaEngine, Interpreter, OpaInterpreter

CHUNK = 250          # entries handed to a worker at once
Row = tuple[int, str, str]   # seq, request_id, leaf document text


@dataclass
class ReplaySummary:
    """The outcome of one replay; :meth:`to_json` is what the API and CLI return."""

    candidate: str
    tally: Tally
    workers: int
    elapsed_s: float
    window: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.tally.total

    @property
    def decisions_per_s(self) -> float:
        return self.tally.total / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-serializable summary (counts, per-field changes, examples)."""
        t = self.tally
        return {
            "candidate": self.candidate, "window": self.window,
            "recorded_versions": dict(t.recorded_versions),
            "total": t.total, "unchanged": t.unchanged, "changed": t.changed,
            "allow_to_deny": t.allow_to_deny, "deny_to_allow": t.deny_to_allow,
            "errors": sum(t.errors.values()), "error_codes": dict(t.errors),
            "skipped": dict(t.skipped),
            "weaker_decisions": t.weaker_decisions, "weaker": dict(t.weaker.most_common()),
            "fields_added": dict(t.fields_added), "fields_removed": dict(t.fields_removed),
            "operator_changes": {k: dict(v) for k, v in sorted(t.operator_changes.items())},
            "params_changes": dict(t.params_changes),
            "row_filter_changes": dict(t.row_filter_changes),
            "quota_changes": {k: dict(v) for k, v in sorted(t.quota_changes.items())},
            "other_changes": dict(t.other_changes),
            "examples": {c: t.examples[c] for c in CATEGORIES if c in t.examples},
            "workers": self.workers, "elapsed_s": round(self.elapsed_s, 3),
            "decisions_per_s": round(self.decisions_per_s, 1),
        }


def build_interpreters(candidate: PolicyBundle, count: int) -> list[Interpreter]:
    """``count`` compiled interpreters for the candidate; raises :class:`PolicyLoadError`
    (nothing replayed) if it does not compile."""
    built: list[Interpreter] = []
    try:
        for _ in range(max(1, count)):
            built.append(OpaInterpreter(candidate))
    except PolicyLoadError as exc:
        for interp in built:
            interp.close()
        raise PolicyLoadError(
            f"candidate policy {candidate.hash[:12]} cannot be replayed: {exc.message}",
            reasons=exc.reasons) from None
    return built


def replay(engine: sa.Engine, candidate: PolicyBundle, *, last: int | None = None,
           since: dt.datetime | None = None, workers: int = 2,
           examples: int = 5) -> ReplaySummary:
    """Re-decide the recorded decisions (the ``last`` N, those at or after ``since``,
    both, or all) under ``candidate`` and summarize what would change.

    The candidate is compiled first: a bundle that does not compile raises
    :class:`PolicyLoadError` before any entry is read. An engine error or undefined
    decision under the candidate counts as a deny and is listed under ``errors``.
    Raises :class:`AuditUnavailable` if the audit log cannot be read."""
    if last is not None and last < 1:
        raise ValueError("last must be positive")
    interpreters = build_interpreters(candidate, workers)
    free: queue.SimpleQueue[Interpreter] = queue.SimpleQueue()
    for interp in interpreters:
        free.put(interp)
    local = threading.local()

    def init() -> None:
        local.interp = free.get()

    def work(rows: list[Row]) -> Tally:
        return _replay_chunk(local.interp, rows, examples)

    tally = Tally(examples_per_category=examples)
    started = time.perf_counter()
    window: dict[str, Any] = {"last": last, "since": as_utc(since).isoformat() if since else None}
    try:
        with ThreadPoolExecutor(max_workers=len(interpreters), initializer=init,
                                thread_name_prefix="replay") as pool:
            pending: deque[Future[Tally]] = deque()
            for rows in _chunks(engine, last=last, since=since, window=window):
                pending.append(pool.submit(work, rows))
                while len(pending) > 2 * len(interpreters):
                    tally.merge(pending.popleft().result())
            while pending:
                tally.merge(pending.popleft().result())
    finally:
        for interp in interpreters:
            interp.close()
    return ReplaySummary(candidate=candidate.hash, tally=tally, workers=len(interpreters),
                         elapsed_s=time.perf_counter() - started, window=window)


def _chunks(engine: sa.Engine, *, last: int | None, since: dt.datetime | None,
            window: dict[str, Any]) -> Iterator[list[Row]]:
    """Recorded decision entries, oldest first, ``CHUNK`` at a time (streamed)."""
    conds: list[sa.ColumnElement[bool]] = [audit_log.c.kind == "decision"]
    if since is not None:
        conds.append(audit_log.c.time >= as_utc(since))
    try:
        with engine.connect() as conn:
            if last is not None:
                first = conn.execute(sa.select(audit_log.c.seq).where(*conds)
                                     .order_by(audit_log.c.seq.desc())
                                     .offset(last - 1).limit(1)).scalar()
                if first is not None:
                    conds.append(audit_log.c.seq >= first)
            q = (sa.select(audit_log.c.seq, audit_log.c.request_id, audit_log.c.entry)
                 .where(*conds).order_by(audit_log.c.seq))
            result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(q)
            for part in result.partitions(CHUNK):
                rows = [(r[0], r[1], r[2]) for r in part]
                window.setdefault("first_seq", rows[0][0])
                window["last_seq"] = rows[-1][0]
                yield rows
    except sa.exc.SQLAlchemyError as exc:
        raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None


def _replay_chunk(interp: Interpreter, rows: list[Row], examples: int) -> Tally:
    tally = Tally(examples_per_category=examples)
    for seq, request_id, text in rows:
        try:
            entry = orjson.loads(text)["entry"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            tally.skipped["damaged_entry"] += 1
            continue
        policy_input, before = entry.get("policy_input"), entry.get("decision_doc")
        if not isinstance(policy_input, dict):
            tally.skipped["no_policy_input"] += 1
            continue
        if not isinstance(before, dict):
            tally.skipped["no_decision_doc"] += 1  # refused before the policy answered
            continue
        tally.recorded_versions[str(entry.get("policy_version"))] += 1
        dataset = policy_input.get("dataset") or {}
        dataset_id = str(dataset.get("id"))
        meta: dict[str, Any] = {"request_id": request_id, "seq": seq, "dataset": dataset_id,
                                "action": str(policy_input.get("action"))}
        declared = dataset.get("fields") or {}
        after: Mapping[str, Any] | None
        try:
            doc, _ = interp.evaluate(policy_input, trace=False)
            after = parse_decision(doc).raw
        except PolicyUnavailable as exc:
            after = None
            tally.error(exc.code, {**meta, "before": excerpt(before),
                                   "after": {"allow": False, "error": exc.code,
                                             "message": exc.message}})
        diff = compare(before, after, dataset_id, declared, tally)
        tally.count(diff, {**meta, "before": excerpt(before), "after": excerpt(after)}
                    if diff.changed else meta)
    return tally


def what_if(candidate: PolicyBundle, input: Mapping[str, Any]) -> dict[str, Any]:
    """Decide one input under ``candidate`` with OPA's tracer: ``{"decision": doc,
    "rules": ["file.rego:line rule", ...]}`` (rules that fired, in evaluation order).
    An engine error or undefined decision gives ``decision: None`` and ``error``.
    Raises :class:`PolicyLoadError` if the candidate does not compile."""
    with EmbeddedOpaEngine(candidate, workers=1, timeout_s=10.0) as engine:
        try:
            decision, rules = engine.eval_trace(input)
        except PolicyUnavailable as exc:
            return {"decision": None, "rules": [],
                    "error": {"code": exc.code, "message": exc.message}}
    return {"decision": dict(decision.raw), "rules": rules}


def render_summary(summary: ReplaySummary | Mapping[str, Any]) -> str:
    """The summary as human text (for ``pgw policy replay``)."""
    s = summary.to_json() if isinstance(summary, ReplaySummary) else dict(summary)
    lines = [
        (f"candidate {str(s['candidate'])[:12]}: {s['total']} decisions replayed in "
         f"{s['elapsed_s']} s ({s['decisions_per_s']}/s, {s['workers']} workers)"),
        (f"  unchanged {s['unchanged']}  changed {s['changed']}  allow→deny "
         f"{s['allow_to_deny']}  deny→allow {s['deny_to_allow']}  errors {s['errors']}"),
    ]
    if s["skipped"]:
        lines.append("  skipped: " + _pairs(s["skipped"]))
    if s["weaker_decisions"]:
        lines.append(f"  WEAKER PROTECTION in {s['weaker_decisions']} decisions:")
        lines.extend(f"    {n:>7}  {label}" for label, n in s["weaker"].items())
    for title, key in (("fields added", "fields_added"), ("fields removed", "fields_removed"),
                       ("params changed", "params_changes"), ("row filter", "row_filter_changes"),
                       ("other changes", "other_changes"), ("error codes", "error_codes")):
        if s[key]:
            lines.append(f"  {title}: " + _pairs(s[key]))
    for title, key in (("operator changes", "operator_changes"),
                       ("quota changes", "quota_changes")):
        if s[key]:
            lines.append(f"  {title}:")
            lines.extend(f"    {name}: {_pairs(counts)}" for name, counts in s[key].items())
    for category, items in s["examples"].items():
        lines.append(f"  examples of {category}:")
        for ex in items:
            what = "; ".join(ex.get("changes", [])) or _outcome(ex)
            lines.append(f"    seq {ex['seq']} {ex['request_id']} {ex['dataset']} "
                         f"{ex['action']}: {what}")
    return "\n".join(lines)


def _pairs(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _outcome(example: Mapping[str, Any]) -> str:
    before, after = example.get("before", {}), example.get("after", {})
    word = {True: "allow", False: "deny"}
    detail = after.get("error") or ",".join(after.get("reasons", []))
    return f"{word[before.get('allow') is True]}→{word[after.get('allow') is True]} ({detail})"
