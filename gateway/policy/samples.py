"""Representative policy inputs (DESIGN.md, "Policy decision") for the contract check.

Each one exercises a different branch of a sane policy: open data without a grant,
rows under a grant, a refused not-open dataset, an aggregate and a verify. Whatever a
candidate policy answers, it must answer with a document of the contract's shape.
"""

from __future__ import annotations

import copy
from typing import Any

_NOW = "2026-11-29T05:00:00Z"


def _field(pii: str | None, level: int, *, qi: bool = False, operator: str | None = None,
           free_text: bool = False, type: str = "string") -> dict[str, Any]:
    return {"pii": pii, "level": level, "quasi_identifier": qi, "operator": operator,
            "free_text": free_text, "type": type}


_FIELDS = {
    "name": _field("PERSON", 3, operator="mask"),
    "id_no": _field("ID_CARD", 4),
    "phone": _field("PHONE_NUMBER", 3),
    "gender": _field(None, 1, qi=True),
    "region_code": _field(None, 1, qi=True),
    "age": _field(None, 2, qi=True, operator="generalize", type="integer"),
    "note": _field(None, 2, free_text=True),
}

_GRANT = {
    "id": "g-sample", "kind": "license", "status": "active",
    "fields": ["name", "gender", "region_code", "phone", "age"],
    "purposes": ["research"], "modes": ["rows", "aggregate", "verify"],
    "row_filter": [{"field": "region_code", "op": "in", "value": ["360102"]}],
    "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z",
    "quota": {"max_rows_per_request": 500}, "fee_mode": "free", "operators": {},
}


def _input(open_class: str, action: str, request: dict[str, Any],
           grant: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "subject": {"operator_id": "op-sample", "org_uscc": "91310110666007217T",
                    "roles": ["operator"], "key_id": "k-sample"},
        "action": action,
        "dataset": {"id": "sample_ds", "open_class": open_class, "owner": "市数据局",
                    "fields": copy.deepcopy(_FIELDS)},
        "request": request,
        "grant": copy.deepcopy(grant),
        "usage": {"rows_today": 0, "requests_this_minute": 0},
        "env": {"now": _NOW, "client_ip": "127.0.0.1"},
    }


def _rows(fields: list[str]) -> dict[str, Any]:
    return {"fields": fields, "filters": [{"field": "gender", "op": "eq", "value": "男"}],
            "purpose": "research", "scenario": "人口结构研究", "limit": 100}


def sample_inputs() -> dict[str, dict[str, Any]]:
    """Sample name -> policy input (fresh copies)."""
    aggregate = {"dimensions": ["gender"], "measures": [{"op": "count"}],
                 "filters": [{"field": "region_code", "op": "prefix"}],
                 "purpose": "research", "scenario": "人口结构研究"}
    verify = {"claim_fields": ["name"], "purpose": "research", "scenario": "核验"}
    return {
        "open_rows_no_grant": _input("unconditional", "rows", _rows(["gender", "name"]), None),
        "conditional_rows_granted": _input("conditional", "rows",
                                           _rows(["name", "gender", "phone"]), _GRANT),
        "conditional_rows_no_grant": _input("conditional", "rows", _rows(["name"]), None),
        "not_open_rows": _input("not_open", "rows", _rows(["name"]), _GRANT),
        "aggregate_granted": _input("conditional", "aggregate", aggregate, _GRANT),
        "verify_granted": _input("conditional", "verify", verify, _GRANT),
    }
