"""Free text through the detector, and the safety net on undeclared columns, end to end."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.auditlog import search
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds, raw_identifiers


@pytest.fixture(scope="module")
def env(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient,
                                                                                    Path]]:
    d = tmp_path_factory.mktemp("ft") / "data"
    shutil.copytree(demo_dir, d)
    with TestClient(create_app(Settings(data_dir=d))) as c:
        yield c, d


def test_readyz_reports_the_detector(env: tuple[TestClient, Path]) -> None:
    client, _ = env
    assert client.get("/readyz").json()["checks"].get("detector", {"ok": True})["ok"]
    assert client.app.state.services.detector is not None  # type: ignore[attr-defined]


def test_free_text_is_desensitized_not_dropped(env: tuple[TestClient, Path]) -> None:
    client, d = env
    r = client.post("/v1/datasets/tousu_gongdan/query",
                    headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                    json={"purpose": "service_quality_analysis", "fields": ["id", "description"],
                          "limit": 100})
    assert r.status_code == 200, r.text
    texts = [row["description"] for row in r.json()["rows"]]
    assert raw_identifiers(r.text) == []
    assert all(t != "[REDACTED]" for t in texts)
    assert sum("*" in t for t in texts) > len(texts) // 2  # identifiers masked in place


def test_safety_net_masks_undeclared_identifiers_and_audits(env: tuple[TestClient,
                                                                       Path]) -> None:
    client, d = env
    admin = bearer(creds(d)["admin"]["token"])
    spec = client.get("/admin/v1/datasets", headers=admin).json()["datasets"]
    tousu = next(x for x in spec if x["id"] == "tousu_gongdan")
    # A careless catalog entry: the prose column declared as plain, released as is.
    fields: list[dict[str, Any]] = []
    for f in tousu["fields"]:
        if f["name"] in ("id", "description", "category"):
            fields.append({**f, "pii": None, "free_text": False, "operator": "keep",
                           "level": 1})
    careless = {**tousu, "id": "tousu_careless", "open_class": "unconditional",
                "fields": fields}
    r = client.post("/admin/v1/datasets", headers=admin, json=careless)
    assert r.status_code == 201, r.text
    r = client.post("/v1/datasets/tousu_careless/query",
                    headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                    json={"fields": ["id", "description"], "limit": 200})
    assert r.status_code == 200, r.text
    assert raw_identifiers(r.text) == []
    entries = search(client.app.state.services.state_engine,  # type: ignore[attr-defined]
                     request_id=r.headers["X-Request-Id"]).entries
    hits = entries[-1].entry["safety_net_hits"]["description"]
    assert hits.get("ID_CARD", 0) > 0 or hits.get("PHONE_NUMBER", 0) > 0


def test_detector_that_cannot_load_fails_closed(demo_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import anonymizers.analyzer as analyzer
    from anonymizers.errors import DetectorUnavailable

    def broken(name: str) -> Any:
        raise DetectorUnavailable(f"{name} tagger could not load (test)")

    monkeypatch.setattr(analyzer, "load_backend", broken)
    d = tmp_path / "data"
    shutil.copytree(demo_dir, d)
    with TestClient(create_app(Settings(data_dir=d))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "could not load" in ready.json()["checks"]["detector"]["error"]
        r = client.post("/v1/datasets/tousu_gongdan/query",
                        headers=bearer(creds(d)["operators"]["op-hotline"]["token"]),
                        json={"purpose": "service_quality_analysis",
                              "fields": ["id", "description"], "limit": 20})
        assert r.status_code == 200
        assert {row["description"] for row in r.json()["rows"]} == {"[REDACTED]"}
        # The safety net still runs on identifiers alone.
        assert client.app.state.services.safety_net is not None  # type: ignore[attr-defined]
