from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.auditlog.helpers import engine_for


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    with engine_for("sqlite", tmp_path) as e:
        yield e
