"""Fixtures for the policy lifecycle tests: the repository's policies as a bundle."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gateway.policy.bundle import PolicyBundle, load_policy_dir

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="session")
def seed_bundle() -> PolicyBundle:
    return load_policy_dir(POLICY_DIR)


def changed(bundle: PolicyBundle, *, modules: Mapping[str, str | None] | None = None,
            tests: Mapping[str, str | None] | None = None,
            data: Mapping[str, Any] | None = None) -> PolicyBundle:
    """``bundle`` with files replaced (None: removed) and data replaced."""
    mods, tsts = dict(bundle.modules), dict(bundle.tests)
    for target, edits in ((mods, modules or {}), (tsts, tests or {})):
        for path, text in edits.items():
            if text is None:
                target.pop(path, None)
            else:
                target[path] = text
    return PolicyBundle.build(mods, dict(data) if data is not None else dict(bundle.data), tsts)
