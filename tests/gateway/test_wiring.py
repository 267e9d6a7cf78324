"""Quotas, HMAC-signed requests and metering through the real query API."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.request_auth import sign_request
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds

BODY = {"purpose": "population_research", "fields": ["id", "name"]}


@pytest.fixture(scope="module")
def env(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient,
                                                                                    Path]]:
    d = tmp_path_factory.mktemp("wiring") / "data"
    shutil.copytree(demo_dir, d)
    with TestClient(create_app(Settings(data_dir=d))) as c:
        yield c, d


def _grant(client: TestClient, d: Path, quota: dict[str, Any]) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    r = client.post("/admin/v1/grants", headers=bearer(creds(d)["admin"]["token"]), json={
        "operator_id": "op-hotline", "dataset_id": "huji_renkou", "fields": ["id", "name"],
        "purposes": ["population_research"], "quota": quota,
        "valid_from": (now - dt.timedelta(days=1)).isoformat(),
        "valid_to": (now + dt.timedelta(days=1)).isoformat()})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _q(client: TestClient, d: Path, gid: str, **extra: Any) -> Any:
    return client.post("/v1/datasets/huji_renkou/query",
                       headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                       json={**BODY, "grant_id": gid, **extra})


def test_requests_per_minute_gives_429_with_retry_after(env: tuple[TestClient, Path]) -> None:
    client, d = env
    gid = _grant(client, d, {"requests_per_minute": 2})
    assert _q(client, d, gid, limit=1).status_code == 200
    assert _q(client, d, gid, limit=1).status_code == 200
    r = _q(client, d, gid, limit=1)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "quota_requests_per_minute"
    assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_rows_per_day_caps_then_refuses(env: tuple[TestClient, Path]) -> None:
    client, d = env
    gid = _grant(client, d, {"rows_per_day": 30})
    first = _q(client, d, gid, limit=20)
    assert first.status_code == 200 and len(first.json()["rows"]) == 20
    second = _q(client, d, gid, limit=20)  # only 10 left today
    assert second.status_code == 200 and len(second.json()["rows"]) == 10
    third = _q(client, d, gid, limit=5)
    assert third.status_code == 429 and third.json()["error"]["code"] == "quota_rows_per_day"


def test_denied_request_returns_its_reservation(env: tuple[TestClient, Path]) -> None:
    client, d = env
    gid = _grant(client, d, {"rows_per_day": 10})
    denied = _q(client, d, gid, limit=10, purpose="marketing")
    assert denied.status_code == 403
    ok = _q(client, d, gid, limit=10)
    assert ok.status_code == 200 and len(ok.json()["rows"]) == 10


def test_signed_request_accepted_and_replay_refused(env: tuple[TestClient, Path]) -> None:
    client, d = env
    r = client.post("/admin/v1/principals/op-research/signing-keys",
                    headers=bearer(creds(d)["admin"]["token"]))
    assert r.status_code == 201
    key = r.json()
    body = json.dumps({**BODY, "limit": 2}).encode()
    path = "/v1/datasets/huji_renkou/query"
    headers = {**sign_request(key["key_id"], key["secret"], "POST", path, "", body),
               "Content-Type": "application/json"}
    ok = client.post(path, content=body, headers=headers)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["rows"]) == 2
    replay = client.post(path, content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "replayed_nonce"
    tampered = {**sign_request(key["key_id"], key["secret"], "POST", path, "", body),
                "Content-Type": "application/json"}
    bad = client.post(path, content=body.replace(b"2", b"9"), headers=tampered)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "bad_signature"


def test_paid_license_release_is_metered(env: tuple[TestClient, Path]) -> None:
    client, d = env
    now = dt.datetime.now(dt.timezone.utc)
    r = client.post("/admin/v1/licenses", headers=bearer(creds(d)["admin"]["token"]), json={
        "operator_id": "op-hotline", "datasets": [{"dataset_id": "qiye_dengji", "fields": ["id", "company"]}],
        "modes": ["rows"], "purposes": ["credit_service"], "scenarios": ["征信产品"],
        "term_start": (now - dt.timedelta(days=1)).isoformat(),
        "term_end": (now + dt.timedelta(days=30)).isoformat(),
        "fee_mode": "paid", "unit": "row", "price_cap": "0.05",
        "security_responsibility": "运营机构承担数据安全主体责任",
        "destruction_days": 30})
    assert r.status_code == 201, r.text
    gid = r.json()["grant_ids"][0]
    q = client.post("/v1/datasets/qiye_dengji/query",
                    headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                    json={"purpose": "credit_service", "fields": ["id", "company"], "limit": 7,
                          "grant_id": gid})
    assert q.status_code == 200, q.text
    eng = sa.create_engine(f"sqlite:///{d / 'state.db'}")
    with eng.connect() as conn:
        rows = conn.execute(sa.text("SELECT unit, quantity FROM metering_records")).all()
    eng.dispose()
    assert ("row", 7) in [tuple(r) for r in rows]
