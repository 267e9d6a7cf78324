"""Anomaly flags per grant, computed from the audit log alone (see docs/audit-log.md).

The log is read once, in bounded pages, over the history and the window examined; the
history is folded into small per-grant profiles as it streams by (days, hours, addresses),
only the window's own entries are kept. Scoring is pure functions over those numbers.
Entries without a grant are grouped per operator (``grant_id`` None, ``operator_id`` set).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from gateway.auditlog.anomaly_scoring import (
    find_bursts,
    mask_address,
    volume_baseline,
)
from gateway.auditlog.entries import as_utc, parse_leaf
from gateway.auditlog.schema import audit_log
from gateway.clock import rfc3339
from gateway.errors import AuditUnavailable, BadRequest

AnomalyKind = Literal["volume", "denial_burst", "unusual_hour", "new_client_address",
                      "verify_enumeration"]
KINDS: tuple[AnomalyKind, ...] = ("volume", "denial_burst", "unusual_hour",
                                  "new_client_address", "verify_enumeration")
Severity = Literal["low", "medium", "high"]
MAX_WINDOW_DAYS = 31
MAX_HISTORY_DAYS = 365
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class AnomalyConfig:
    """Thresholds; the defaults are documented in docs/audit-log.md."""

    min_active_days: int = 7           # history days with a request, for volume and hours
    volume_k: float = 5.0              # threshold ≥ median + k · 1.4826 · MAD
    volume_min_ratio: float = 2.0      # threshold ≥ ratio · median
    volume_min_excess_rows: int = 100  # threshold ≥ median + this (rows per day)
    volume_min_excess_requests: int = 20
    burst_span_s: float = 600.0
    burst_min_denials: int = 10
    burst_min_ratio: float = 0.5       # denials / decisions inside the burst span
    hour_min_history_requests: int = 20
    key_min_active_days: int = 3
    verify_min_no_match: int = 30
    verify_min_ratio: float = 0.5
    max_entries: int = 50              # seqs listed per flag (the total is always given)
    batch_size: int = 2000
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class Window:
    """``[since, until)`` examined against ``[history_since, since)``."""

    since: dt.datetime
    until: dt.datetime
    history_since: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"since": rfc3339(self.since), "until": rfc3339(self.until),
                "history_since": rfc3339(self.history_since),
                "days": (self.until - self.since) / _DAY,
                "history_days": (self.since - self.history_since) / _DAY}


@dataclass(frozen=True)
class Anomaly:
    """One flag: what, whose, how sure, the numbers, and the entries that support it."""

    kind: AnomalyKind
    severity: Severity
    grant_id: str | None
    operator_id: str | None
    key_id: str | None
    dataset: str | None
    message: str
    evidence: dict[str, Any]
    entries: tuple[int, ...]
    entries_total: int

    def to_json(self, link: str = "/admin/v1/audit/entries/{seq}") -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "grant_id": self.grant_id,
                "operator_id": self.operator_id, "key_id": self.key_id,
                "dataset": self.dataset, "message": self.message, "evidence": self.evidence,
                "entries": [{"seq": s, "href": link.format(seq=s)} for s in self.entries],
                "entries_total": self.entries_total}


# --- reading the log ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """What the flags need from one decision or release entry."""

    seq: int
    time: dt.datetime
    kind: str
    subject: str
    grant_id: str | None
    operator_id: str | None
    dataset: str | None
    allowed: bool | None
    action: str | None
    key_id: str | None
    client_ip: str | None
    row_count: int | None
    no_match: bool | None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _event(row: Any) -> Event | None:
    try:
        entry = parse_leaf(row.entry).entry
    except ValueError:
        raise AuditUnavailable(f"audit entry {row.seq} is damaged; run `pgw audit verify`"
                               ) from None
    principal = entry.get("principal")
    principal = principal if isinstance(principal, dict) else {}
    subject = row.grant_id or (f"operator:{row.operator_id}" if row.operator_id else None)
    if subject is None:
        return None
    rows, no_matches = entry.get("row_count"), entry.get("no_matches")
    return Event(seq=row.seq, time=as_utc(row.time), kind=row.kind, subject=subject,
                 grant_id=row.grant_id, operator_id=row.operator_id, dataset=row.dataset,
                 allowed=row.allowed, action=_str(entry.get("action")),
                 key_id=_str(principal.get("key_id")), client_ip=_str(entry.get("client_ip")),
                 row_count=rows if type(rows) is int else None,
                 no_match=bool(no_matches) if type(no_matches) is int else None)


def read_events(engine: sa.Engine, since: dt.datetime, until: dt.datetime, *,
                batch_size: int = 2000) -> Iterator[Event]:
    """Decision and release entries in ``[since, until)``, in order, one page at a time."""
    after = -1
    cols = (audit_log.c.seq, audit_log.c.time, audit_log.c.kind, audit_log.c.operator_id,
            audit_log.c.dataset, audit_log.c.grant_id, audit_log.c.allowed, audit_log.c.entry)
    while True:
        q = (sa.select(*cols)
             .where(audit_log.c.time >= since, audit_log.c.time < until,
                    audit_log.c.kind.in_(("decision", "release")), audit_log.c.seq > after)
             .order_by(audit_log.c.seq).limit(batch_size))
        try:
            with engine.connect() as conn:
                rows = conn.execute(q).all()
        except sa.exc.SQLAlchemyError as exc:
            raise AuditUnavailable(f"audit log unreadable ({type(exc).__name__})") from None
        for row in rows:
            event = _event(row)
            if event is not None:
                yield event
        if len(rows) < batch_size:
            return
        after = rows[-1].seq


# --- profiles and flags -------------------------------------------------------------------


@dataclass
class _Profile:
    """A grant's history, folded: per-day requests and rows, hours of day used."""

    requests: list[int]
    rows: list[int]
    hours: set[int] = field(default_factory=set)

    def active(self) -> list[int]:
        return [d for d, n in enumerate(self.requests) if n]


