"""Secrets at rest and in memory: sealed in the store, redacted in reprs and logs, never
pickled; a wrong master key or an altered row does not open the ring."""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
import pickle
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ed25519

from keys import KeyRing, KeyRingError, MasterKey, MasterKeyError, Purpose
from keys.master import KeyError_
from keys.material import SymmetricKey
from keys.store import key_ring
from tests.keys.backends import Backend


def _raw_secrets(ring: KeyRing) -> dict[str, bytes]:
    """Every key's secret bytes, read from the ring's internals (only a test may)."""
    out = {}
    for kid, key in ring._snap.keys.items():
        if isinstance(key, SymmetricKey):
            out[kid] = key.secret
        elif isinstance(key.private, ed25519.Ed25519PrivateKey):
            out[kid] = key.private.private_bytes_raw()
        else:
            out[kid] = key.private.private_numbers().private_value.to_bytes(32, "big")
    return out


def _spellings(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret).rstrip(b"=")]


def test_key_material_is_not_stored_in_clear(backend: Backend, master: MasterKey) -> None:
    ring = backend.ring(master)
    for purpose in Purpose:
        ring.rotate(purpose)
    stored = backend.raw()
    assert len(stored) > 7 * 2 * 32
    secrets = _raw_secrets(ring)
    assert len(secrets) == 2 * len(Purpose)
    for kid, secret in secrets.items():
        assert kid.encode() in stored or backend.name == "memory"
        for spelling in _spellings(secret):
            assert spelling not in stored, f"{kid} is stored in clear"
        assert secret[:16] not in stored
    for spelling in _spellings(master.secret()):
        assert spelling not in stored


def test_a_wrong_master_key_cannot_open_the_ring(backend: Backend, master: MasterKey) -> None:
    backend.ring(master)
    with pytest.raises(MasterKeyError, match="does not open"):
        backend.ring(MasterKey.generate())
    with pytest.raises(KeyError_):  # what the gateway catches at start-up
        backend.ring(MasterKey.generate())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)],
                         indirect=True)
@pytest.mark.parametrize("change", ["swap sealed material", "swap public key", "rename key"])
def test_an_altered_row_does_not_open(backend: Backend, master: MasterKey, change: str) -> None:
    """Someone with write access to the state DB (not to the master key) cannot slip their
    own key in as the signing key."""
    ring = backend.ring(master)
    ring.rotate(Purpose.SIGNING)
    engine = backend.engine
    assert engine is not None
    with engine.begin() as conn:
        v1, v2 = conn.execute(sa.select(key_ring).where(key_ring.c.purpose == "signing")
                              .order_by(key_ring.c.version)).all()
        column = {"swap sealed material": "wrapped", "swap public key": "public_key"}.get(change)
        if column is not None:
            conn.execute(sa.update(key_ring).where(key_ring.c.id == v1.id)
                         .values({column: getattr(v2, column)}))
        else:
            conn.execute(sa.update(key_ring).where(key_ring.c.id == v1.id)
                         .values(id="sig-v1-ffffff"))
    with pytest.raises(KeyRingError):
        backend.ring(master)


def test_reprs_are_redacted(ring: KeyRing, master: MasterKey) -> None:
    secrets = [*_raw_secrets(ring).values(), master.secret()]
    derived = [ring.pseudonym_key("g-1"), ring.cursor_key()]
    keys: list[Any] = list(ring._snap.keys.values())
    texts = [repr(master), repr(ring), str(ring), *map(repr, derived), *map(repr, keys)]
    assert all("redacted" in t for t in texts)
    blob = "\n".join(texts).encode()
    for secret in [*secrets, *(d.secret for d in derived)]:
        for spelling in _spellings(secret):
            assert spelling not in blob
        assert repr(secret).encode() not in blob


def _secret_objects(ring: KeyRing, master: MasterKey) -> list[Any]:
    return [master, ring, ring.pseudonym_key("g-1"), ring.cursor_key(),
            *ring._snap.keys.values()]


@pytest.mark.parametrize("copier", [pickle.dumps, copy.copy, copy.deepcopy],
                         ids=["pickle", "copy", "deepcopy"])
def test_secret_holders_refuse_pickling_and_copying(ring: KeyRing, master: MasterKey,
                                                   copier: Any) -> None:
    for obj in _secret_objects(ring, master):
        with pytest.raises(TypeError, match="pickled"):
            copier(obj)


def test_nothing_secret_is_logged(backend: Backend, master: MasterKey,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ring = backend.ring(master)
    for purpose in Purpose:
        old = ring.rotate(purpose)
        ring.retire(next(i.id for i in ring.list()
                         if i.purpose is purpose and i.id != old))
    ring.refresh()
    assert "rotated" in caplog.text and "retired" in caplog.text
    logged = caplog.text.encode()
    for secret in [*_raw_secrets(ring).values(), master.secret()]:
        for spelling in _spellings(secret):
            assert spelling not in logged


def test_key_infos_hold_no_secret(ring: KeyRing) -> None:
    info = ring.list()[0]
    assert [f.name for f in dataclasses.fields(info)] == [
        "id", "purpose", "version", "status", "alg", "created_at", "retired_at"]
