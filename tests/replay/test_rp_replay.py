"""Replay end to end: real requests through the API on a copy of the demo data dir, then
re-decided under candidate policies with the real embedded OPA."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.auditlog import search
from gateway.policy.bundle import PolicyBundle, PolicyLoadError, load_policy_dir
from gateway.policy.replay import ReplaySummary, render_summary, replay, what_if
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.gateway.helpers import bearer, creds

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"
RESEARCH = "population_research"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[sa.Engine, list[str]]]:
    """A fresh demo dir (its own audit log: no decisions of other test modules) with
    allowed and denied requests recorded; yields the state engine and raw upstream values
    (names, ID numbers) that must never show up."""
    d = tmp_path_factory.mktemp("replay") / "data"
    init_data_dir(Settings(data_dir=d), demo=True, rows=100, echo=lambda m: None)
    up = sa.create_engine(f"sqlite:///{d / 'demo-upstream.db'}")
    with up.connect() as conn:
        people = conn.execute(sa.text("SELECT name, id_card FROM huji_renkou LIMIT 3")).all()
        reps = conn.execute(sa.text("SELECT legal_rep FROM qiye_dengji LIMIT 3")).all()
    up.dispose()
    raw = [p.name for p in people] + [p.id_card for p in people] + [r.legal_rep for r in reps]
    tokens = {k: v["token"] for k, v in creds(d)["operators"].items()}
    bodies: list[tuple[str, str, dict[str, Any], int | None]] = [
        ("op-hotline", "qiye_dengji", {"fields": ["id", "company", "legal_rep"], "limit": 5}, 200),
        ("op-hotline", "qiye_dengji", {"fields": ["id", "legal_rep", "phone"], "limit": 3}, 200),
        ("op-research", "huji_renkou", {"purpose": RESEARCH, "limit": 5,
                                        "fields": ["id", "name", "birth_date", "region_code"]}, 200),
        ("op-research", "huji_renkou", {"purpose": RESEARCH, "fields": ["id", "id_card"],
                                        "filters": [{"field": "id_card", "op": "eq",
                                                     "value": people[0].id_card}]}, None),
        ("op-research", "huji_renkou", {"purpose": "marketing", "fields": ["name"]}, 403),
        ("op-research", "shebao_jiaona", {"purpose": "x"}, 403),
        ("op-hotline", "huji_renkou", {"purpose": "x", "fields": ["name"]}, 403),
    ]
    with TestClient(create_app(Settings(data_dir=d))) as client:
        for token, dataset, body, status in bodies:
            r = client.post(f"/v1/datasets/{dataset}/query", json=body,
                            headers=bearer(tokens[token]))
            assert status is None or r.status_code == status, r.text
    engine = sa.create_engine(f"sqlite:///{d / 'state.db'}")
    yield engine, raw
    engine.dispose()


def policy_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "policies"
    shutil.copytree(REPO_POLICIES, dst)
    return dst


def no_raw(summary: ReplaySummary, raw: list[str]) -> None:
    text = json.dumps(summary.to_json(), ensure_ascii=False) + render_summary(summary)
    for value in raw:
        assert value not in text


def test_entries_are_replayable(recorded: tuple[sa.Engine, list[str]]) -> None:
    engine, raw = recorded
    page = search(engine, kind="decision", limit=1000)
    docs = [e.entry for e in page.entries if "decision_doc" in e.entry]
    assert len(docs) >= 6
    assert any(d["decision"]["allow"] for d in docs)
    assert any(not d["decision"]["allow"] for d in docs)
    text = orjson.dumps([e.entry for e in page.entries]).decode()
    assert raw[3] not in text  # the filtered ID number is hashed in the log


def test_same_policies_all_unchanged(recorded: tuple[sa.Engine, list[str]]) -> None:
    engine, raw = recorded
    summary = replay(engine, load_policy_dir(REPO_POLICIES), workers=2)
    s = summary.to_json()
    assert s["total"] >= 6 and s["unchanged"] == s["total"], render_summary(summary)
    assert s["changed"] == s["allow_to_deny"] == s["deny_to_allow"] == s["errors"] == 0
    assert s["weaker_decisions"] == 0 and s["examples"] == {}
    json.dumps(s)
    no_raw(summary, raw)
    bundle = load_policy_dir(REPO_POLICIES)
    assert replay(engine, bundle, last=2).total == 2
    first = search(engine, kind="decision", limit=1000).entries
    assert replay(engine, bundle, since=first[0].time).total == s["total"]
    assert replay(engine, bundle, since=first[-1].time, last=5).total >= 1
    future = first[-1].time + dt.timedelta(days=1)
    assert replay(engine, bundle, since=future).to_json()["total"] == 0


def test_mask_to_keep_flagged_weaker(recorded: tuple[sa.Engine, list[str]],
                                     tmp_path: Path) -> None:
    engine, raw = recorded
    pol = policy_copy(tmp_path)
    # The demo catalog names an operator for every field, so the PERSON default in
    # data.json is not consulted: the candidate puts keep first in fields.rego instead,
    # and lowers k_min / raises the row cap in data.json.
    rego = pol / "gateway" / "fields" / "fields.rego"
    rego.write_text(rego.read_text().replace(
        "_operator(spec, override, config) := rule if {",
        '_operator(spec, override, config) := {"operator": "keep", "params": {"explicit": true}}'
        ' if {\n\tspec.pii == "PERSON"\n} else := rule if {', 1))
    data = json.loads((pol / "data.json").read_text())
    data["gateway_config"]["default_max_rows"] = 50000
    (pol / "data.json").write_text(json.dumps(data))
    summary = replay(engine, load_policy_dir(pol), examples=2)
    s = summary.to_json()
    assert s["operator_changes"]["qiye_dengji.legal_rep"] == {"mask→keep": 2}
    assert s["weaker"]["operator qiye_dengji.legal_rep mask→keep"] == 2
    assert s["weaker_decisions"] >= 2 and s["allow_to_deny"] == 0
    ex = s["examples"]["weaker"]
    assert 1 <= len(ex) <= 2
    assert ex[0]["dataset"] == "qiye_dengji" and ex[0]["request_id"] and ex[0]["seq"] >= 0
    assert ex[0]["before"]["fields"]["legal_rep"] == "mask"
    assert ex[0]["after"]["fields"]["legal_rep"] == "keep"
    assert s["quota_changes"]["max_rows"] == {"10000→50000": 2}
    assert s["weaker"]["max_rows_increased"] == 2
    assert s["operator_changes"]["huji_renkou.name"] == {"mask→keep": 1}
    assert "WEAKER PROTECTION" in render_summary(summary)
    no_raw(summary, raw)


def test_denied_purpose_counts_allow_to_deny(recorded: tuple[sa.Engine, list[str]],
                                             tmp_path: Path) -> None:
    engine, raw = recorded
    pol = policy_copy(tmp_path)
    (pol / "gateway" / "ban.rego").write_text(
        "package gateway\n\n"
        '_deny contains "purpose_banned: population research is suspended" if {\n'
        f'\tinput.request.purpose == "{RESEARCH}"\n}}\n')
    summary = replay(engine, load_policy_dir(pol))
    s = summary.to_json()
    allowed_research = [
        e for e in search(engine, kind="decision", dataset="huji_renkou", limit=1000).entries
        if e.entry.get("purpose") == RESEARCH and e.entry.get("decision_doc", {}).get("allow")]
    assert s["allow_to_deny"] == len(allowed_research) >= 1
    assert s["deny_to_allow"] == 0 and s["weaker_decisions"] == 0
    ex = s["examples"]["allow_to_deny"][0]
    assert ex["dataset"] == "huji_renkou" and ex["before"]["allow"] is True
    assert ex["after"] == {"allow": False, "reasons": ["purpose_banned"]}
    no_raw(summary, raw)


def test_broken_candidate_refused_before_replaying(recorded: tuple[sa.Engine, list[str]],
                                                   tmp_path: Path) -> None:
    engine, _ = recorded
    pol = policy_copy(tmp_path)
    (pol / "gateway" / "broken.rego").write_text("package gateway\n\nx := {\n")
    with pytest.raises(PolicyLoadError, match="broken.rego"):
        replay(engine, load_policy_dir(pol))
    good = load_policy_dir(REPO_POLICIES)
    bad = PolicyBundle.build({**good.modules, "gateway/broken.rego": "package gateway\nx := {\n"},
                             good.data)
    with pytest.raises(PolicyLoadError, match="cannot be replayed"):
        replay(engine, bad)


def test_undefined_decision_is_an_error_and_a_deny(recorded: tuple[sa.Engine, list[str]]) -> None:
    engine, _ = recorded
    bundle = PolicyBundle.build({"p.rego": "package gateway\n\nother := 1\n"})
    s = replay(engine, bundle).to_json()
    assert s["errors"] == s["total"] == s["error_codes"]["policy_undefined"]
    assert s["allow_to_deny"] >= 3 and s["examples"]["errors"][0]["after"]["error"]


def test_what_if_returns_fired_rules(recorded: tuple[sa.Engine, list[str]]) -> None:
    engine, _ = recorded
    entry = next(e.entry for e in search(engine, kind="decision", limit=1000).entries
                 if e.entry.get("decision", {}).get("allow") and "policy_input" in e.entry)
    out = what_if(load_policy_dir(REPO_POLICIES), entry["policy_input"])
    assert out["decision"] == entry["decision_doc"]
    assert out["rules"] and all(".rego:" in r for r in out["rules"])
    assert any("decision" in r for r in out["rules"])
    bad = what_if(PolicyBundle.build({"p.rego": "package gateway\n\nother := 1\n"}), {})
    assert bad["decision"] is None and bad["error"]["code"] == "policy_undefined"