@dataclass
class _KeyProfile:
    addresses: set[str] = field(default_factory=set)
    days: set[int] = field(default_factory=set)


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == "Asia/Shanghai":  # no tz database: China has kept UTC+8 without DST
            return dt.timezone(dt.timedelta(hours=8), "CST")
        raise


class _Scorer:
    def __init__(self, window: Window, cfg: AnomalyConfig, kinds: frozenset[str]):
        self.w, self.cfg, self.kinds = window, cfg, kinds
        self.zone = _zone(cfg.timezone)
        self.n_days = round((window.since - window.history_since) / _DAY)
        self.profiles: dict[str, _Profile] = {}
        self.keys: dict[str, _KeyProfile] = {}
        self.window: dict[str, list[Event]] = {}

    def add(self, e: Event) -> None:
        if e.time >= self.w.since:
            self.window.setdefault(e.subject, []).append(e)
            return
        day = min(int((self.w.since - e.time) / _DAY), self.n_days - 1)
        p = self.profiles.setdefault(e.subject, _Profile([0] * self.n_days, [0] * self.n_days))
        if e.kind == "decision":
            p.requests[day] += 1
            p.hours.add(e.time.astimezone(self.zone).hour)
            if e.key_id and e.client_ip:
                k = self.keys.setdefault(e.key_id, _KeyProfile())
                k.addresses.add(e.client_ip)
                k.days.add(day)
        elif e.action == "rows" and e.row_count is not None:
            p.rows[day] += e.row_count

    def flags(self) -> list[Anomaly]:
        out: list[Anomaly] = []
        for subject, events in self.window.items():
            events.sort(key=lambda e: (e.time, e.seq))
            p = self.profiles.get(subject)
            if "volume" in self.kinds and p is not None:
                out += self._volume(p, events)
            if "denial_burst" in self.kinds:
                out += self._bursts(events)
            if "unusual_hour" in self.kinds and p is not None:
                out += self._hours(p, events)
            if "new_client_address" in self.kinds:
                out += self._addresses(events)
            if "verify_enumeration" in self.kinds:
                out += self._verify(events)
        return out

    def _flag(self, kind: AnomalyKind, severity: Severity, support: Sequence[Event],
              message: str, evidence: dict[str, Any], key_id: str | None = None) -> Anomaly:
        first = support[0]
        datasets = {e.dataset for e in support}
        seqs = sorted(e.seq for e in support)
        who = (f"grant {first.grant_id}" if first.grant_id
               else f"operator {first.operator_id} (no grant)")
        return Anomaly(kind=kind, severity=severity, grant_id=first.grant_id,
                       operator_id=first.operator_id, key_id=key_id,
                       dataset=datasets.pop() if len(datasets) == 1 else None,
                       message=f"{who}: {message}", evidence=evidence,
                       entries=tuple(seqs[:self.cfg.max_entries]), entries_total=len(seqs))

    def _volume(self, p: _Profile, events: list[Event]) -> list[Anomaly]:
        cfg, active = self.cfg, p.active()
        if len(active) < cfg.min_active_days:
            return []
        out = []
        by_day: dict[int, list[Event]] = {}
        for e in events:
            by_day.setdefault(int((self.w.until - e.time) / _DAY), []).append(e)
        for measure, history, excess in (
                ("rows", p.rows, cfg.volume_min_excess_rows),
                ("requests", p.requests, cfg.volume_min_excess_requests)):
            base = volume_baseline([history[d] for d in active], k=cfg.volume_k,
                                   min_ratio=cfg.volume_min_ratio, min_excess=excess)
            for back, day_events in sorted(by_day.items()):
                if measure == "rows":
                    support = [e for e in day_events if e.kind == "release"
                               and e.action == "rows" and e.row_count is not None]
                    observed = sum(e.row_count or 0 for e in support)
                else:
                    support = [e for e in day_events if e.kind == "decision"]
                    observed = len(support)
                if not support or observed <= base.threshold:
                    continue
                start = max(self.w.until - (back + 1) * _DAY, self.w.since)
                end = self.w.until - back * _DAY
                out.append(self._flag(
                    "volume", "high" if observed >= 2 * base.threshold else "medium", support,
                    f"{observed} {measure} in the day to {rfc3339(end)}, above the threshold "
                    f"{base.threshold:.0f} (median {base.median:g}/day over {len(active)} "
                    f"active days)",
                    {"measure": measure, "day_start": rfc3339(start), "day_end": rfc3339(end),
                     "observed": observed, "baseline_median": base.median,
                     "baseline_mad": base.mad, "threshold": base.threshold,
                     "history_active_days": len(active), "k": cfg.volume_k,
                     "min_ratio": cfg.volume_min_ratio, "min_excess": excess}))
        return out

    def _bursts(self, events: list[Event]) -> list[Anomaly]:
        cfg = self.cfg
        decisions = [e for e in events if e.kind == "decision"]
        denials = [e for e in decisions if e.allowed is False]
        if len(denials) < cfg.burst_min_denials:
            return []
        found = find_bursts([e.time.timestamp() for e in denials],
                            [e.time.timestamp() for e in decisions], span_s=cfg.burst_span_s,
                            min_denials=cfg.burst_min_denials, min_ratio=cfg.burst_min_ratio)
        if not found:
            return []
        support = [denials[k] for i, j in found for k in range(i, j)]
        i, j = max(found, key=lambda r: r[1] - r[0])
        start, end = denials[i].time, denials[j - 1].time
        in_span = sum(1 for e in decisions if start <= e.time <= end)
        worst = j - i
        return [self._flag(
            "denial_burst", "high" if worst >= 3 * cfg.burst_min_denials else "medium",
            support,
            f"{worst} denials within {(end - start).total_seconds():.0f} s "
            f"({len(found)} burst(s), {len(support)} denials in all)",
            {"bursts": len(found), "denials": len(support), "max_burst_denials": worst,
             "max_burst_decisions": in_span, "deny_ratio": worst / max(in_span, 1),
             "max_burst_start": rfc3339(start), "max_burst_end": rfc3339(end),
             "span_s": cfg.burst_span_s, "min_denials": cfg.burst_min_denials,
             "min_ratio": cfg.burst_min_ratio})]

    def _hours(self, p: _Profile, events: list[Event]) -> list[Anomaly]:
        cfg, active = self.cfg, p.active()
        if len(active) < cfg.min_active_days or sum(p.requests) < cfg.hour_min_history_requests:
            return []
        support = [e for e in events if e.kind == "decision"
                   and e.time.astimezone(self.zone).hour not in p.hours]
        if not support:
            return []
        hours = sorted({e.time.astimezone(self.zone).hour for e in support})
        return [self._flag(
            "unusual_hour",
            "medium" if any(e.allowed for e in support) else "low", support,
            f"{len(support)} requests at hour(s) {hours} ({cfg.timezone}), never used in "
            f"{len(active)} active days of history",
            {"hours": hours, "requests": len(support), "history_hours": sorted(p.hours),
             "history_active_days": len(active), "history_requests": sum(p.requests),
             "timezone": cfg.timezone})]

    def _addresses(self, events: list[Event]) -> list[Anomaly]:
        new: dict[str, dict[str, list[Event]]] = {}
        for e in events:
            if e.kind != "decision" or not e.key_id or not e.client_ip:
                continue
            k = self.keys.get(e.key_id)
            if (k is not None and len(k.days) >= self.cfg.key_min_active_days
                    and e.client_ip not in k.addresses):
                new.setdefault(e.key_id, {}).setdefault(e.client_ip, []).append(e)
        out = []
        for key_id, by_ip in new.items():
            support = [e for evs in by_ip.values() for e in evs]
            shown = [{"address": mask_address(ip), "requests": len(evs),
                      "first_seq": evs[0].seq} for ip, evs in by_ip.items()]
            known = self.keys[key_id]
            out.append(self._flag(
                "new_client_address", "medium", support,
                f"key {key_id} used from {len(by_ip)} address(es) not seen in its history "
                f"({', '.join(str(s['address']) for s in shown)})",
                {"addresses": shown, "requests": len(support),
                 "known_addresses": len(known.addresses),
                 "key_history_active_days": len(known.days)}, key_id=key_id))
        return out

    def _verify(self, events: list[Event]) -> list[Anomaly]:
        cfg = self.cfg
        answers = [e for e in events if e.kind == "release" and e.action == "verify"
                   and e.no_match is not None]
        support = [e for e in answers if e.no_match]
        ratio = len(support) / max(len(answers), 1)
        if len(support) < cfg.verify_min_no_match or ratio < cfg.verify_min_ratio:
            return []
        return [self._flag(
            "verify_enumeration",
            "high" if len(support) >= 3 * cfg.verify_min_no_match else "medium", support,
            f"{len(support)} of {len(answers)} verify answers were no-match",
            {"no_match": len(support), "answers": len(answers), "no_match_ratio": ratio,
             "min_no_match": cfg.verify_min_no_match, "min_ratio": cfg.verify_min_ratio})]


