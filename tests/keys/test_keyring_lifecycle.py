"""Ring lifecycle: init, restart, rotation, retirement, replicas, concurrency."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature, InvalidTag

from keys import (
    KeyConflict,
    KeyRetired,
    KeyRing,
    KeyRingError,
    KeyStatus,
    MasterKey,
    Purpose,
    UnknownKey,
)
from keys.records import KEY_ID
from keys.store import key_ring
from tests.keys.backends import Backend


def _primaries(ring: KeyRing) -> dict[Purpose, str]:
    out = {}
    for info in ring.list():
        if info.status is KeyStatus.PRIMARY:
            assert info.purpose not in out, f"two primaries for {info.purpose}"
            out[info.purpose] = info.id
    return out


def test_open_creates_version_1_of_every_purpose(ring: KeyRing) -> None:
    infos = ring.list()
    assert {i.purpose for i in infos} == set(Purpose)
    assert all(i.version == 1 and i.status is KeyStatus.PRIMARY for i in infos)
    assert all(KEY_ID.fullmatch(i.id) for i in infos)
    assert {i.id.split("-v")[0] for i in infos} == {"sig", "bsig", "psn", "tok", "wrap",
                                                    "cur", "mac"}
    assert [i.alg.value for i in infos] == ["Ed25519", "ES256", "HMAC-SHA256", "AES-SIV-512",
                                            "AES-256-GCM", "HMAC-SHA256", "HMAC-SHA256"]


def test_restart_keeps_the_same_keys(backend: Backend, master: MasterKey) -> None:
    first = backend.ring(master)
    sig = first.sign(b"receipt")
    token = first.token_encrypt(b"110101199003077777", context=b"ds-1")
    again = backend.ring(master)  # another process on the same store
    assert again.list() == first.list()
    again.verify(sig.key_id, b"receipt", sig.sig)
    assert again.token_decrypt(token, context=b"ds-1") == b"110101199003077777"
    assert again.pseudonym_key("g-1") == first.pseudonym_key("g-1")
    assert again.cursor_key() == first.cursor_key()
    assert again.mac("audit-filter", b"x") == first.mac("audit-filter", b"x")


def test_rotation_keeps_old_receipts_and_pseudonyms_verifiable(ring: KeyRing) -> None:
    receipt = ring.sign(b"receipt-1")
    bundle = ring.sign_es256(b"bundle-1")
    old_psn = ring.pseudonym_key("g-1")
    token = ring.token_encrypt(b"13800138000", context=b"ds")
    blob = ring.wrap(b"export", b"file-1")
    old_mac = ring.mac_tagged("audit-filter", b"v")
    old_cursor = ring.cursor_key()

    new_ids = {p: ring.rotate(p) for p in Purpose}

    assert _primaries(ring) == new_ids
    assert all(i.version == 2 for i in ring.list() if i.id in new_ids.values())
    # Old output still checks out under the old (now active) versions ...
    ring.verify(receipt.key_id, b"receipt-1", receipt.sig)
    ring.verify_es256(bundle.key_id, b"bundle-1", bundle.sig)
    assert ring.pseudonym_key_for(old_psn.key_id, "g-1") == old_psn
    assert ring.token_decrypt(token, context=b"ds") == b"13800138000"
    assert ring.unwrap(blob, b"file-1") == b"export"
    assert ring.mac_for(old_mac.key_id, "audit-filter", b"v") == old_mac.digest
    assert ring.cursor_key_for(old_cursor.key_id) == old_cursor
    # ... and new output is made by the new primaries.
    assert ring.sign(b"r").key_id == new_ids[Purpose.SIGNING]
    assert ring.sign_es256(b"b").key_id == new_ids[Purpose.BUNDLE_SIGNING]
    new_psn = ring.pseudonym_key("g-1")
    assert new_psn.key_id == new_ids[Purpose.PSEUDONYM] and new_psn != old_psn
    assert ring.token_encrypt(b"13800138000", context=b"ds") != token
    assert ring.mac_tagged("audit-filter", b"v").key_id == new_ids[Purpose.MAC]


def test_rotation_is_seen_by_another_replica_after_refresh(backend: Backend,
                                                           master: MasterKey) -> None:
    a, b = backend.ring(master), backend.ring(master)
    old = b.pseudonym_key("g-1")
    new_id = a.rotate("pseudonym")
    assert b.pseudonym_key("g-1") == old  # b has not looked yet
    b.refresh()
    assert b.pseudonym_key("g-1").key_id == new_id
    assert b.pseudonym_key("g-1") == a.pseudonym_key("g-1")


def test_a_replica_verifies_a_signature_by_a_key_it_has_not_loaded_yet(
        backend: Backend, master: MasterKey) -> None:
    a, b = backend.ring(master), backend.ring(master)
    a.rotate(Purpose.SIGNING)
    sig = a.sign(b"receipt")
    b.verify(sig.key_id, b"receipt", sig.sig)  # b refreshes once on the unknown id


def test_retired_keys_make_nothing_new_but_signatures_still_verify(ring: KeyRing) -> None:
    receipt = ring.sign(b"receipt")
    token = ring.token_encrypt(b"secret", context=b"c")
    blob = ring.wrap(b"data", b"aad")
    psn = ring.pseudonym_key("g-1")
    olds = {i.purpose: i.id for i in ring.list()}
    for purpose in Purpose:
        ring.rotate(purpose)
        retired = ring.retire(olds[purpose])
        assert retired.status is KeyStatus.RETIRED and retired.retired_at is not None

    assert ring.sign(b"x").key_id != olds[Purpose.SIGNING]
    ring.verify(receipt.key_id, b"receipt", receipt.sig)  # receipts outlive their key
    published = {k["kid"]: k["status"] for k in ring.public_keys()}
    assert published[olds[Purpose.SIGNING]] == "retired"
    assert published[olds[Purpose.BUNDLE_SIGNING]] == "retired"
    with pytest.raises(InvalidTag):
        ring.token_decrypt(token, context=b"c")
    with pytest.raises(InvalidTag):
        ring.unwrap(blob, b"aad")
    with pytest.raises(KeyRetired):
        ring.pseudonym_key_for(psn.key_id, "g-1")
    with pytest.raises(KeyRetired):
        ring.cursor_key_for(olds[Purpose.CURSOR])
    with pytest.raises(KeyRetired):
        ring.mac_for(olds[Purpose.MAC], "audit-filter", b"v")


def test_a_retired_signing_key_refuses_to_sign(ring: KeyRing) -> None:
    from keys import signing

    old = ring.sign(b"x").key_id
    ring.rotate(Purpose.SIGNING)
    ring.retire(old)
    retired_key = ring._snap.keys[old]  # the guard below the public API
    with pytest.raises(KeyRetired):
        signing.sign(retired_key, b"x")  # type: ignore[arg-type]


def test_the_primary_cannot_be_retired(ring: KeyRing) -> None:
    only = ring.sign(b"x").key_id
    with pytest.raises(KeyConflict, match="rotate first"):
        ring.retire(only)
    new = ring.rotate(Purpose.SIGNING)
    ring.retire(only)
    with pytest.raises(KeyConflict):
        ring.retire(new)
    assert ring.retire(only).status is KeyStatus.RETIRED  # retiring twice is harmless


@pytest.mark.parametrize("bad", ["sig-v9-000000", "nonsense"])
def test_unknown_keys_are_refused(ring: KeyRing, bad: str) -> None:
    with pytest.raises(UnknownKey):
        ring.retire(bad)
    with pytest.raises(UnknownKey):
        ring.pseudonym_key_for(bad, "g-1")
    with pytest.raises(InvalidSignature):
        ring.verify(bad, b"x", b"\0" * 64)


def test_unknown_purpose_is_refused(ring: KeyRing) -> None:
    with pytest.raises(KeyRingError, match="unknown key purpose 'signature'.*signing"):
        ring.rotate("signature")


def test_concurrent_rotations_give_distinct_versions_and_one_primary(
        backend: Backend, master: MasterKey) -> None:
    rings = [backend.ring(master) for _ in range(4)]
    new_ids: list[str] = []
    errors: list[BaseException] = []

    def rotate(ring: KeyRing) -> None:
        try:
            new_ids.append(ring.rotate(Purpose.SIGNING))
        except Exception as exc:  # noqa: BLE001  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=rotate, args=(r,)) for r in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = backend.ring(master)
    signing = [i for i in final.list() if i.purpose is Purpose.SIGNING]
    assert sorted(i.version for i in signing) == [1, 2, 3, 4, 5]
    assert Counter(i.status for i in signing)[KeyStatus.PRIMARY] == 1
    assert len(set(new_ids)) == 4


def test_replicas_opening_an_empty_store_at_once_agree_on_one_ring(
        backend: Backend, master: MasterKey) -> None:
    rings: list[KeyRing] = []

    def open_ring() -> None:
        rings.append(backend.ring(master))

    threads = [threading.Thread(target=open_ring) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rings) == 4
    for r in rings:
        r.refresh()
    assert len({tuple(i.id for i in r.list()) for r in rings}) == 1
    assert len(rings[0].list()) == len(Purpose)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)],
                         indirect=True)
def test_the_database_itself_refuses_a_second_primary(backend: Backend,
                                                      master: MasterKey) -> None:
    backend.ring(master)
    assert backend.engine is not None
    with backend.engine.connect() as conn:
        row = conn.execute(sa.select(key_ring).where(key_ring.c.purpose == "signing")).one()
    dup = {**row._asdict(), "id": "sig-v2-abcdef", "version": 2}
    with pytest.raises(sa.exc.IntegrityError), backend.engine.begin() as conn:
        conn.execute(sa.insert(key_ring).values(**dup))  # status is still 'primary'
    with pytest.raises(sa.exc.IntegrityError), backend.engine.begin() as conn:
        conn.execute(sa.insert(key_ring).values(**{**dup, "status": "active", "version": 1}))


