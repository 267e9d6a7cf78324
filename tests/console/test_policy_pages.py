"""The console's policy pages: versions list, detail, the editor with the checks'
findings inline, maker-checker approval, activation visible in the next API query,
rollback, replay and what-if — each action audited (kind ``console``) next to the
lifecycle's own ``policy`` entries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient
from markupsafe import escape

from gateway.auditlog import search
from gateway.policy import lifecycle
from gateway.policy import versions as pv
from gateway.policy.bundle import DATA_FILE
from tests.console.helpers import sign_in
from tests.gateway.helpers import bearer, creds, raw_identifiers

FIELDS = "gateway/fields/fields.rego"
# An object literal closed on the same line as the rule head that follows it: OPA
# reports a missing "}" here on this very line ("non-terminated object").
BREAKABLE = '} else := {"operator": spec.operator, "params": {}} if {'
COMMENT = "# Operator and params for every requested field the dataset declares."


def _engine(client: TestClient) -> sa.Engine:
    engine: sa.Engine = client.app.state.services.state_engine  # type: ignore[attr-defined]
    return engine


def _active(client: TestClient) -> int:
    pointer = pv.active_pointer(_engine(client))
    assert pointer is not None
    return pointer[0]


def _files(client: TestClient, version_id: int) -> dict[str, str]:
    return lifecycle.bundle_files(pv.get_bundle(_engine(client), version_id))


def _save(client: TestClient, csrf: str, version_id: int, path: str, text: str,
          message: str = "console edit") -> httpx.Response:
    return client.post(f"/console/policies/{version_id}/edit", follow_redirects=False,
                       data={"csrf_token": csrf, "file": path, "text": text,
                             "message": message})


def _new_version(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text[-2000:]
    match = re.match(r"/console/policies/(\d+)/edit\?", response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


def _post(client: TestClient, path: str, csrf: str | None, **data: str) -> httpx.Response:
    form = {**data, **({"csrf_token": csrf} if csrf is not None else {})}
    return client.post(path, data=form, follow_redirects=False)


def _query(client: TestClient, data_dir: Path) -> dict[str, Any]:
    token = creds(data_dir)["operators"]["op-hotline"]["token"]
    r = client.post("/v1/datasets/qiye_dengji/query", headers=bearer(token),
                    json={"fields": ["id", "address"], "limit": 2})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _audit(client: TestClient, kind: str) -> list[dict[str, Any]]:
    return [e.entry for e in search(_engine(client), kind=kind, limit=1000).entries]


def _pseudonymizing_data(text: str) -> str:
    data = json.loads(text)
    data["gateway_config"]["default_operators"]["LOCATION"]["operator"] = "pseudonymize"
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def test_list_and_detail_render(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "admin")
    active = _active(client)
    page = client.get("/console/policies")
    assert page.status_code == 200
    assert 'data-testid="versions"' in page.text and 'data-testid="approval-queue"' in page.text
    assert re.search(rf'data-version="{active}"[^>]*class="active-version"', page.text)
    assert 'data-testid="active-marker"' in page.text and 'data-state="active"' in page.text
    detail = client.get(f"/console/policies/{active}")
    assert detail.status_code == 200
    for testid in ("files", "check-report", "coverage", "events", "diff", "checks-ok"):
        assert f'data-testid="{testid}"' in detail.text, testid
    assert f"/console/policies/{active}/edit?file={FIELDS}" in detail.text
    link = re.search(r'href="(/console/policies/\d+/edit\?file=[^"&]+&amp;line=(\d+))" '
                     r'data-testid="finding-link">[^<:]+:\d+:\d+<', detail.text)
    assert link is not None, "each finding reads file:line:col and opens the editor there"
    editor = client.get(link.group(1).replace("&amp;", "&"))
    assert editor.status_code == 200 and f'data-focus-line="{link.group(2)}"' in editor.text
    assert 'data-gutter="gutter-editor"' in editor.text and 'id="gutter-editor"' in editor.text
    assert client.get("/console/policies/active").status_code == 200
    english = client.get("/console/policies", headers={"Accept-Language": "en"})
    assert "Policy versions" in english.text and "Approval queue" in english.text
    missing = client.get("/console/policies/99999")
    assert missing.status_code == 404 and "policy_version_not_found" in missing.text


def test_pages_need_the_admin_role(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "reviewer")
    r = client.get("/console/policies")
    assert r.status_code == 403 and "role_required" in r.text


def test_missing_csrf_is_refused(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "admin")
    active = _active(client)
    for path in (f"/console/policies/{active}/edit", f"/console/policies/{active}/activate",
                 "/console/policies/rollback", f"/console/policies/{active}/replay"):
        r = _post(client, path, None, file=FIELDS, text="x", message="m")
        assert r.status_code == 403 and "csrf_failed" in r.text, path
    r = _post(client, "/console/policies/rollback", "not-the-token")
    assert r.status_code == 403 and "csrf_failed" in r.text
    assert _active(client) == active


def test_edit_propose_approve_activate_and_roll_back(client: TestClient,
                                                     console_dir: Path) -> None:
    csrf = sign_in(client, console_dir, "admin")
    engine = _engine(client)
    seed = _active(client)
    original = _files(client, seed)[FIELDS]
    lines = original.split("\n")
    broken_at = lines.index(BREAKABLE) + 1
    before = len(pv.list_versions(engine))

    # A syntax error: nothing is stored; the text comes back with the finding at its line.
    lines[broken_at - 1] = BREAKABLE.replace("{}} if {", "{} if {")
    broken = "\n".join(lines)
    r = _save(client, csrf, seed, FIELDS, broken.replace("\n", "\r\n"), "break it")
    assert r.status_code == 422, r.text[-2000:]
    assert "draft_refused" in r.text and 'data-testid="not-saved"' in r.text
    assert re.search(rf"{re.escape(FIELDS)}:{broken_at}:\d+", r.text)
    assert f'data-bad-lines="{broken_at}"' in r.text
    assert f'data-focus-line="{broken_at}"' in r.text
    assert f'<span class="bad">{broken_at}</span>' in r.text
    assert str(escape(lines[broken_at - 1])) in r.text  # the admin's edit is kept
    assert 'data-testid="propose"' not in r.text
    assert len(pv.list_versions(engine)) == before

    # Fixed (and a comment reworded): a clean draft whose parent is the seed.
    fixed = original.replace(COMMENT, COMMENT[:-1] + " (console).")
    r = _save(client, csrf, seed, FIELDS, fixed.replace("\n", "\r\n"), "reword a comment")
    draft = _new_version(r)
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and 'data-testid="draft-clean"' in page.text
    assert 'data-testid="propose"' in page.text and "sev-error" not in page.text
    version = pv.get_version(engine, draft)
    assert (version.state, version.parent_id, version.author) == ("draft", seed, "admin")
    assert _files(client, draft)[FIELDS] == fixed

    # A second edit, of data.json: addresses pseudonymized instead of masked.
    r = _save(client, csrf, draft, DATA_FILE, _pseudonymizing_data(_files(client, draft)[DATA_FILE]),
              "pseudonymize addresses")
    candidate = _new_version(r)
    detail = client.get(f"/console/policies/{candidate}")
    assert f'data-file="{DATA_FILE}"' in detail.text and "pseudonymize" in detail.text

    r = _post(client, f"/console/policies/{candidate}/propose", csrf)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert 'data-state="proposed"' in page.text and 'data-testid="awaiting-other-admin"' in page.text
    assert "done.policy_proposed" not in page.text and 'data-testid="notice"' in page.text

    # Maker-checker: the author cannot approve; the page says why (403, no crash).
    r = _post(client, f"/console/policies/{candidate}/approve", csrf, note="mine")
    assert r.status_code == 403 and 'data-testid="error"' in r.text and "own_version" in r.text
    assert pv.get_version(engine, candidate).state == "proposed"

    # Decisions recorded under the seed (replayed below).
    assert _query(client, console_dir)["fields"]["address"]["operator"] == "mask"

    csrf2 = sign_in(client, console_dir, "admin2")
    queue = client.get("/console/policies")
    assert re.search(rf'data-testid="queue-row" data-version="{candidate}"', queue.text)
    assert 'data-testid="queue-review"' in queue.text
    r = _post(client, f"/console/policies/{candidate}/approve", csrf2, note="looks right")
    assert r.status_code == 303
    assert pv.get_version(engine, candidate).approved_by == "admin2"
    r = _post(client, f"/console/policies/{candidate}/activate", csrf2)
    assert r.status_code == 303
    pointer = pv.active_pointer(engine)
    assert pointer is not None and pointer[0] == candidate
    body = _query(client, console_dir)
    assert body["receipt"]["policy_version_id"] == candidate
    assert body["fields"]["address"]["operator"] == "pseudonymize"
    listed = client.get("/console/policies").text
    assert re.search(rf'data-version="{candidate}"[^>]*class="active-version"', listed)
    assert 'data-testid="rollback"' in listed

    # Replay of the seed's decisions under the candidate: counts, no personal data.
    r = _post(client, f"/console/policies/{candidate}/replay", csrf2, last="200")
    assert r.status_code == 200 and 'data-testid="replay-summary"' in r.text
    total = re.search(r'data-testid="count-total">(\d+)<', r.text)
    assert total is not None and int(total.group(1)) >= 1
    assert "mask→pseudonymize" in r.text and not raw_identifiers(r.text)

    r = _post(client, "/console/policies/rollback", csrf2)
    assert r.status_code == 303
    assert _active(client) == seed
    assert _query(client, console_dir)["receipt"]["policy_version_id"] == seed
    events = client.get(f"/console/policies/{candidate}").text
    for event in ("create", "propose", "approve", "activate", "rolled_back"):
        assert f'data-event="{event}"' in events, event

    console = [(e["event"], e["outcome"], e["principal"]["operator_id"])
               for e in _audit(client, "console")]
    for expected in (("policy_draft_save", "draft_refused", "admin"),
                     ("policy_draft_save", "ok", "admin"), ("policy_propose", "ok", "admin"),
                     ("policy_approve", "own_version", "admin"),
                     ("policy_approve", "ok", "admin2"), ("policy_activate", "ok", "admin2"),
                     ("policy_replay", "ok", "admin2"), ("policy_rollback", "ok", "admin2")):
        assert expected in console, expected
    policy = [(e["event"], e["actor"], e["version_id"]) for e in _audit(client, "policy")]
    for expected in (("create", "admin", draft), ("create", "admin", candidate),
                     ("propose", "admin", candidate), ("approve", "admin2", candidate),
                     ("activate", "admin2", candidate), ("rollback", "admin2", seed)):
        assert expected in policy, expected


def test_invalid_data_json_and_failing_checks_block_the_proposal(
        client: TestClient, console_dir: Path) -> None:
    csrf = sign_in(client, console_dir, "admin")
    seed = _active(client)
    data = _files(client, seed)[DATA_FILE].split("\n")
    at = next(i for i, line in enumerate(data) if line.endswith("],"))
    data[at] = data[at].rstrip(",")  # a missing comma: JSON notices on the next line
    r = _save(client, csrf, seed, DATA_FILE, "\n".join(data))
    assert r.status_code == 422 and 'data-testid="not-saved"' in r.text
    assert re.search(rf"{DATA_FILE}:{at + 2}:\d+", r.text)
    assert f'data-bad-lines="{at + 2}"' in r.text

    decision = "gateway/decision.rego"
    renamed = _files(client, seed)[decision].replace("decision :=", "verdict :=")
    draft = _new_version(_save(client, csrf, seed, decision, renamed, "rename decision"))
    page = client.get(f"/console/policies/{draft}/edit?file={decision}")
    assert 'data-testid="propose-blocked"' in page.text and 'data-testid="propose"' not in page.text
    assert 'data-check="contract"' in page.text
    r = _post(client, f"/console/policies/{draft}/propose", csrf)
    assert r.status_code == 422 and "checks_failed" in r.text
    assert pv.get_version(_engine(client), draft).state == "draft"


def test_reject_with_a_note(client: TestClient, console_dir: Path) -> None:
    csrf = sign_in(client, console_dir, "admin")
    seed = _active(client)
    fixed = _files(client, seed)[FIELDS].replace(COMMENT, COMMENT + " To be rejected.")
    draft = _new_version(_save(client, csrf, seed, FIELDS, fixed, "to reject"))
    assert _post(client, f"/console/policies/{draft}/propose", csrf).status_code == 303
    r = _post(client, f"/console/policies/{draft}/reject", csrf, note="mine")
    assert r.status_code == 403 and "own_version" in r.text
    csrf2 = sign_in(client, console_dir, "admin2")
    detail = client.get(f"/console/policies/{draft}")
    assert 'data-testid="approve"' in detail.text and 'data-testid="reject"' in detail.text
    r = _post(client, f"/console/policies/{draft}/reject", csrf2, note="not now")
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert 'data-state="rejected"' in page.text and "not now" in page.text
    r = _post(client, f"/console/policies/{draft}/activate", csrf2)
    assert r.status_code == 409 and "illegal_transition" in r.text


def test_what_if_and_replay_form(client: TestClient, console_dir: Path) -> None:
    csrf = sign_in(client, console_dir, "admin")
    active = _active(client)
    page = client.get(f"/console/policies/{active}/replay")
    assert page.status_code == 200 and 'value="200"' in page.text
    r = _post(client, f"/console/policies/{active}/what-if", csrf,
              sample="conditional_rows_granted", input="")
    assert r.status_code == 200 and 'data-testid="what-if-result"' in r.text
    assert ".rego:" in r.text  # the rules that fired, file:line
    r = _post(client, f"/console/policies/{active}/what-if", csrf, sample="", input="{nope")
    assert r.status_code == 400 and "invalid_what_if_input" in r.text and "{nope" in r.text
    r = _post(client, f"/console/policies/{active}/replay", csrf, last="-3")
    assert r.status_code == 400 and "bad_replay_window" in r.text


def test_the_api_refuses_unparsable_drafts_like_the_console(client: TestClient,
                                                            console_dir: Path) -> None:
    seed = _active(client)
    bundle = pv.get_bundle(_engine(client), seed)
    modules = {**bundle.modules, FIELDS: bundle.modules[FIELDS].replace(BREAKABLE, "} else {")}
    r = client.post("/admin/v1/policies", headers=bearer(creds(console_dir)["admin"]["token"]),
                    json={"modules": modules, "tests": dict(bundle.tests),
                          "data": dict(bundle.data), "message": "broken"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "draft_refused", r.text
    assert any(FIELDS in reason for reason in r.json()["error"]["reasons"])
