"""Activation is atomic across processes (PostgreSQL): two gateway processes decide in a
loop; once the activation has committed, no decision of either uses the old version, and
every decision's content matches the version it names."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway import migrate
from gateway.policy import versions as pv
from gateway.policy.bundle import PolicyBundle
from tests.conftest import pg_schema

from .conftest import changed

WORKER = r"""
import json, sys, time
import sqlalchemy as sa
from gateway.policy.active import VersionedEngine
from gateway.policy.samples import sample_inputs

url, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
doc = sample_inputs()["open_rows_no_grant"]
doc["dataset"]["fields"]["address"] = {"pii": "LOCATION", "level": 3, "quasi_identifier": False,
                                       "operator": None, "free_text": False, "type": "string"}
doc["request"]["fields"] = ["gender", "address"]
engine = VersionedEngine(sa.create_engine(url), workers=1)
log = []
deadline = time.time() + 60
import os
while time.time() < deadline and not os.path.exists(stop):
    start = time.time_ns()
    d = engine.decide(doc)
    log.append([start, time.time_ns(), d.policy_version, d.fields["address"].operator])
    if len(log) % 20 == 0:
        with open(out + ".tmp", "w") as fh:
            json.dump(log, fh)
        os.replace(out + ".tmp", out)
with open(out + ".tmp", "w") as fh:
    json.dump(log, fh)
os.replace(out + ".tmp", out)
engine.close()
"""


def _read(path: Path) -> list[list[Any]]:
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError):
        return []


@pytest.mark.postgres
def test_two_processes_switch_on_their_next_decision(tmp_path: Path,
                                                     seed_bundle: PolicyBundle) -> None:
    data = json.loads(json.dumps(dict(seed_bundle.data)))
    data["gateway_config"]["default_operators"]["LOCATION"]["operator"] = "pseudonymize"
    candidate = changed(seed_bundle, data=data)
    expected = {seed_bundle.hash: "mask", candidate.hash: "pseudonymize"}
    with pg_schema() as url:
        engine = sa.create_engine(url)
        migrate.upgrade(engine)
        pv.seed(engine, seed_bundle)
        new = pv.create_version(engine, candidate, author="alice", message="t",
                                state=pv.APPROVED)
        stop = tmp_path / "stop"
        outs = [tmp_path / f"w{i}.json" for i in range(2)]
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(o), str(stop)])
                 for o in outs]
        try:
            deadline = time.time() + 60
            while not all(len(_read(o)) >= 20 for o in outs):  # both serve the seed
                assert time.time() < deadline and all(p.poll() is None for p in procs)
                time.sleep(0.05)
            pv.activate(engine, new.id, "bob")
            committed = time.time_ns()
            while not all(any(r[0] > committed for r in _read(o)[-5:]) for o in outs):
                assert time.time() < deadline
                time.sleep(0.05)
            time.sleep(0.2)
        finally:
            stop.touch()
            for p in procs:
                p.wait(timeout=30)
        engine.dispose()
    for out in outs:
        log = _read(out)
        assert {h for _, _, h, _ in log} == set(expected)
        for start, _, version, operator in log:
            assert operator == expected[version]  # one version per decision
            if start > committed:
                assert version == candidate.hash
