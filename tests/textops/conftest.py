"""Fixtures for the free-text operator tests: a stand-in detector, contexts, a key ring."""

from __future__ import annotations

import datetime as dt

import pytest

from anonymizers.text_ops import OperatorContext
from keys import InMemoryKeyStore, KeyRing, MasterKey
from tests.textops.standin import RegexDetector

TODAY = dt.date(2025, 6, 1)
KEY_A = b"a" * 32
KEY_B = b"b" * 32


@pytest.fixture
def detector() -> RegexDetector:
    """The regex stand-in for the analyzer."""
    return RegexDetector()


@pytest.fixture
def ctx() -> OperatorContext:
    """A grant context with a fixed pseudonym key and no key ring."""
    return OperatorContext(TODAY, KEY_A, "psn-v1.g-1", "g-1")


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    """A fresh in-memory key ring (token, pseudonym, ... keys created on open)."""
    return KeyRing.open(InMemoryKeyStore(), MasterKey.generate())
