"""Detectors built once per test session (building one loads the tagger)."""

from __future__ import annotations

import pytest

from anonymizers.analyzer import Detector, build_analyzer


@pytest.fixture(scope="session")
def ids_only() -> Detector:
    """Identifiers only: no tagger."""
    return build_analyzer("none")


@pytest.fixture(scope="session")
def lac() -> Detector:
    """The default detector (LAC tagger)."""
    return build_analyzer("lac")


@pytest.fixture(scope="session")
def jieba_detector() -> Detector:
    """The light detector (jieba tagger)."""
    return build_analyzer("jieba")
