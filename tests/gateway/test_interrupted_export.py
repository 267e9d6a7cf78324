"""An export the client abandons is recorded as interrupted, with the rows actually sent.
Runs a real uvicorn server on loopback: the disconnect must come from a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.api.app import create_app
from gateway.auditlog import search
from gateway.demo.load import load_table
from gateway.settings import Settings
from tests.gateway.helpers import bearer, creds


@pytest.fixture(scope="module")
def server(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import shutil

    import sqlalchemy as sa

    d = tmp_path_factory.mktemp("big") / "data"
    shutil.copytree(demo_dir, d)
    # A table big enough that the export cannot fit in the socket buffers at once.
    load_table(sa.create_engine(f"sqlite:///{d / 'demo-upstream.db'}"), "qiye_dengji", 60_000)
    app = create_app(Settings(data_dir=d, batch_size=500))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    t.join(10)


def test_abandoned_stream_is_recorded_interrupted(server: tuple[str, Any],
                                                  demo_dir: Path) -> None:
    url, app = server
    token = creds(demo_dir)["operators"]["op-hotline"]["token"]
    with httpx.stream("POST", f"{url}/v1/datasets/qiye_dengji/query",
                      json={"fields": ["id", "company", "legal_rep", "address"]},
                      headers={**bearer(token), "Accept": "application/x-ndjson"},
                      timeout=30) as r:
        assert r.status_code == 200
        rid = r.headers["X-Request-Id"]
        first = next(r.iter_bytes())
        assert first
    # The client is gone; the server notices on its next write and closes the stream.
    svc = app.state.services
    for _ in range(100):
        entries = search(svc.state_engine, request_id=rid).entries
        if len(entries) == 2:
            break
        time.sleep(0.1)
    kinds = [e.kind for e in entries]
    assert kinds == ["decision", "release"], kinds
    release = entries[1].entry
    assert release["status"] == "interrupted"
    assert 0 < release["row_count"] < 60_000
    assert "receipt_signature" not in release
