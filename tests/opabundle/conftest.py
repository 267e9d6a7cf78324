"""Signed-bundle fixtures: a real key ring (in memory) and the repository's policies."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from gateway.policy.bundle import PolicyBundle, load_policy_dir
from keys import InMemoryKeyStore, KeyRing, MasterKey

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="session")
def policy() -> PolicyBundle:
    """The repository's policy version."""
    return load_policy_dir(POLICY_DIR)


@pytest.fixture
def ring() -> KeyRing:
    """A fresh key ring with a bundle-signing (ES256) key."""
    return KeyRing.open(InMemoryKeyStore(), MasterKey.generate())


def untar(data: bytes) -> dict[str, bytes]:
    """Every file of a .tar.gz, by name, in archive order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def retar(files: Mapping[str, bytes], *, extra: Callable[[tarfile.TarFile], None] | None = None
          ) -> bytes:
    """A .tar.gz of ``files`` (plus whatever ``extra`` adds)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        if extra is not None:
            extra(tar)
    return gzip.compress(raw.getvalue())
