"""Leak tracing through the real gateway: two grants export the same dataset; a leaked
sample of one export, as CSV or as a spreadsheet, names that grant and release and not
the other; the exact file matches its payload hash; unrelated rows match nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from typer.testing import CliRunner

from gateway import grants, state
from gateway.api import trace as trace_api
from gateway.api.app import create_app
from gateway.auditlog import search
from gateway.catalog import Catalog
from gateway.cli import app as cli
from gateway.errors import AuditUnavailable
from gateway.receipts import split_stream
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.gateway.helpers import bearer, creds

FIELDS = ["id", "name", "gender", "birth_date", "id_card", "phone", "address", "region_code"]
SECOND = "g-trace-second"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo of its own (the test adds a grant): g-demo-research (op-research) and a
    second grant on the same dataset, fields and pseudonymized ID for op-hotline."""
    d = tmp_path_factory.mktemp("trace-demo")
    init_data_dir(Settings(data_dir=d), demo=True, rows=400, echo=lambda m: None)
    engine = state.make_engine(Settings(data_dir=d).resolved_state_url())
    now = dt.datetime.now(dt.UTC)
    spec = grants.GrantSpec.model_validate({
        "id": SECOND, "operator_id": "op-hotline", "dataset_id": "huji_renkou",
        "fields": FIELDS, "purposes": ["population_research"],
        "row_filter": [{"field": "region_code", "op": "prefix", "value": "36"}],
        "operators": {"id_card": {"operator": "pseudonymize", "params": {}},
                      "birth_date": {"operator": "generalize", "params": {"to": "year"}}},
        "valid_from": (now - dt.timedelta(days=1)).isoformat(),
        "valid_to": (now + dt.timedelta(days=30)).isoformat()})
    grants.create_grant(engine, spec, Catalog(engine).get("huji_renkou"))
    engine.dispose()
    return d


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=data_dir))) as c:
        yield c


def _export(client: TestClient, data_dir: Path, operator: str, grant: str, accept: str,
            fields: list[str] = FIELDS) -> tuple[bytes, dict[str, Any]]:
    token = creds(data_dir)["operators"][operator]["token"]
    r = client.post("/v1/datasets/huji_renkou/query",
                    json={"purpose": "population_research", "fields": fields,
                          "grant_id": grant},
                    headers={**bearer(token), "Accept": accept})
    assert r.status_code == 200, r.text
    fmt = "csv" if accept == "text/csv" else "ndjson"
    return r.content, split_stream(r.content, fmt)[1]


@pytest.fixture(scope="module")
def exports(client: TestClient, data_dir: Path) -> dict[str, tuple[bytes, dict[str, Any]]]:
    return {"a": _export(client, data_dir, "op-research", "g-demo-research", "text/csv"),
            "b": _export(client, data_dir, "op-hotline", SECOND, "application/x-ndjson")}


def _csv_rows(body: bytes) -> tuple[list[str], list[list[str]]]:
    rows = [r for r in csv.reader(io.StringIO(body.decode())) if r
            and not r[0].startswith("#pgw-receipt")]
    return rows[0], rows[1:]


def _ndjson_rows(body: bytes) -> tuple[list[str], list[list[Any]]]:
    docs = [orjson.loads(line) for line in body.splitlines() if line]
    docs = [d for d in docs if "_receipt" not in d]
    return list(docs[0]), [list(d.values()) for d in docs]


def _as_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def _spreadsheet_value(v: Any) -> Any:
    # What a spreadsheet makes of CSV text: numbers become numbers.
    return int(v) if isinstance(v, str) and v.isdigit() and len(v) < 16 else v


