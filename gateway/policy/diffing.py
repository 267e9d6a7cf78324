"""Compare two decision documents (recorded vs. candidate) and tally the differences.

Pure functions over the DESIGN.md decision contract. What is weaker protection:

* an operator lower in :data:`OPERATOR_STRENGTH` (suppress/redact > scrub >
  pseudonymize > generalize > mask > keep; an unknown operator counts as weakest);
* a personal field (a PII type or free text) released that was not before;
* a row filter of the recorded decision missing from the candidate's;
* a higher ``max_rows`` / ``epsilon`` / ``epsilon_total`` / ``verify_per_minute``,
  a lower ``k_min`` (``None`` meaning "no cap" / "no noise" / "no k");
* deny → allow.

Two denies with the same reason codes are the same outcome (unchanged), whatever the
rest of the two documents says.

Excerpts never copy input values: field names, operators, reason codes (the text
before the first ``:``), row-filter field/op pairs and the policy's numbers only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPERATOR_STRENGTH: Mapping[str, int] = {
    "suppress": 6, "redact": 6, "scrub": 5, "pseudonymize": 4, "generalize": 3, "mask": 2,
    "keep": 1,
}
# Quota-like keys: +1 when a larger value is weaker, -1 when a smaller one is; the
# value standing for None (no cap, no noise, no k).
QUOTA_KEYS: Mapping[str, tuple[int, float]] = {
    "max_rows": (1, math.inf), "epsilon": (1, math.inf), "epsilon_total": (1, math.inf),
    "verify_per_minute": (1, math.inf), "k_min": (-1, 0.0),
}
_CORE_KEYS = frozenset({"allow", "reasons", "fields", "row_filter", *QUOTA_KEYS})
CATEGORIES = ("allow_to_deny", "deny_to_allow", "errors", "weaker", "fields_added",
              "fields_removed", "operator_changes", "row_filter_changes", "quota_changes",
              "other_changes")


@dataclass
class Diff:
    """What changed between one recorded decision and the candidate's."""

    changed: bool = False
    categories: list[str] = field(default_factory=list)
    weaker: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def reason_codes(doc: Mapping[str, Any] | None) -> list[str]:
    """The reasons' codes (``purpose_not_granted``), without the text that may quote values."""
    reasons = (doc or {}).get("reasons") or []
    return [str(r).split(":", 1)[0] for r in reasons if isinstance(r, str)]


