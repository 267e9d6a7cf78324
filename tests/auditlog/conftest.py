from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from .helpers import Ed25519Signer, engine_for


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[sa.Engine]:
    with engine_for(backend, tmp_path) as e:
        yield e


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer()
