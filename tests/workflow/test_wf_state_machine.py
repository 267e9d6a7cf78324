"""The application state machine: every (state, action) pair, in the table and through the
API, and the recorded history of transitions."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.applications import STATES, TRANSITIONS, next_state
from gateway.errors import Conflict
from tests.workflow.helpers import Actors, application_body, submit

ACTIONS = ("approve", "reject", "return", "resubmit", "withdraw")
LEGAL = {
    ("submitted", "approve"): "approved",
    ("submitted", "reject"): "rejected",
    ("submitted", "return"): "returned",
    ("submitted", "withdraw"): "withdrawn",
    ("returned", "resubmit"): "submitted",
    ("returned", "withdraw"): "withdrawn",
}
CASES = list(itertools.product(STATES, ACTIONS))


def test_table_is_exactly_the_documented_machine() -> None:
    assert {k: v for k, v in TRANSITIONS.items() if k[0] is not None} == LEGAL
    assert next_state(None, "submit") == "submitted"


@pytest.mark.parametrize("state,action", CASES)
def test_next_state_table(state: Any, action: Any) -> None:
    if (state, action) in LEGAL:
        assert next_state(state, action) == LEGAL[(state, action)]
    else:
        with pytest.raises(Conflict) as exc:
            next_state(state, action)
        assert exc.value.code == "illegal_transition"


def _act(client: TestClient, actors: Actors, app_id: str, action: str) -> Any:
    if action in ("approve", "reject", "return"):
        body = {} if action == "approve" else {"reason": f"{action} for the test"}
        return client.post(f"/admin/v1/applications/{app_id}/{action}", json=body,
                           headers=actors.reviewer)
    if action == "resubmit":
        return client.post(f"/v1/applications/{app_id}/resubmit", headers=actors.op_a,
                           json=application_body(client, actors.op_a, purpose="wf_resubmitted"))
    return client.post(f"/v1/applications/{app_id}/withdraw", json={"note": "no longer needed"},
                       headers=actors.op_a)


_PATH_TO = {"submitted": [], "approved": ["approve"], "rejected": ["reject"],
            "returned": ["return"], "withdrawn": ["withdraw"]}


@pytest.mark.parametrize("state,action", CASES)
def test_transition_through_the_api(client: TestClient, actors: Actors, state: str,
                                    action: str) -> None:
    app_id = submit(client, actors.op_a)
    for step in _PATH_TO[state]:
        assert _act(client, actors, app_id, step).status_code == 200
    r = _act(client, actors, app_id, action)
    if (state, action) in LEGAL:
        assert r.status_code == 200, r.text
        assert r.json()["state"] == LEGAL[(state, action)]
    else:
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "illegal_transition"
        after = client.get(f"/v1/applications/{app_id}", headers=actors.op_a).json()
        assert after["state"] == state


def test_every_transition_is_recorded_with_who_and_when(client: TestClient,
                                                         actors: Actors) -> None:
    app_id = submit(client, actors.op_a)
    for action in ("return", "resubmit", "approve"):
        assert _act(client, actors, app_id, action).status_code == 200
    doc = client.get(f"/v1/applications/{app_id}", headers=actors.op_a).json()
    steps = [(e["action"], e["from"], e["to"], e["actor_id"]) for e in doc["events"]]
    assert steps == [("submit", None, "submitted", "op-a"),
                     ("return", "submitted", "returned", "reviewer"),
                     ("resubmit", "returned", "submitted", "op-a"),
                     ("approve", "submitted", "approved", "reviewer")]
    assert doc["events"][1]["note"] == "return for the test"
    assert all(e["at"].endswith("Z") for e in doc["events"])
    assert doc["revision"] == 2 and doc["purpose"] == "wf_resubmitted"
    # The agreement was accepted again on resubmission, hash and time stored.
    assert [a["revision"] for a in doc["acceptances"]] == [1, 2]
    assert all(len(a["sha256"]) == 64 and a["accepted_at"] for a in doc["acceptances"])
    assert len(doc["grant_ids"]) == 1


def test_only_the_applicant_resubmits_or_withdraws(client: TestClient, actors: Actors) -> None:
    app_id = submit(client, actors.op_a)
    r = client.post(f"/v1/applications/{app_id}/withdraw", json={}, headers=actors.op_b)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_application"
    r = client.get(f"/v1/applications/{app_id}", headers=actors.op_b)
    assert r.status_code == 404
    mine = client.get("/v1/applications", headers=actors.op_b).json()["applications"]
    assert app_id not in {a["id"] for a in mine}
