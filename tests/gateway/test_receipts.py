"""Signed release receipts: every response carries one; the published keys verify it
offline; one changed byte of payload or receipt fails; rotation keeps old ones valid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.api.app import create_app
from gateway.cli import app as cli
from gateway.receipts import ReceiptInvalid, public_key_verifier, split_stream, verify_receipt
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds

BODY = {"purpose": "population_research", "fields": ["id", "name", "id_card"], "limit": 25}


@pytest.fixture(scope="module")
def client(demo_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=demo_dir))) as c:
        yield c


def _query(client: TestClient, demo_dir: Path, **headers: str) -> Any:
    token = creds(demo_dir)["operators"]["op-research"]["token"]
    return client.post("/v1/datasets/huji_renkou/query", json=BODY,
                       headers={**bearer(token), **headers})


def _verifier(client: TestClient) -> Any:
    keys = client.get("/v1/keys").json()["keys"]
    assert all("private" not in json.dumps(k).lower() for k in keys)
    return public_key_verifier(keys)


def test_json_page_receipt_verifies_offline(client: TestClient, demo_dir: Path) -> None:
    r = _query(client, demo_dir)
    assert r.status_code == 200
    body = r.json()
    receipt = body["receipt"]
    assert r.headers["Gateway-Receipt-Id"] == receipt["receipt_id"]
    assert receipt["grant_id"] == "g-demo-research" and receipt["row_count"] == 25
    assert receipt["fields"] == {"id": "keep", "name": "mask", "id_card": "pseudonymize"}
    verify_receipt(receipt, _verifier(client), orjson.dumps(body["rows"]))


@pytest.mark.parametrize("field,value", [("row_count", 26), ("grant_id", "g-other"),
                                         ("dataset", "qiye_dengji"),
                                         ("payload_sha256", "0" * 64)])
def test_changed_receipt_field_fails(client: TestClient, demo_dir: Path, field: str,
                                     value: Any) -> None:
    receipt = _query(client, demo_dir).json()["receipt"]
    with pytest.raises(ReceiptInvalid):
        verify_receipt({**receipt, field: value}, _verifier(client))


def test_one_changed_payload_byte_fails(client: TestClient, demo_dir: Path) -> None:
    r = _query(client, demo_dir, Accept="application/x-ndjson")
    payload, receipt = split_stream(r.content, "ndjson")
    verify_receipt(receipt, _verifier(client), payload)
    for pos in (0, len(payload) // 2, len(payload) - 2):
        bad = bytearray(payload)
        bad[pos] ^= 0x01
        with pytest.raises(ReceiptInvalid, match="payload"):
            verify_receipt(receipt, _verifier(client), bytes(bad))


def test_rotation_keeps_old_receipts_verifiable(client: TestClient, demo_dir: Path) -> None:
    old = _query(client, demo_dir).json()["receipt"]
    ring = client.app.state.services.keyring  # type: ignore[attr-defined]
    new_kid = ring.rotate("signing")
    new = _query(client, demo_dir).json()["receipt"]
    assert new["key_id"] == new_kid != old["key_id"]
    v = _verifier(client)
    verify_receipt(old, v)
    verify_receipt(new, v)


def test_cli_verifies_receipt_and_stream(client: TestClient, demo_dir: Path,
                                         tmp_path: Path) -> None:
    r = _query(client, demo_dir, Accept="text/csv")
    (tmp_path / "export.csv").write_bytes(r.content)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(client.get("/v1/keys").json()))
    runner = CliRunner()
    ok = runner.invoke(cli, ["receipt", "verify", "--stream", str(tmp_path / "export.csv"),
                             "--keys", str(keys)])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    (tmp_path / "bad.csv").write_bytes(r.content.replace(b"*", b"#", 1))
    bad = runner.invoke(cli, ["receipt", "verify", "--stream", str(tmp_path / "bad.csv"),
                              "--keys", str(keys)])
    assert bad.exit_code == 1 and "payload" in bad.output
