"""A demo data dir per test module, the real API on the embedded OPA engine, and grants
made through the admin API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.gateway.helpers import bearer, creds


@dataclass
class Env:
    """The running gateway and what a test needs to drive it."""

    client: TestClient
    data_dir: Path
    admin: dict[str, str]
    operator: dict[str, str]      # op-hotline: holds no demo grant on these datasets
    researcher: dict[str, str]    # op-research

    def grant(self, dataset: str, fields: list[str], modes: list[str], *,
              purposes: tuple[str, ...] = ("labour_statistics",),
              operator_id: str = "op-hotline", **over: Any) -> str:
        """Create a grant through ``POST /admin/v1/grants``; returns its id."""
        now = dt.datetime.now(dt.UTC)
        body = {"operator_id": operator_id, "dataset_id": dataset, "kind": "license",
                "fields": fields, "purposes": list(purposes), "modes": modes,
                "valid_from": (now - dt.timedelta(days=1)).isoformat(),
                "valid_to": (now + dt.timedelta(days=30)).isoformat(), **over}
        r = self.client.post("/admin/v1/grants", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def upstream(self, sql: str, **params: Any) -> list[Any]:
        """Rows straight from the upstream SQLite database (the reference)."""
        eng = sa.create_engine(f"sqlite:///{self.data_dir / 'demo-upstream.db'}")
        try:
            with eng.connect() as conn:
                return list(conn.execute(sa.text(sql), params).all())
        finally:
            eng.dispose()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("products")
    init_data_dir(Settings(data_dir=data_dir), demo=True, rows=400, echo=lambda m: None)
    c = creds(data_dir)
    with TestClient(create_app(Settings(data_dir=data_dir))) as client:
        yield Env(client, data_dir, bearer(c["admin"]["token"]),
                  bearer(c["operators"]["op-hotline"]["token"]),
                  bearer(c["operators"]["op-research"]["token"]))
