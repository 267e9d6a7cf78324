"""Reading a store into the ring's in-memory form, and making a store's first keys.

A ``Snapshot`` is immutable: ``KeyRing.refresh()`` builds a new one and swaps it in with
one assignment, so a request that already holds the old snapshot finishes on it and never
sees half a reload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from keys.errors import KeyConflict, KeyRingError
from keys.master import MasterKey
from keys.material import RingKey, generate_material, open_record, seal_record
from keys.records import ALG_FOR, KeyRecord, KeyStatus, Purpose, new_key_id
from keys.store import KeyStore

log = logging.getLogger(__name__)

_KNOWN_PURPOSES = frozenset(p.value for p in Purpose)


@dataclass(frozen=True, repr=False)
class Snapshot:
    """Every decrypted key by id, and the primary key id of each purpose."""

    keys: Mapping[str, RingKey]
    primary: Mapping[Purpose, str]


def load_snapshot(store: KeyStore, master: MasterKey) -> Snapshot:
    """Decrypt every record; raises if the master key is wrong, a row was altered, or a
    purpose has no primary."""
    keys: dict[str, RingKey] = {}
    primary: dict[Purpose, str] = {}
    for record in store.load():
        if record.purpose not in _KNOWN_PURPOSES:
            continue  # written by a newer gateway; not ours to use
        key = open_record(master, record)
        keys[record.id] = key
        if key.info.status is KeyStatus.PRIMARY:
            primary[key.info.purpose] = record.id
    missing = [p.value for p in Purpose if p not in primary]
    if missing:
        raise KeyRingError(f"the key ring has no primary key for {', '.join(missing)} "
                           f"(run pgw init)")
    return Snapshot(keys, primary)


def new_record(master: MasterKey, purpose: Purpose, version: int) -> KeyRecord:
    """Fresh random material for ``version`` of ``purpose``, sealed, as the new primary."""
    alg = ALG_FOR[purpose]
    return seal_record(master, key_id=new_key_id(purpose, version), purpose=purpose, alg=alg,
                       version=version, status=KeyStatus.PRIMARY,
                       material=generate_material(alg))


def create_missing(store: KeyStore, master: MasterKey) -> None:
    """Add version 1 of every purpose the store has no key for (``pgw init``)."""
    present = {r.purpose for r in store.load()}
    for purpose in Purpose:
        if purpose.value in present:
            continue
        try:
            store.add(new_record(master, purpose, 1))
            log.info("created %s key version 1", purpose.value)
        except KeyConflict:
            pass  # another replica initialised this purpose at the same moment