# --- the entry point -------------------------------------------------------------------------


def examined_window(now: dt.datetime, *, since: dt.datetime | None = None,
                    window_days: int | None = None, history_days: int = 30) -> Window:
    """The window ``[since or now - window_days, now)`` and the history before it; raises
    BadRequest (``bad_window``, ``bad_history``) for what cannot be examined."""
    if since is not None and window_days is not None:
        raise BadRequest("give either since or days, not both", code="bad_window")
    if window_days is not None and not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise BadRequest(f"days must be between 1 and {MAX_WINDOW_DAYS}", code="bad_window")
    if not 1 <= history_days <= MAX_HISTORY_DAYS:
        raise BadRequest(f"history_days must be between 1 and {MAX_HISTORY_DAYS}",
                         code="bad_history")
    try:
        until = as_utc(now)
        start = as_utc(since) if since is not None else until - (window_days or 1) * _DAY
        history_since = start - history_days * _DAY
    except OverflowError:  # a date at the edge of the calendar (year 1)
        raise BadRequest("the window falls outside the calendar", code="bad_window") from None
    if not dt.timedelta(0) < until - start <= MAX_WINDOW_DAYS * _DAY:
        raise BadRequest(f"since must be before until, at most {MAX_WINDOW_DAYS} days",
                         code="bad_window")
    return Window(since=start, until=until, history_since=history_since)


