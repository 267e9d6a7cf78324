"""GET /admin/v1/audit/anomalies and /entries/{seq} on a gateway with a synthetic history:
auditors get flags that link to their entries; admins and operators are refused; bad
parameters are 4xx with a code, never a 500."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.settings import Settings
from gateway.setup import init_data_dir
from gateway.state import make_engine
from tests.gateway.helpers import bearer, creds

from .helpers import END, History, at, daily

URL = "/admin/v1/audit/anomalies"
WINDOW = {"until": END.isoformat(), "days": "1"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("anomalies")
    settings = Settings(data_dir=d)
    init_data_dir(settings, demo=True, rows=50, echo=lambda m: None)
    kw: dict[str, Any] = {"grant": "g-synth", "operator": "op-synth", "key": "k-synth"}
    h = History()
    daily(h, range(1, 11), (10, 15), **kw)
    h.add(at(0, 10), n=20, every=dt.timedelta(seconds=10), allow=False, **kw)
    h.add(at(0, 15), n=35, every=dt.timedelta(seconds=5), action="verify", match=False, **kw)
    engine = make_engine(settings.resolved_state_url())
    try:
        h.write(engine)
    finally:
        engine.dispose()
    return d


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=data_dir))) as c:
        yield c


@pytest.fixture(scope="module")
def tok(data_dir: Path) -> dict[str, dict[str, str]]:
    c = creds(data_dir)
    return {"admin": bearer(c["admin"]["token"]), "auditor": bearer(c["auditor"]["token"]),
            "op": bearer(c["operators"]["op-research"]["token"])}


@pytest.mark.parametrize("path", [URL, "/admin/v1/audit/entries/0"])
@pytest.mark.parametrize("who", ["admin", "op"])
def test_fail_only_auditors(client: TestClient, tok: dict[str, dict[str, str]], path: str,
                            who: str) -> None:
    r = client.get(path, headers=tok[who], params=WINDOW)
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"


def test_success_auditor_gets_flags_linking_to_entries(client: TestClient,
                                                       tok: dict[str, dict[str, str]]) -> None:
    r = client.get(URL, headers=tok["auditor"], params=WINDOW)
    assert r.status_code == 200
    body = r.json()
    assert body["window"]["until"] == "2026-06-01T16:00:00Z"
    assert body["window"]["since"] == "2026-05-31T16:00:00Z"
    assert body["window"]["history_since"] == "2026-05-01T16:00:00Z"
    assert body["computed_at"].endswith("Z")
    flags = body["anomalies"]
    assert sorted(a["kind"] for a in flags) == ["denial_burst", "verify_enumeration", "volume"]
    for a in flags:
        assert (a["grant_id"], a["operator_id"]) == ("g-synth", "op-synth")
        assert a["entries_total"] >= len(a["entries"]) > 0 and a["message"]
        first = a["entries"][0]
        assert first["href"] == f"/admin/v1/audit/entries/{first['seq']}"
        entry = client.get(first["href"], headers=tok["auditor"])
        assert entry.status_code == 200
        assert entry.json()["seq"] == first["seq"]
        assert entry.json()["entry"]["grant_id"] == "g-synth"
    burst = next(a for a in flags if a["kind"] == "denial_burst")
    assert burst["evidence"]["denials"] == 20 and burst["evidence"]["deny_ratio"] == 1.0
    assert burst["severity"] == "medium"


@pytest.mark.parametrize(("params", "kinds"), [
    ({"kind": "verify_enumeration"}, ["verify_enumeration"]),
    ({"kind": ["volume", "denial_burst"]}, ["denial_burst", "volume"]),
    ({"grant_id": "g-other"}, []),
    ({"until": at(1, 0).isoformat()}, []),  # the day before: nothing unusual
    ({"since": at(0, 10, 30).isoformat()}, ["verify_enumeration", "volume"]),
])
def test_success_filters(client: TestClient, tok: dict[str, dict[str, str]],
                         params: dict[str, Any], kinds: list[str]) -> None:
    query = {**WINDOW, **params}
    if "since" in params:
        del query["days"]
    r = client.get(URL, headers=tok["auditor"], params=query)
    assert r.status_code == 200
    assert sorted(a["kind"] for a in r.json()["anomalies"]) == kinds


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"days": "0"}, 400, "bad_window"),
    ({"days": "400"}, 400, "bad_window"),
    ({"days": "1", "since": at(0, 1).isoformat()}, 400, "bad_window"),
    ({"since": (END + dt.timedelta(hours=1)).isoformat()}, 400, "bad_window"),
    ({"history_days": "0"}, 400, "bad_history"),
    ({"until": "0001-01-01T00:00:00"}, 400, "bad_window"),
    ({"days": str(10**30)}, 400, "bad_window"),
    ({"kind": "vibes"}, 400, "bad_kind"),
    ({"until": "yesterday"}, 422, "invalid_request"),
    ({"days": "a week"}, 422, "invalid_request"),
])
def test_fail_bad_parameters(client: TestClient, tok: dict[str, dict[str, str]],
                             params: dict[str, str], status: int, code: str) -> None:
    r = client.get(URL, headers=tok["auditor"], params={"until": END.isoformat(), **params})
    assert r.status_code == status and r.json()["error"]["code"] == code


@pytest.mark.parametrize(("seq", "status", "code"), [
    ("99999999", 404, "audit_entry_not_found"),
    ("-1", 404, "audit_entry_not_found"),
    ("99999999999999999999", 404, "audit_entry_not_found"),
    ("x", 422, "invalid_request"),
])
def test_fail_unknown_entry(client: TestClient, tok: dict[str, dict[str, str]], seq: str,
                            status: int, code: str) -> None:
    r = client.get(f"/admin/v1/audit/entries/{seq}", headers=tok["auditor"])
    assert r.status_code == status and r.json()["error"]["code"] == code
