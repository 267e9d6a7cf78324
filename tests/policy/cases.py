"""The shared table of decision cases: policy input -> the full decision document.

Every engine available on the machine must produce exactly these documents
(DESIGN.md, "Policy engines"). Inputs have the shape the gateway builds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

NOW = "2026-11-29T05:00:00Z"


def _field(
    pii: str | None,
    level: int,
    *,
    qi: bool = False,
    operator: str | None = None,
    free_text: bool = False,
    type: str = "string",
) -> dict[str, Any]:
    return {
        "pii": pii,
        "level": level,
        "quasi_identifier": qi,
        "operator": operator,
        "free_text": free_text,
        "type": type,
    }


FIELDS: dict[str, dict[str, Any]] = {
    "name": _field("PERSON", 3, operator="mask"),
    "id_no": _field("ID_CARD", 4),
    "phone": _field("PHONE_NUMBER", 3),
    "birth_date": _field("DATE_OF_BIRTH", 3, qi=True),
    "gender": _field(None, 1, qi=True),
    "region_code": _field(None, 1, qi=True),
    "age": _field(None, 2, qi=True, operator="generalize", type="integer"),
    "income": _field(None, 3, type="number"),
    "hh_no": _field(None, 3, operator="pseudonymize"),
    "note": _field(None, 2, free_text=True),
    "company_uscc": _field("USCC", 1, operator="keep"),  # public enterprise id
    "agent_name": _field("PERSON", 3, operator="keep"),  # catalog keep: not honoured
    "blood_type": _field("MEDICAL", 4),  # a PII type with no default operator
    "odd": _field(None, 1, operator="shuffle"),  # an operator the gateway lacks
    "remark": _field(None, 2, operator="keep", free_text=True),  # catalog keep: not honoured
}

GRANT: dict[str, Any] = {
    "id": "g-1",
    "kind": "license",
    "status": "active",
    "fields": ["name", "gender", "region_code", "phone"],
    "purposes": ["research"],
    "modes": ["rows"],
    "row_filter": [{"field": "region_code", "op": "in", "value": ["360102"]}],
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_to": "2027-01-01T00:00:00Z",
    "quota": {"max_rows_per_request": 500},
    "fee_mode": "free",
    "operators": {"name": {"operator": "pseudonymize", "params": {}}},
}


_DROP = object()  # in make_input: remove the key


def make_input(
    open_class: str, fields: list[str], grant: dict[str, Any] | None = None, **changes: Any
) -> dict[str, Any]:
    """A policy input for dataset ``huji_renkou``; ``changes`` replace top-level
    keys, or nested ones with ``section__key`` (e.g. ``request__purpose``)."""
    doc: dict[str, Any] = {
        "subject": {
            "operator_id": "op-1",
            "org_uscc": "91310110666007217T",
            "roles": ["operator"],
            "key_id": "k-1",
        },
        "action": "rows",
        "dataset": {
            "id": "huji_renkou",
            "open_class": open_class,
            "owner": "市公安局",
            "fields": copy.deepcopy(FIELDS),
        },
        "request": {
            "fields": fields,
            "filters": [{"field": "gender", "op": "eq", "value": "男"}],
            "purpose": "research",
            "scenario": "人口结构研究",
            "limit": 100,
        },
        "grant": copy.deepcopy(grant),
        "usage": {"rows_today": 0, "requests_this_minute": 0},
        "env": {"now": NOW, "client_ip": "127.0.0.1"},
    }
    for key, value in changes.items():
        section, _, inner = key.partition("__")
        if inner:
            if value is _DROP:
                del doc[section][inner]
            else:
                doc[section][inner] = value
        else:
            doc[section] = value
    return doc


def grant(**changes: Any) -> dict[str, Any]:
    """GRANT with some keys replaced."""
    return {**copy.deepcopy(GRANT), **changes}


def deny(*reasons: str, k_min: int | None = 5) -> dict[str, Any]:
    """The document of a deny with these reasons (already sorted)."""
    return {
        "allow": False,
        "reasons": list(reasons),
        "fields": {},
        "row_filter": [],
        "max_rows": 0,
        "modes": [],
        "k_min": k_min,
    }


def op(operator: str, **params: Any) -> dict[str, Any]:
    return {"operator": operator, "params": params}


@dataclass(frozen=True)
class Case:
    id: str
    input: dict[str, Any]
    expected: dict[str, Any]


_OPEN = 'open_data: dataset "huji_renkou" is unconditionally open'
_GRANTED = 'granted: grant "g-1" permits rows for purpose "research"'
_ROW_FILTER = [{"field": "region_code", "op": "in", "value": ["360102"]}]


_OPEN_MODES = ["rows", "aggregate"]  # data.gateway_config.unconditional_modes


def _allow(
    reason: str,
    fields: dict[str, Any],
    *,
    row_filter: list[Any] | None = None,
    max_rows: int = 10000,
    modes: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "allow": True,
        "reasons": [reason],
        "fields": fields,
        "row_filter": row_filter or [],
        "max_rows": max_rows,
        "modes": modes or (_OPEN_MODES if reason == _OPEN else ["rows"]),
        "k_min": 5,
    }


# --- aggregate and verify (gateway.products) -----------------------------------------

AGG_GRANT = grant(
    fields=["gender", "region_code", "age", "income", "id_no", "hh_no", "name", "note"],
    modes=["aggregate", "verify"],
    operators={},
)
_AGG_GRANTED = 'granted: grant "g-1" permits aggregate for purpose "research"'
_VERIFY_GRANTED = 'granted: grant "g-1" permits verify for purpose "research"'
_DIMS = ["age", "gender", "income", "region_code"]


def agg_input(
    open_class: str,
    dimensions: list[str],
    measures: list[dict[str, Any]],
    grant_doc: dict[str, Any] | None = AGG_GRANT,
    **changes: Any,
) -> dict[str, Any]:
    """An aggregate request: dimensions, measures, filter fields and ops (never values)."""
    request = {
        "dimensions": dimensions,
        "measures": measures,
        "filters": [{"field": "region_code", "op": "prefix"}],
        "purpose": "research",
        "scenario": "人口结构研究",
    }
    return make_input(open_class, [], grant_doc, action="aggregate", request=request, **changes)


def verify_input(
    open_class: str, claim_fields: list[str], grant_doc: dict[str, Any] | None = AGG_GRANT,
    **changes: Any,
) -> dict[str, Any]:
    """A verification request: the claimed field names (never the claimed values)."""
    request = {"claim_fields": claim_fields, "purpose": "research", "scenario": "身份核验"}
    return make_input(open_class, [], grant_doc, action="verify", request=request, **changes)


def _agg_allow(
    reason: str,
    *,
    modes: list[str],
    dimensions: list[str],
    measures: list[str],
    k_min: int = 5,
    epsilon: float | None = None,
    epsilon_total: float | None = None,
    bounds: dict[str, Any] | None = None,
    row_filter: list[Any] | None = None,
    max_rows: int = 500,
) -> dict[str, Any]:
    return {
        "allow": True, "reasons": [reason], "fields": {}, "row_filter": row_filter or [],
        "max_rows": max_rows, "modes": modes, "k_min": k_min, "epsilon": epsilon,
        "epsilon_total": epsilon_total, "dimensions": dimensions, "measures": measures,
        "bounds": bounds or {},
    }


_COUNT = {"op": "count", "field": None}
_AVG_INCOME = {"op": "avg", "field": "income"}
_VERIFY_FIELDS = ["age", "gender", "hh_no", "id_no", "income", "name", "region_code"]

PRODUCT_CASES: list[Case] = [
    Case(
        "aggregate_not_open_under_grant",
        agg_input("not_open", ["region_code", "gender"], [_COUNT, _AVG_INCOME]),
        _agg_allow(_AGG_GRANTED, modes=["aggregate", "verify"], dimensions=_DIMS,
                   measures=["age", "income"], row_filter=_ROW_FILTER),
    ),
    Case(
        "aggregate_unconditional_without_grant",
        agg_input("unconditional", ["gender"], [_COUNT], None),
        _agg_allow(
            _OPEN, modes=_OPEN_MODES, max_rows=10000,
            dimensions=["age", "birth_date", "company_uscc", "gender", "income", "region_code"],
            measures=["age", "income"],
        ),
    ),
    Case(
        "aggregate_noise_and_k_from_grant",
        agg_input(
            "conditional", ["region_code"], [_COUNT, _AVG_INCOME],
            grant(fields=["region_code", "income"], modes=["aggregate"], operators={}, quota={
                "k_min": 10, "epsilon_per_request": 1, "epsilon_total": 5,
                "clamp_min.income": 0, "clamp_max.income": 20000,
            }),
        ),
        _agg_allow(_AGG_GRANTED, modes=["aggregate"], dimensions=["income", "region_code"],
                   measures=["income"], k_min=10, epsilon=1, epsilon_total=5,
                   bounds={"income": [0, 20000]}, row_filter=_ROW_FILTER, max_rows=10000),
    ),
    Case(
        "aggregate_mode_not_granted",
        agg_input("not_open", ["gender"], [_COUNT], GRANT),
        deny('mode_not_granted: grant "g-1" does not permit mode "aggregate"'),
    ),
    Case(
        "aggregate_purpose_not_granted",
        agg_input("not_open", ["gender"], [_COUNT], request__purpose="marketing"),
        deny('purpose_not_granted: grant "g-1" does not cover purpose "marketing"'),
    ),
    Case(
        "aggregate_after_term",
        agg_input("not_open", ["gender"], [_COUNT], env={"now": "2027-01-01T00:00:00Z"}),
        deny('grant_expired: grant "g-1" expired at 2027-01-01T00:00:00Z'),
    ),
    Case(
        "aggregate_not_open_without_grant",
        agg_input("not_open", ["gender"], [_COUNT], None),
        deny("no_grant: aggregate on not_open data needs an approved application or license"),
    ),
    Case(
        "aggregate_direct_identifier_dimension",
        agg_input("not_open", ["id_no", "gender"], [_COUNT]),
        deny('dimension_not_allowed: field "id_no" identifies a person and is never a '
             "group-by dimension"),
    ),
    Case(
        "aggregate_field_outside_grant",
        agg_input("not_open", ["birth_date"], [_COUNT]),
        deny('field_not_granted: grant "g-1" does not cover field "birth_date"'),
    ),
    Case(
        "aggregate_noisy_avg_without_bounds",
        agg_input("not_open", ["gender"], [_AVG_INCOME],
                  grant(**{**AGG_GRANT, "quota": {"epsilon_per_request": 1}})),
        deny('measure_not_bounded: noisy avg over "income" needs clamping bounds from the '
             "grant or the data authority"),
    ),
    Case(
        "verify_under_grant",
        verify_input("not_open", ["id_no", "name"]),
        {"allow": True, "reasons": [_VERIFY_GRANTED], "fields": {}, "row_filter": _ROW_FILTER,
         "max_rows": 500, "modes": ["aggregate", "verify"], "k_min": 5,
         "verify_fields": _VERIFY_FIELDS, "per_field": False, "verify_per_minute": 30},
    ),
    Case(
        "verify_per_field_and_rate_from_grant",
        verify_input("conditional", ["id_no"], grant(**{
            **AGG_GRANT, "quota": {"verify_per_field": 1, "verify_per_minute": 3}})),
        {"allow": True, "reasons": [_VERIFY_GRANTED], "fields": {}, "row_filter": _ROW_FILTER,
         "max_rows": 10000, "modes": ["aggregate", "verify"], "k_min": 5,
         "verify_fields": _VERIFY_FIELDS, "per_field": True, "verify_per_minute": 3},
    ),
    Case(
        "verify_needs_grant_on_open_data",
        verify_input("unconditional", ["company_uscc"], None),
        deny("no_grant: verify on unconditional data needs an approved application or license"),
    ),
    Case(
        "verify_mode_not_granted",
        verify_input("not_open", ["name"], GRANT),
        deny('mode_not_granted: grant "g-1" does not permit mode "verify"'),
    ),
    Case(
        "verify_claim_outside_grant",
        verify_input("not_open", ["id_no", "birth_date"]),
        deny('field_not_granted: grant "g-1" does not cover field "birth_date"'),
    ),
]


CASES: list[Case] = [
    # --- unconditional-open: any operator, no grant, PII still desensitized ----------
    Case(
        "unconditional_any_operator_pii_masked",
        make_input(
            "unconditional",
            ["name", "id_no", "phone", "birth_date", "gender", "age", "note"],
            subject={
                "operator_id": "op-stranger",
                "org_uscc": "x",
                "roles": ["operator"],
                "key_id": "k-9",
            },
        ),
        _allow(
            _OPEN,
            {
                "name": op("mask"),
                "id_no": op("mask"),
                "phone": op("mask"),
                "birth_date": op("generalize"),
                "gender": op("keep"),
                "age": op("generalize"),
                "note": op("scrub"),
            },
        ),
    ),
    Case(
        "unconditional_catalog_keep_only_for_uscc",
        make_input("unconditional", ["company_uscc", "agent_name"]),
        _allow(_OPEN, {"company_uscc": op("keep", explicit=True), "agent_name": op("mask")}),
    ),
    Case(
        "unconditional_free_text_scrubbed_despite_catalog_keep",
        make_input("unconditional", ["note", "remark"]),
        _allow(_OPEN, {"note": op("scrub"), "remark": op("scrub")}),
    ),
    Case(
        "unconditional_unknown_pii_type_suppressed",
        make_input("unconditional", ["blood_type"]),
        _allow(_OPEN, {"blood_type": op("suppress")}),
    ),
    Case(
        "unconditional_ignores_a_grant",
        make_input("unconditional", ["name"], grant(status="revoked")),
        _allow(_OPEN, {"name": op("mask")}),
    ),
    Case(
        "unconditional_undeclared_field_denied",
        make_input("unconditional", ["name", "secret"]),
        deny('unknown_field: field "secret" is not declared in dataset "huji_renkou"'),
    ),
    Case(
        "unconditional_unknown_operator_denied",
        make_input("unconditional", ["odd"]),
        deny(
            'unknown_operator: field "odd" would get operator "shuffle", '
            "which the gateway does not know"
        ),
    ),
    Case(
        "role_not_permitted",
        make_input(
            "unconditional",
            ["name"],
            subject={"operator_id": "op-1", "org_uscc": "x", "roles": ["auditor"], "key_id": "k"},
        ),
        deny('role_not_permitted: action "rows" needs one of the roles [operator]'),
    ),
    # --- conditional-open: only under an active, in-term grant -----------------------
    Case(
        "conditional_without_grant_denied",
        make_input("conditional", ["name"]),
        deny("no_grant: conditional-open data needs an approved application or license"),
    ),
    Case(
        "conditional_granted",
        make_input("conditional", ["name", "gender", "phone"], GRANT),
        _allow(
            _GRANTED,
            {"name": op("pseudonymize"), "gender": op("keep"), "phone": op("mask")},
            row_filter=_ROW_FILTER,
            max_rows=500,
        ),
    ),
    Case(
        "conditional_keep_override_is_explicit",
        make_input(
            "conditional",
            ["name", "gender", "note", "region_code"],
            grant(
                fields=["name", "gender", "note", "region_code"],
                operators={
                    "name": {"operator": "keep", "params": {}},
                    "note": {"operator": "keep"},
                    "region_code": {"operator": "keep", "params": {}},
                    "gender": {"operator": "generalize", "params": {"levels": 1}},
                },
            ),
        ),
        _allow(
            _GRANTED,
            {
                "name": op("keep", explicit=True),
                "note": op("keep", explicit=True),
                "region_code": op("keep"),
                "gender": op("generalize", levels=1),
            },
            row_filter=_ROW_FILTER,
            max_rows=500,
        ),
    ),
    Case(
        "conditional_defaults_without_quota_or_row_filter",
        make_input("conditional", ["gender"], grant(quota={}, row_filter=None, operators=None)),
        _allow(_GRANTED, {"gender": op("keep")}),
    ),
    Case(
        "conditional_field_not_granted",
        make_input("conditional", ["name", "id_no"], GRANT),
        deny('field_not_granted: grant "g-1" does not cover field "id_no"'),
    ),
    Case(
        "conditional_undeclared_field_is_unknown_not_ungranted",
        make_input("conditional", ["name", "secret"], GRANT),
        deny('unknown_field: field "secret" is not declared in dataset "huji_renkou"'),
    ),
    Case(
        "conditional_expired_at_valid_to",
        make_input("conditional", ["name"], GRANT, env={"now": "2027-01-01T00:00:00Z"}),
        deny('grant_expired: grant "g-1" expired at 2027-01-01T00:00:00Z'),
    ),
    Case(
        "conditional_not_yet_valid",
        make_input("conditional", ["name"], GRANT, env={"now": "2025-12-31T23:59:59Z"}),
        deny('grant_not_yet_valid: grant "g-1" is valid from 2026-01-01T00:00:00Z'),
    ),
    Case(
        "conditional_suspended",
        make_input("conditional", ["name"], grant(status="suspended")),
        deny('grant_suspended: grant "g-1" is suspended'),
    ),
    Case(
        "conditional_revoked",
        make_input("conditional", ["name"], grant(status="revoked")),
        deny('grant_revoked: grant "g-1" is revoked'),
    ),
    Case(
        "conditional_status_expired",
        make_input("conditional", ["name"], grant(status="expired")),
        deny('grant_expired: grant "g-1" is expired'),
    ),
    Case(
        "conditional_grant_for_another_dataset_or_operator",
        make_input("conditional", ["name"], grant(dataset_id="other", operator_id="op-2")),
        deny(
            'grant_not_for_dataset: grant "g-1" is for another dataset',
            'grant_not_for_operator: grant "g-1" is for another operator',
        ),
    ),
    Case(
        "conditional_grant_naming_this_dataset_and_operator",
        make_input("conditional", ["gender"], grant(dataset_id="huji_renkou", operator_id="op-1")),
        _allow(_GRANTED, {"gender": op("keep")}, row_filter=_ROW_FILTER, max_rows=500),
    ),
    Case(
        "conditional_mode_not_granted",
        make_input("conditional", ["name"], grant(modes=["verify"])),
        deny('mode_not_granted: grant "g-1" does not permit mode "rows"'),
    ),
    Case(
        "conditional_purpose_outside_grant",
        make_input("conditional", ["name"], GRANT, request__purpose="marketing"),
        deny('purpose_not_granted: grant "g-1" does not cover purpose "marketing"'),
    ),
    Case(
        "conditional_purpose_missing",
        make_input("conditional", ["name"], GRANT, request__purpose=_DROP),
        deny('purpose_not_granted: grant "g-1" does not cover purpose ""'),
    ),
    Case(
        "conditional_term_unknown_without_now",
        make_input("conditional", ["name"], GRANT, env={"client_ip": "127.0.0.1"}),
        deny('grant_term_unknown: the term of grant "g-1" cannot be checked'),
    ),
    Case(
        "conditional_all_reasons_sorted",
        make_input(
            "conditional",
            ["name", "id_no", "secret"],
            grant(status="suspended"),
            request__purpose="marketing",
            env={"now": "2027-06-01T00:00:00Z"},
        ),
        deny(
            'field_not_granted: grant "g-1" does not cover field "id_no"',
            'grant_expired: grant "g-1" expired at 2027-01-01T00:00:00Z',
            'grant_suspended: grant "g-1" is suspended',
            'purpose_not_granted: grant "g-1" does not cover purpose "marketing"',
            'unknown_field: field "secret" is not declared in dataset "huji_renkou"',
        ),
    ),
    # --- not-open, other actions, broken input ---------------------------------------
    Case(
        "not_open_never_rows",
        make_input("not_open", ["gender"], GRANT),
        deny("not_open_rows: not-open data is never released as rows"),
    ),
    Case(
        "unsupported_action",
        make_input("not_open", ["gender"], GRANT, action="train_model"),
        deny(
            'action_not_supported: action "train_model" is not decided by this policy yet',
            'role_not_permitted: action "train_model" needs one of the roles []',
        ),
    ),
    Case(
        "unknown_open_class",
        make_input("secret", ["gender"]),
        deny('unknown_open_class: dataset "huji_renkou" has no known open class'),
    ),
    Case(
        "empty_input_safe_default",
        {},
        deny("no_decision: the policy reached no decision for this input", k_min=None),
    ),
]

CASES += PRODUCT_CASES