def excerpt(doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """A value-free excerpt of a decision document for an example."""
    if doc is None:
        return {"allow": False}
    out: dict[str, Any] = {"allow": doc.get("allow") is True, "reasons": reason_codes(doc)}
    fields = doc.get("fields") or {}
    if isinstance(fields, Mapping) and fields:
        out["fields"] = {str(n): _op(r) for n, r in fields.items()}
    row_filter = doc.get("row_filter") or []
    if isinstance(row_filter, list) and row_filter:
        out["row_filter"] = [_filter_shape(f) for f in row_filter]
    for key in QUOTA_KEYS if out["allow"] else ():
        if key in doc and _number_or_none(doc[key]):
            out[key] = doc[key]
    return out


def _op(rule: Any) -> str:
    return str(rule.get("operator")) if isinstance(rule, Mapping) else "?"


def _filter_shape(f: Any) -> dict[str, str]:
    if not isinstance(f, Mapping):
        return {"field": "?", "op": "?"}
    return {"field": str(f.get("field", "?")), "op": str(f.get("op", "?"))}


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _strength(operator: str) -> int:
    return OPERATOR_STRENGTH.get(operator, 0)


def _personal(spec: Any) -> bool:
    return isinstance(spec, Mapping) and (isinstance(spec.get("pii"), str)
                                         or spec.get("free_text") is True)


def _level(key: str, value: Any) -> float | None:
    if value is None:
        return QUOTA_KEYS[key][1]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def compare(before: Mapping[str, Any], after: Mapping[str, Any] | None,
            dataset: str, declared: Mapping[str, Any], tally: Tally) -> Diff:
    """Diff ``before`` (recorded) against ``after`` (candidate; None = error, a deny) and
    count it in ``tally``. ``declared`` is the input's ``dataset.fields`` (for PII)."""
    diff = Diff()
    was, now = before.get("allow") is True, after is not None and after.get("allow") is True
    if after is not None and (before == after or (
            not was and not now and reason_codes(before) == reason_codes(after))):
        return diff  # a deny for the same reasons is the same outcome
    diff.changed = True
    if was and not now:
        diff.categories.append("allow_to_deny")
    elif now and not was:
        diff.categories.append("deny_to_allow")
        diff.weaker.append("deny_to_allow")
    if after is None or not (was and now):
        if after is not None and not was and not now:
            tally.other_changes["deny_reasons"] += 1
            diff.categories.append("other_changes")
        return diff
    _compare_fields(before, after, dataset, declared, tally, diff)
    _compare_rows_and_quotas(before, after, tally, diff)
    others = sorted(k for k in set(before) | set(after)
                    if k not in _CORE_KEYS and before.get(k) != after.get(k))
    if reason_codes(before) != reason_codes(after):
        others.append("reasons")
    for key in others:
        tally.other_changes[key] += 1
    if others:
        diff.categories.append("other_changes")
        diff.notes.extend(f"{k} changed" for k in others)
    return diff


def _compare_fields(before: Mapping[str, Any], after: Mapping[str, Any], dataset: str,
                    declared: Mapping[str, Any], tally: Tally, diff: Diff) -> None:
    old = before.get("fields") or {}
    new = after.get("fields") or {}
    for name in sorted(set(new) - set(old)):
        key = f"{dataset}.{name}"
        tally.fields_added[key] += 1
        _once(diff, "fields_added")
        diff.notes.append(f"{key} added ({_op(new[name])})")
        if _personal(declared.get(name)):
            diff.weaker.append(f"pii_field_released {key}")
    for name in sorted(set(old) - set(new)):
        key = f"{dataset}.{name}"
        tally.fields_removed[key] += 1
        _once(diff, "fields_removed")
        diff.notes.append(f"{key} removed")
    for name in sorted(set(old) & set(new)):
        if old[name] == new[name]:
            continue
        key = f"{dataset}.{name}"
        a, b = _op(old[name]), _op(new[name])
        if a == b:
            tally.params_changes[key] += 1
            _once(diff, "operator_changes")
            diff.notes.append(f"{key} {a} params changed")
            continue
        change = f"{a}→{b}"
        tally.operator_changes.setdefault(key, Counter())[change] += 1
        _once(diff, "operator_changes")
        diff.notes.append(f"{key} {change}")
        if _strength(b) < _strength(a):
            diff.weaker.append(f"operator {key} {change}")


def _compare_rows_and_quotas(before: Mapping[str, Any], after: Mapping[str, Any],
                             tally: Tally, diff: Diff) -> None:
    old_rf = list(before.get("row_filter") or [])
    new_rf = list(after.get("row_filter") or [])
    if old_rf != new_rf:
        removed = [f for f in old_rf if f not in new_rf]
        kind = ("removed" if removed and not new_rf else "loosened" if removed
                else "added")
        tally.row_filter_changes[kind] += 1
        _once(diff, "row_filter_changes")
        diff.notes.append(f"row_filter {kind}")
        if removed:
            diff.weaker.append(f"row_filter_{kind}")
    for key, (direction, _) in QUOTA_KEYS.items():
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        tally.quota_changes.setdefault(key, Counter())[f"{a}→{b}"] += 1
        _once(diff, "quota_changes")
        diff.notes.append(f"{key} {a}→{b}")
        la, lb = _level(key, a), _level(key, b)
        if la is not None and lb is not None and (lb - la) * direction > 0:
            diff.weaker.append(f"{key}_{'increased' if direction > 0 else 'lowered'}")


def _once(diff: Diff, category: str) -> None:
    if category not in diff.categories:
        diff.categories.append(category)


@dataclass
class Tally:
    """Counts and examples of one replay (or one chunk of it; :meth:`merge` adds up)."""

    examples_per_category: int = 5
    total: int = 0
    unchanged: int = 0
    changed: int = 0
    allow_to_deny: int = 0
    deny_to_allow: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    recorded_versions: Counter[str] = field(default_factory=Counter)
    fields_added: Counter[str] = field(default_factory=Counter)
    fields_removed: Counter[str] = field(default_factory=Counter)
    operator_changes: dict[str, Counter[str]] = field(default_factory=dict)
    params_changes: Counter[str] = field(default_factory=Counter)
    weaker: Counter[str] = field(default_factory=Counter)
    weaker_decisions: int = 0
    row_filter_changes: Counter[str] = field(default_factory=Counter)
    quota_changes: dict[str, Counter[str]] = field(default_factory=dict)
    other_changes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def count(self, diff: Diff, example: dict[str, Any]) -> None:
        """Add one compared decision; ``example`` is its value-free excerpt."""
        self.total += 1
        if not diff.changed:
            self.unchanged += 1
            return
        self.changed += 1
        if "allow_to_deny" in diff.categories:
            self.allow_to_deny += 1
        if "deny_to_allow" in diff.categories:
            self.deny_to_allow += 1
        for label in diff.weaker:
            self.weaker[label] += 1
        categories = list(diff.categories)
        if diff.weaker:
            self.weaker_decisions += 1
            categories.append("weaker")
        for category in categories:
            self._example(category, {**example, "changes": diff.weaker + diff.notes})

    def error(self, code: str, example: dict[str, Any]) -> None:
        """Add one decision the candidate could not make (counted as a deny)."""
        self._example("errors", example)
        self.errors[code] += 1

    def _example(self, category: str, example: dict[str, Any]) -> None:
        kept = self.examples.setdefault(category, [])
        if len(kept) < self.examples_per_category:
            kept.append(example)

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts; its examples come after this tally's."""
        for name in ("total", "unchanged", "changed", "allow_to_deny", "deny_to_allow",
                     "weaker_decisions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("errors", "skipped", "recorded_versions", "fields_added",
                     "fields_removed", "params_changes", "weaker", "row_filter_changes",
                     "other_changes"):
            getattr(self, name).update(getattr(other, name))
        for name in ("operator_changes", "quota_changes"):
            mine: dict[str, Counter[str]] = getattr(self, name)
            for key, counts in getattr(other, name).items():
                mine.setdefault(key, Counter()).update(counts)
        for category, items in other.examples.items():
            for item in items:
                self._example(category, item)
