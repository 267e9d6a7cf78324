"""Fixtures for the workflow tests: each test module gets its own demo data dir (never the
shared session ``demo_dir``) and an app on it, with extra principals for role tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.settings import Settings
from gateway.setup import init_data_dir
from tests.workflow.helpers import Actors, make_actors


@pytest.fixture(scope="module")
def wf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wf")
    init_data_dir(Settings(data_dir=d), demo=True, rows=200, echo=lambda m: None)
    return d


@pytest.fixture(scope="module")
def client(wf_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=wf_dir))) as c:
        yield c


@pytest.fixture(scope="module")
def actors(client: TestClient, wf_dir: Path) -> Actors:
    return make_actors(client, wf_dir)
