"""Fail closed: a policy engine that errors, a decision that breaks an invariant, or an
audit append that fails → 503 and nothing released. The engine here is a test double of
the ``PolicyEngine`` seam (the real engines' own failures are tested in tests/policy)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.auditlog import search
from gateway.errors import AuditUnavailable, PolicyUnavailable
from gateway.policy.decision import Decision, parse_decision
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds


class ScriptedEngine:
    """Answers every decision with ``doc`` (or raises ``exc``)."""

    name = "scripted"

    def __init__(self) -> None:
        self.doc: Any = None
        self.exc: Exception | None = None

    def decide(self, input: Mapping[str, Any]) -> Decision:
        if self.exc is not None:
            raise self.exc
        return parse_decision(self.doc, engine=self.name, policy_version="test")

    def version(self) -> str:
        return "test"


@pytest.fixture(scope="module")
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture(scope="module")
def client(demo_dir: Path, engine: ScriptedEngine) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir), policy=engine)) as c:
        yield c


def _allow(fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"allow": True, "reasons": [], "fields": fields, "row_filter": [],
            "max_rows": 100, "modes": ["rows"], "k_min": 5, **extra}


def _query(client: TestClient, demo_dir: Path, dataset: str = "qiye_dengji",
           fields: list[str] | None = None) -> Any:
    token = creds(demo_dir)["operators"]["op-hotline"]["token"]
    return client.post(f"/v1/datasets/{dataset}/query", headers=bearer(token),
                       json={"fields": fields or ["id", "legal_rep"], "limit": 5,
                             "purpose": "service_quality_analysis"})


@pytest.mark.parametrize("doc,code", [
    (None, "policy_undefined"),
    ({"reasons": []}, "policy_malformed"),
    ({"allow": "yes"}, "policy_malformed"),
    (_allow({"legal_rep": {"operator": "shuffle"}}), "policy_bad_operator"),
    (_allow({"legal_rep": {"operator": "keep"}}), "policy_invariant"),
    (_allow({"legal_rep": {"operator": "mask"}, "phone": {"operator": "mask"}}),
     "policy_invariant"),
    (_allow({"legal_rep": {"operator": "mask"}}, modes=["aggregate"]), "policy_invariant"),
    (_allow({"legal_rep": {"operator": "mask"}},
            row_filter=[{"field": "nope", "op": "eq", "value": 1}]), "policy_malformed"),
    (_allow({"legal_rep": {"operator": "mask"}}, max_rows=-1), "policy_malformed"),
])
def test_bad_decisions_refused(client: TestClient, demo_dir: Path, engine: ScriptedEngine,
                               doc: Any, code: str) -> None:
    engine.exc, engine.doc = None, doc
    r = _query(client, demo_dir)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == code
    assert "rows" not in r.json()


@pytest.mark.parametrize("code", ["policy_error", "policy_timeout", "policy_unreachable"])
def test_engine_failure_is_503(client: TestClient, demo_dir: Path, engine: ScriptedEngine,
                               code: str) -> None:
    engine.exc = PolicyUnavailable("engine said no", code=code)
    r = _query(client, demo_dir)
    assert r.status_code == 503 and r.json()["error"]["code"] == code


def test_not_open_rows_refused_even_if_policy_allows(client: TestClient, demo_dir: Path,
                                                     engine: ScriptedEngine) -> None:
    engine.exc, engine.doc = None, _allow({"name": {"operator": "mask"}})
    r = _query(client, demo_dir, "shebao_jiaona", ["name"])
    assert r.status_code == 503 and r.json()["error"]["code"] == "policy_invariant"


def test_explicit_keep_releases_in_clear(client: TestClient, demo_dir: Path,
                                         engine: ScriptedEngine) -> None:
    engine.exc = None
    engine.doc = _allow({"id": {"operator": "keep"},
                         "legal_rep": {"operator": "keep", "params": {"explicit": True}}})
    r = _query(client, demo_dir)
    assert r.status_code == 200, r.text
    assert all("*" not in row["legal_rep"] for row in r.json()["rows"])


class FailingRecorder:
    def record(self, kind: str, request_id: str, entry: Mapping[str, Any]) -> int:
        raise AuditUnavailable("audit append failed (test); nothing released")


def test_audit_failure_releases_nothing(client: TestClient, demo_dir: Path,
                                        engine: ScriptedEngine) -> None:
    engine.exc, engine.doc = None, _allow({"id": {"operator": "keep"},
                                           "legal_rep": {"operator": "mask"}})
    svc = client.app.state.services  # type: ignore[attr-defined]
    saved, svc.recorder = svc.recorder, FailingRecorder()
    try:
        r = _query(client, demo_dir)
        assert r.status_code == 503 and r.json()["error"]["code"] == "audit_unavailable"
        assert "rows" not in r.json()
    finally:
        svc.recorder = saved


def test_audit_entry_hashes_personal_filter_values(client: TestClient, demo_dir: Path,
                                                   engine: ScriptedEngine) -> None:
    engine.exc = None
    engine.doc = _allow({"id": {"operator": "keep"},
                         "legal_rep": {"operator": "keep", "params": {"explicit": True}}})
    token = creds(demo_dir)["operators"]["op-hotline"]["token"]
    r = client.post("/v1/datasets/qiye_dengji/query", headers=bearer(token),
                    json={"fields": ["id", "legal_rep"],
                          "filters": [{"field": "legal_rep", "op": "eq", "value": "张三丰"}]})
    assert r.status_code == 200, r.text
    rid = r.headers["X-Request-Id"]
    svc = client.app.state.services  # type: ignore[attr-defined]
    logged = search(svc.state_engine, request_id=rid).entries
    assert [e.kind for e in logged] == ["decision", "release"]
    entries = [e.entry for e in logged]
    assert {e["decision"]["allow"] for e in entries} == {True}
    text = json.dumps(entries, ensure_ascii=False)
    assert "张三丰" not in text
    assert entries[-1]["filters"][0]["value"].startswith("hmac-sha256:")
    assert entries[-1]["row_count"] == len(r.json()["rows"])
