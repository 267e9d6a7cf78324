"""Invariants the gateway enforces whatever the policy says (DESIGN.md, "Policy decision").

A decision that breaks one is a policy fault: the request is refused (503), never
released with a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from gateway.catalog import DatasetSpec
from gateway.errors import BadRequest, Forbidden, PolicyUnavailable
from gateway.plan import Filter, validate_filters
from gateway.policy.decision import KNOWN_OPERATORS, Decision


@dataclass(frozen=True)
class ReleasedField:
    name: str
    operator: str
    params: Mapping[str, Any]
    pii: str | None
    free_text: bool


def released_fields(decision: Decision, dataset: DatasetSpec, requested: Sequence[str],
                    action: str) -> list[ReleasedField]:
    """The fields to release, in request order, each with its operator, after checking the
    decision against the gateway's own invariants."""
    if not decision.allow:
        raise PolicyUnavailable("internal: released_fields called on a deny", code="policy_error")
    if action == "rows" and dataset.open_class == "not_open":
        raise PolicyUnavailable("policy allowed raw rows of a not-open dataset; refused",
                                code="policy_invariant")
    if action not in decision.modes:
        raise PolicyUnavailable(f"policy allowed but did not list mode {action!r}; refused",
                                code="policy_invariant")
    declared = dataset.field_map()
    extra = sorted(set(decision.fields) - set(requested))
    if extra:
        raise PolicyUnavailable(f"policy released fields that were not requested: {extra}",
                                code="policy_invariant")
    out: list[ReleasedField] = []
    for name in requested:
        rule = decision.fields.get(name)
        if rule is None:
            continue  # not listed → not released
        spec = declared.get(name)
        if spec is None:
            raise PolicyUnavailable(f"policy released undeclared field {name!r}",
                                    code="policy_invariant")
        if rule.operator not in KNOWN_OPERATORS:
            raise PolicyUnavailable(f"policy named unknown operator {rule.operator!r} for "
                                    f"field {name!r}", code="policy_bad_operator")
        if rule.operator == "keep" and spec.is_personal and rule.params.get("explicit") is not True:
            raise PolicyUnavailable(
                f"policy released personal field {name!r} unprotected without naming it "
                "explicitly (params.explicit)", code="policy_invariant")
        params = {k: v for k, v in rule.params.items() if k != "explicit"}
        out.append(ReleasedField(name, rule.operator, params, spec.pii, spec.free_text))
    return out


def check_filters_allowed(filters: Sequence[Filter], fields: Sequence[ReleasedField],
                          dataset: DatasetSpec) -> None:
    """Operator filters may only touch released fields, and a personal field only when it is
    released as is: filtering on a masked ID number would turn the query into a lookup
    oracle for values the operator may not see."""
    by_name = {f.name: f for f in fields}
    declared = dataset.field_map()
    for f in filters:
        rf = by_name.get(f.field)
        if rf is None:
            raise Forbidden(f"filter on field '{f.field}' which the policy does not release to "
                            "you",
                            code="filter_not_permitted")
        if declared[f.field].is_personal and rf.operator != "keep":
            raise Forbidden(f"filter on personal field '{f.field}' which is released "
                            f"{rf.operator}ed, not in clear", code="filter_not_permitted")


def decision_row_filter(decision: Decision, dataset: DatasetSpec) -> list[Filter]:
    try:
        return validate_filters(list(decision.row_filter), dataset, source="row_filter")
    except BadRequest as exc:
        raise PolicyUnavailable(f"policy row filter is invalid: {exc.message}",
                                code="policy_malformed") from None
