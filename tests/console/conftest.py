"""A console client per module on a copy of the demo data dir."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.settings import Settings


@pytest.fixture(scope="module")
def console_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("console") / "data"
    shutil.copytree(demo_dir, d)
    return d


@pytest.fixture(scope="module")
def client(console_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=console_dir, audit_checkpoint_every=5)),
                    base_url="http://testserver") as c:
        yield c
