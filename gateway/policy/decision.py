"""The decision contract (DESIGN.md, "Policy decision") as typed values, and the engine seam."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from gateway.errors import PolicyUnavailable

# Operators the gateway knows how to apply. A decision naming any other is refused.
KNOWN_OPERATORS = frozenset(
    {"keep", "mask", "pseudonymize", "generalize", "suppress", "redact", "scrub"}
)
FILTER_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "in", "between", "prefix", "is_null"})


@dataclass(frozen=True)
class FieldRule:
    operator: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """``data.gateway.decision`` parsed. Build it with :func:`parse_decision` only."""

    allow: bool
    reasons: tuple[str, ...]
    fields: Mapping[str, FieldRule]
    row_filter: tuple[Mapping[str, Any], ...]
    max_rows: int | None
    modes: tuple[str, ...]
    k_min: int | None
    engine: str = ""
    policy_version: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    policy_version_id: int | None = None  # the stored version, when versions are in use

    @classmethod
    def deny(cls, reason: str, *, engine: str = "", policy_version: str = "") -> "Decision":
        return cls(False, (reason,), {}, (), None, (), None, engine, policy_version)


class PolicyEngine(Protocol):
    """One verb: decide. Implementations raise ``PolicyUnavailable`` when they cannot
    answer (error, timeout, undefined result); callers treat that as deny (503)."""

    name: str

    def decide(self, input: Mapping[str, Any]) -> Decision: ...

    def version(self) -> str:
        """Identifier (content hash) of the policy set this engine decides with."""
        ...


def parse_decision(
    doc: Any, *, engine: str = "", policy_version: str = ""
) -> Decision:
    """Validate a decision document. Anything malformed is a ``PolicyUnavailable``
    (fail closed), never a partial allow."""
    if not isinstance(doc, Mapping):
        raise PolicyUnavailable("policy returned no decision document", code="policy_undefined")
    allow = doc.get("allow")
    if not isinstance(allow, bool):
        raise PolicyUnavailable("policy decision has no boolean 'allow'", code="policy_malformed")
    reasons = doc.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise PolicyUnavailable("policy decision 'reasons' is not a list of strings",
                                code="policy_malformed")
    fields_doc = doc.get("fields", {})
    if not isinstance(fields_doc, Mapping):
        raise PolicyUnavailable("policy decision 'fields' is not an object", code="policy_malformed")
    fields: dict[str, FieldRule] = {}
    for name, rule in fields_doc.items():
        if not isinstance(rule, Mapping) or not isinstance(rule.get("operator"), str):
            raise PolicyUnavailable(f"policy decision field '{name}' has no operator",
                                    code="policy_malformed")
        params = rule.get("params", {})
        if not isinstance(params, Mapping):
            raise PolicyUnavailable(f"policy decision field '{name}' params is not an object",
                                    code="policy_malformed")
        fields[str(name)] = FieldRule(rule["operator"], dict(params))
    row_filter = doc.get("row_filter", [])
    if not isinstance(row_filter, list) or not all(isinstance(f, Mapping) for f in row_filter):
        raise PolicyUnavailable("policy decision 'row_filter' is not a list of filters",
                                code="policy_malformed")
    max_rows = doc.get("max_rows")
    if max_rows is not None and (not isinstance(max_rows, int) or isinstance(max_rows, bool)
                                 or max_rows < 0):
        raise PolicyUnavailable("policy decision 'max_rows' is not a non-negative integer",
                                code="policy_malformed")
    modes = doc.get("modes", [])
    if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
        raise PolicyUnavailable("policy decision 'modes' is not a list", code="policy_malformed")
    k_min = doc.get("k_min")
    if k_min is not None and (not isinstance(k_min, int) or isinstance(k_min, bool)):
        raise PolicyUnavailable("policy decision 'k_min' is not an integer", code="policy_malformed")
    return Decision(
        allow=allow,
        reasons=tuple(reasons),
        fields=fields,
        row_filter=tuple(dict(f) for f in row_filter),
        max_rows=max_rows,
        modes=tuple(modes),
        k_min=k_min,
        engine=engine,
        policy_version=policy_version,
        raw=dict(doc),
    )