def _as_xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(header)
    for row in rows:
        ws.append([_spreadsheet_value(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sample(rows: list[list[Any]], n: int = 50, seed: int = 7) -> list[list[Any]]:
    picked = random.Random(seed).sample(rows, n)
    random.Random(seed + 1).shuffle(picked)
    return picked


def _trace(client: TestClient, data_dir: Path, content: bytes, name: str) -> Any:
    token = creds(data_dir)["auditor"]["token"]
    return client.post("/admin/v1/audit/trace", files={"file": (name, content)},
                       headers=bearer(token))


@pytest.mark.parametrize("as_file,name", [(_as_csv, "leak.csv"), (_as_xlsx, "leak.xlsx")])
def test_fifty_shuffled_rows_name_the_right_grant_and_release(
        client: TestClient, data_dir: Path, exports: dict[str, Any], as_file: Any,
        name: str) -> None:
    (_, receipt_a), (_, receipt_b) = exports["a"], exports["b"]
    header, rows = _csv_rows(exports["a"][0])
    r = _trace(client, data_dir, as_file(header, _sample(rows)), name)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["matched"] and report["conclusive"]
    top = report["matches"][0]
    assert (top["grant_id"], top["receipt_id"]) == ("g-demo-research", receipt_a["receipt_id"])
    evidence = {e["kind"]: e for e in top["evidence"]}
    assert evidence["row_sketch"]["rows_hit"] == 50
    assert evidence["pseudonym_tokens"]["tokens_matched"] == 50
    assert top["log10_false_match"] < -100
    assert "g-demo-research" in report["statement"] and "1e-99" in report["statement"]
    others = [m for m in report["matches"] if m["receipt_id"] == receipt_b["receipt_id"]
              or m["grant_id"] == SECOND]
    assert all(not m["matched"] for m in others)
    assert not any(t.isdigit() and len(t) == 18 for t in json.dumps(report).split('"'))


def test_console_upload_page_names_the_grant_and_release(
        client: TestClient, data_dir: Path, exports: dict[str, Any]) -> None:
    """The auditor's upload page runs the same trace (and audits it)."""
    from tests.console.helpers import sign_in

    header, rows = _csv_rows(exports["a"][0])
    csrf = sign_in(client, data_dir, "auditor")
    r = client.post("/console/audit/trace", data={"csrf_token": csrf},
                    files={"file": ("leak.xlsx", _as_xlsx(header, _sample(rows, seed=11)))})
    assert r.status_code == 200, r.text
    first = r.text.split('data-testid="trace-match"', 1)[1].split(">", 1)[0]
    assert 'data-grant="g-demo-research"' in first and 'data-matched="yes"' in first
    assert f'data-receipt="{exports["a"][1]["receipt_id"]}"' in first
    assert f'data-grant="{SECOND}" data-receipt="" data-matched="yes"' not in r.text
    engine = state.make_engine(Settings(data_dir=data_dir).resolved_state_url())
    traced = search(engine, kind="trace", limit=100).entries
    assert any(e.entry["principal"]["operator_id"] == "auditor"
               and e.entry.get("top_grant") == "g-demo-research" for e in traced)
    r = client.post("/console/audit/trace", data={"csrf_token": csrf},
                    files={"file": ("x.bin", b"\x00\x01garbage")})
    assert r.status_code in (415, 422) and 'data-testid="error"' in r.text
    client.cookies.clear()


def test_other_grants_export_traced_from_a_spreadsheet(
        client: TestClient, data_dir: Path, exports: dict[str, Any]) -> None:
    header, rows = _ndjson_rows(exports["b"][0])
    report = _trace(client, data_dir, _as_xlsx(header, _sample(rows, 30)), "b.xlsx").json()
    top = report["matches"][0]
    assert (top["grant_id"], top["receipt_id"]) == (SECOND, exports["b"][1]["receipt_id"])
    assert not [m for m in report["matches"] if m["grant_id"] == "g-demo-research"
                and m["matched"]]


def test_exact_file_matches_its_payload_hash(client: TestClient, data_dir: Path,
                                             exports: dict[str, Any], tmp_path: Path) -> None:
    body, receipt = exports["a"]
    path = tmp_path / "export.csv"
    path.write_bytes(body)
    res = CliRunner().invoke(cli, ["trace", str(path), "--json", "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    top = report["matches"][0]
    assert top["receipt_id"] == receipt["receipt_id"]
    payload = [e for e in top["evidence"] if e["kind"] == "payload_sha256"]
    assert payload and payload[0]["payload_sha256"] == receipt["payload_sha256"]
    text = CliRunner().invoke(cli, ["trace", str(path), "--data-dir", str(data_dir)])
    assert text.exit_code == 0 and "[MATCH] grant g-demo-research" in text.output


def test_release_entries_seal_their_sketch(client: TestClient, data_dir: Path,
                                          exports: dict[str, Any]) -> None:
    engine = client.app.state.services.state_engine  # type: ignore[attr-defined]
    receipt = exports["a"][1]
    page = search(engine, request_id=receipt["request_id"], kind="release")
    entry = page.entries[0].entry
    assert entry["sketch_rows"] == receipt["row_count"]
    assert len(entry["sketch_sha256"]) == 64


def test_unrelated_rows_match_nothing(client: TestClient, data_dir: Path,
                                      tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = [[i, "李*", rng.choice(["男", "女"]), "1980", f"idc_x_{rng.getrandbits(40):x}",
             "139****0000", "某地", "360102"] for i in range(60)]
    content = _as_csv(FIELDS, rows)
    report = _trace(client, data_dir, content, "other.csv").json()
    assert not report["matched"] and report["statement"].startswith("No release")
    path = tmp_path / "other.csv"
    path.write_bytes(content)
    res = CliRunner().invoke(cli, ["trace", str(path), "--data-dir", str(data_dir)])
    assert res.exit_code == 1, res.output


def test_identical_releases_cannot_be_told_apart(client: TestClient,
                                                 data_dir: Path) -> None:
    same = ["id", "name", "gender", "region_code"]  # no column depends on the grant
    body_a, ra = _export(client, data_dir, "op-research", "g-demo-research", "text/csv", same)
    _, rb = _export(client, data_dir, "op-hotline", SECOND, "text/csv", same)
    header, rows = _csv_rows(body_a)
    report = _trace(client, data_dir, _as_csv(header, _sample(rows)), "same.csv").json()
    assert report["matched"] and not report["conclusive"]
    top = report["matches"][0]
    assert {top["receipt_id"], *top["indistinguishable_from"]} >= {ra["receipt_id"],
                                                                  rb["receipt_id"]}
    assert "cannot tell them apart" in report["statement"]


def test_json_page_is_traced_too(client: TestClient, data_dir: Path) -> None:
    token = creds(data_dir)["operators"]["op-research"]["token"]
    page = client.post("/v1/datasets/huji_renkou/query", headers=bearer(token),
                       json={"purpose": "population_research", "fields": FIELDS,
                             "grant_id": "g-demo-research", "limit": 40}).json()
    report = _trace(client, data_dir, json.dumps(page).encode(), "page.json").json()
    top = report["matches"][0]
    assert top["receipt_id"] == page["receipt"]["receipt_id"]
    assert "payload_sha256" in {e["kind"] for e in top["evidence"]}


@pytest.mark.parametrize("name,content,status,code", [
    ("leak.xls", b"\xd0\xcf\x11\xe0 old excel", 415, "unsupported_format"),
    ("leak.bin", b"\x00\x01\x02binary", 415, "unsupported_format"),
    ("leak.xlsx", b"PK\x03\x04 not really a workbook", 422, "unreadable_file"),
    ("leak.ndjson", b'{"a": 1}\nnot json\n', 422, "unreadable_file"),
])
def test_unreadable_uploads_are_refused_with_a_code(client: TestClient, data_dir: Path,
                                                    name: str, content: bytes, status: int,
                                                    code: str) -> None:
    r = _trace(client, data_dir, content, name)
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_upload_size_cap(client: TestClient, data_dir: Path,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.trace

    monkeypatch.setattr(trace_api, "MAX_UPLOAD", 100)
    monkeypatch.setattr(gateway.trace, "MAX_UPLOAD", 100)
    r = _trace(client, data_dir, b"x" * 101, "big.csv")
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"


def test_auditors_only(client: TestClient, data_dir: Path) -> None:
    for who in ("admin",):
        r = client.post("/admin/v1/audit/trace", files={"file": ("a.csv", b"a,b\n1,2\n")},
                        headers=bearer(creds(data_dir)[who]["token"]))
        assert r.status_code == 403
    op = creds(data_dir)["operators"]["op-research"]["token"]
    r = client.post("/admin/v1/audit/trace", files={"file": ("a.csv", b"a,b\n1,2\n")},
                    headers=bearer(op))
    assert r.status_code == 403


def test_cli_unreadable_file_exits_2(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 nope")
    res = CliRunner().invoke(cli, ["trace", str(bad), "--data-dir", str(data_dir)])
    assert res.exit_code == 2 and "unreadable_file" in res.output
    res = CliRunner().invoke(cli, ["trace", str(tmp_path / "missing.csv"),
                                   "--data-dir", str(data_dir)])
    assert res.exit_code == 2


def test_sketch_store_failure_fails_closed(client: TestClient, data_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise AuditUnavailable("release sketch could not be stored (OperationalError)")

    monkeypatch.setattr("gateway.trace.release.save_sketch", broken)
    token = creds(data_dir)["operators"]["op-research"]["token"]
    body = {"purpose": "population_research", "fields": FIELDS, "grant_id": "g-demo-research"}
    page = client.post("/v1/datasets/huji_renkou/query", json={**body, "limit": 5},
                       headers=bearer(token))
    assert page.status_code == 503 and page.json()["error"]["code"] == "audit_unavailable"
    assert "rows" not in page.json()
    # The stream's rows are out before the sketch is stored: it ends without a receipt.
    quiet = TestClient(client.app, raise_server_exceptions=False)
    r = quiet.post("/v1/datasets/huji_renkou/query", json=body,
                   headers={**bearer(token), "Accept": "text/csv"})
    assert b"#pgw-receipt" not in r.content
    engine = client.app.state.services.state_engine  # type: ignore[attr-defined]
    last = search(engine, kind="release", operator_id="op-research", limit=1000).entries[-1]
    assert last.entry["status"] == "failed: audit_unavailable"
    assert "receipt_signature" not in last.entry
