"""Verification release through the real API: match / no-match on real rows, per-field
answers only when the decision allows, one answer shape, the rate limit, and an audit log
without the claimed values."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from gateway.auditlog import search
from gateway.receipts import public_key_verifier, verify_receipt
from gateway.verification import MIN_ANSWER_S, normalize
from tests.products.conftest import Env

LABOUR = {"purpose": "labour_statistics"}
ABSENT_ID = "11010519491231002X"  # checksum-valid (DOMAIN.md test vector), not in the demo


def verify(env: Env, dataset: str, match_on: dict[str, Any], grant_id: str | None,
           **kw: Any) -> Any:
    body = {**LABOUR, "match_on": match_on, **kw}
    if grant_id is not None:
        body["grant_id"] = grant_id
    return env.client.post(f"/v1/datasets/{dataset}/verify", json=body, headers=env.operator)


@pytest.fixture(scope="module")
def huji(env: Env) -> str:
    return env.grant("huji_renkou", ["id_card", "name", "gender"], ["verify"],
                     quota={"verify_per_minute": 1000})


@pytest.fixture(scope="module")
def huji_per_field(env: Env) -> str:
    return env.grant("huji_renkou", ["id_card", "name", "gender"], ["verify"],
                     quota={"verify_per_minute": 1000, "verify_per_field": 1})


@pytest.fixture(scope="module")
def person(env: Env) -> Any:
    rows = env.upstream("SELECT id_card, name FROM huji_renkou WHERE id_card GLOB '*X' "
                        "ORDER BY id LIMIT 1")
    assert rows and not env.upstream("SELECT 1 FROM huji_renkou WHERE id_card = :v",
                                     v=ABSENT_ID)
    return rows[0]


def test_match_and_no_match_on_real_rows(env: Env, huji: str, person: Any) -> None:
    other = env.upstream("SELECT name FROM huji_renkou WHERE name != :n LIMIT 1",
                         n=person.name)[0].name
    cases = [({"id_card": person.id_card, "name": person.name}, True),
             ({"id_card": person.id_card.lower()[:6] + " " + person.id_card[6:-1] + "x",
               "name": f" {person.name} "}, True),  # normalized: spaces, lowercase x
             ({"id_card": person.id_card, "name": other}, False),
             ({"id_card": ABSENT_ID, "name": person.name}, False)]
    shapes = set()
    for claim, expected in cases:
        started = time.monotonic()
        r = verify(env, "huji_renkou", claim, huji)
        assert time.monotonic() - started >= MIN_ANSWER_S
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["match"] is expected
        shapes.add(tuple(sorted(body)))
        assert person.id_card not in r.text and person.name not in r.text
    assert shapes == {("match", "receipt", "request_id")}


def test_company_three_factor(env: Env) -> None:
    gid = env.grant("qiye_dengji", ["uscc", "company", "legal_rep"], ["verify"],
                    quota={"verify_per_field": 1})
    row = env.upstream("SELECT uscc, company, legal_rep FROM qiye_dengji ORDER BY id LIMIT 1")[0]
    claim = {"uscc": row.uscc.lower(), "company": row.company, "legal_rep": row.legal_rep}
    r = verify(env, "qiye_dengji", claim, gid)
    assert r.status_code == 200, r.text
    assert r.json()["match"] is True
    assert r.json()["fields"] == {"uscc": True, "company": True, "legal_rep": True}
    r = verify(env, "qiye_dengji", {**claim, "legal_rep": row.legal_rep + "某"}, gid)
    assert r.json()["match"] is False
    assert r.json()["fields"] == {"uscc": True, "company": True, "legal_rep": False}
    # Open data, but verification still needs a grant.
    r = env.client.post("/v1/datasets/qiye_dengji/verify", headers=env.researcher,
                        json={**LABOUR, "match_on": claim})
    assert r.status_code == 403
    assert [x.split(":")[0] for x in r.json()["error"]["reasons"]] == ["no_grant"]


def test_per_field_only_when_allowed(env: Env, huji: str, huji_per_field: str,
                                     person: Any) -> None:
    claim = {"id_card": person.id_card, "name": person.name + "某"}
    plain = verify(env, "huji_renkou", claim, huji).json()
    assert "fields" not in plain and plain["match"] is False
    detailed = verify(env, "huji_renkou", claim, huji_per_field).json()
    assert detailed["match"] is False
    assert detailed["fields"] == {"id_card": True, "name": False}
    absent = verify(env, "huji_renkou", {**claim, "id_card": ABSENT_ID}, huji_per_field).json()
    assert absent["fields"] == {"id_card": False, "name": False}
    assert sorted(absent) == sorted(detailed)


@pytest.mark.parametrize("match_on,status,code", [
    ({"phone": "13800138000"}, 403, "policy_denied"),          # not granted
    ({"nope": "x"}, 400, "unknown_field"),
    ({"id": "not-a-number"}, 400, "bad_claim"),
    ({}, 422, "invalid_request"),
])
def test_refusals(env: Env, huji: str, match_on: dict[str, Any], status: int,
                  code: str) -> None:
    r = verify(env, "huji_renkou", match_on, huji)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert "13800138000" not in r.text and "not-a-number" not in r.text


def test_rate_limit_per_grant(env: Env, person: Any) -> None:
    gid = env.grant("huji_renkou", ["id_card", "name"], ["verify"],
                    quota={"verify_per_minute": 3})
    if time.time() % 60 > 50:  # keep the four calls inside one counting window
        time.sleep(61 - time.time() % 60)
    claim = {"id_card": person.id_card, "name": person.name}
    for _ in range(3):
        assert verify(env, "huji_renkou", claim, gid).status_code == 200
    r = verify(env, "huji_renkou", claim, gid)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "verify_rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    svc = env.client.app.state.services  # type: ignore[attr-defined]
    refused = search(svc.state_engine, request_id=r.json()["error"]["request_id"]).entries
    assert [e.entry["decision"]["allow"] for e in refused] == [False]
    assert person.id_card not in json.dumps(refused[0].entry, ensure_ascii=False)


def test_audit_holds_no_claim_values(env: Env, huji_per_field: str, person: Any) -> None:
    r = verify(env, "huji_renkou", {"id_card": person.id_card, "name": person.name},
               huji_per_field)
    body = r.json()
    svc = env.client.app.state.services  # type: ignore[attr-defined]
    entries = search(svc.state_engine, request_id=body["request_id"]).entries
    assert [e.kind for e in entries] == ["decision", "release"]
    text = json.dumps([e.entry for e in entries], ensure_ascii=False)
    for value in (person.id_card, person.name, person.id_card.lower(), person.id_card[:-1]):
        assert value not in text
    decision, release = entries[0].entry, entries[1].entry
    assert set(decision["claim"]) == {"id_card", "name"}
    assert all(v.startswith("hmac-sha256:") for v in decision["claim"].values())
    assert (release["matches"], release["no_matches"]) == (1, 0)
    verify_receipt(body["receipt"], public_key_verifier(env.client.get("/v1/keys").json()["keys"]))
    assert body["receipt"]["mode"] == "verify"
    assert person.id_card not in json.dumps(body["receipt"], ensure_ascii=False)


@pytest.mark.parametrize("value,pii,expected", [
    ("11010519491231002x", "ID_CARD", "11010519491231002X"),
    ("110105 19491231 002X", "ID_CARD", "11010519491231002X"),
    ("１１０１０５１９４９１２３１００２Ｘ", "ID_CARD", "11010519491231002X"),
    ("91310110666007217t", "USCC", "91310110666007217T"),
    (" 段 正淳 ", "PERSON", "段正淳"),
    ("138-0013-8000", "PHONE_NUMBER", "13800138000"),
    (" 南昌市宏达科技有限公司 ", None, "南昌市宏达科技有限公司"),
    (42, None, 42),
])
def test_normalize(value: Any, pii: str | None, expected: Any) -> None:
    assert normalize(value, pii) == expected