def parse_kinds(kinds: Sequence[str] | None) -> frozenset[str]:
    """The flag kinds asked for (all when none); raises BadRequest ``bad_kind``."""
    if not kinds:
        return frozenset(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise BadRequest(f"unknown anomaly kind(s) {unknown}; known: {list(KINDS)}",
                         code="bad_kind")
    return frozenset(kinds)


_RANK = {"high": 0, "medium": 1, "low": 2}


def detect_anomalies(engine: sa.Engine, *, now: dt.datetime, window_days: int | None = None,
                     since: dt.datetime | None = None, history_days: int = 30,
                     grant_id: str | None = None, kinds: Sequence[str] | None = None,
                     config: AnomalyConfig = AnomalyConfig()) -> list[Anomaly]:
    """Flags for the window ending at ``now`` (``window_days``, default 1, or from
    ``since``), each grant against its own ``history_days`` before the window; highest
    severity first. ``grant_id`` narrows the answer, not what is read (a key's addresses
    are its history under every grant)."""
    window = examined_window(now, since=since, window_days=window_days,
                             history_days=history_days)
    scorer = _Scorer(window, config, parse_kinds(kinds))
    for event in read_events(engine, window.history_since, window.until,
                             batch_size=config.batch_size):
        scorer.add(event)
    flags = [a for a in scorer.flags() if grant_id is None or a.grant_id == grant_id]
    return sorted(flags, key=lambda a: (_RANK[a.severity], a.entries[0] if a.entries else 0))
