"""End to end in Debian's Chromium against a live gateway: a reviewer approves an
application; the operator queries through the API; an auditor finds the entries, sees
verification OK and downloads a proof; an admin saves a policy with a syntax error, sees
it at its line, fixes it and proposes; a second admin approves and activates."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from gateway.auditlog import parse_note, verify_inclusion
from gateway.auditlog.merkle import leaf_hash
from tests.browser.live import LiveGateway, sign_in
from tests.workflow.helpers import application_body

STATE: dict[str, Any] = {}


def test_reviewer_approves_an_application_with_narrowing(gw: LiveGateway, page: Any) -> None:
    with gw.api("op-research") as op:
        body = application_body(op, dict(op.headers), purpose="browser_e2e")  # type: ignore[arg-type]
        r = op.post("/v1/applications", json=body)
        assert r.status_code == 201, r.text
        app_id = r.json()["id"]
    sign_in(page, gw, "reviewer", "/console/review/applications")
    page.click(f'[data-testid="application-row"][data-id="{app_id}"] a')
    page.wait_for_selector('[data-testid="requested-fields"]')
    assert "有条件开放" in page.inner_text('[data-testid="open-class"]')
    page.uncheck('[data-testid="keep-huji_renkou-name"]')
    page.fill("textarea[name=note]", "姓名字段不予批准")
    page.click('[data-testid="approve"]')
    page.wait_for_selector('[data-testid="notice"]')
    assert "已批准" in page.inner_text('[data-testid="application-state"]')
    grant = page.inner_text('[data-testid="grant-ids"]').strip()
    assert grant
    STATE["grant"] = grant


def test_operator_queries_under_the_new_grant(gw: LiveGateway) -> None:
    with gw.api("op-research") as op:
        for _ in range(3):
            r = op.post("/v1/datasets/huji_renkou/query", json={
                "purpose": "browser_e2e", "grant_id": STATE["grant"],
                "fields": ["id", "gender", "region_code"], "limit": 5})
            assert r.status_code == 200, r.text
        STATE["receipt"] = r.json()["receipt"]["receipt_id"]
        denied = op.post("/v1/datasets/huji_renkou/query", json={
            "purpose": "browser_e2e", "grant_id": STATE["grant"], "fields": ["name"]})
        assert denied.status_code == 403


def test_auditor_finds_the_entries_verifies_and_downloads_a_proof(
        gw: LiveGateway, page: Any, tmp_path: Path) -> None:
    sign_in(page, gw, "auditor", "/console/audit/entries")
    page.fill("input[name=grant_id]", STATE["grant"])
    page.select_option("select[name=kind]", "release")
    page.click('[data-testid="audit-search-submit"]')
    page.wait_for_selector('[data-testid="audit-results"]')
    rows = page.locator('[data-testid="audit-row"]')
    assert rows.count() == 3
    rows.last.locator("a").first.click()
    page.wait_for_selector('[data-testid="receipt"]')
    assert STATE["receipt"] in page.inner_text('[data-testid="receipt"]')
    # The entry proves itself against the latest signed checkpoint.
    assert "已验证" in page.inner_text('[data-testid="entry-status"]')
    with page.expect_download() as info:
        page.click('[data-testid="proof-download"]')
    path = tmp_path / "proof.json"
    info.value.save_as(path)
    proof = json.loads(path.read_text("utf-8"))
    assert leaf_hash(proof["leaf"].encode()) == base64.b64decode(proof["leaf_hash"])
    inc = proof["inclusion"]
    verify_inclusion(base64.b64decode(inc["leaf_hash"]), inc["leaf_index"], inc["tree_size"],
                     [base64.b64decode(h) for h in inc["hashes"]],
                     parse_note(proof["checkpoint_note"]).root)
    page.click('a[href="/console/audit/verify"]')
    assert "校验通过" in page.inner_text('[data-testid="verify-status"]')


def _active_version(gw: LiveGateway) -> dict[str, Any]:
    with gw.api("admin") as admin:
        versions = admin.get("/admin/v1/policies").json()["versions"]
    return next(v for v in versions if v["state"] == "active")


def test_admin_fixes_a_syntax_error_proposes_and_a_second_admin_activates(
        gw: LiveGateway, page: Any, browser: Any) -> None:
    active = _active_version(gw)
    target = "gateway/decision.rego"
    sign_in(page, gw, "admin", f"/console/policies/{active['id']}/edit?file={target}")
    editor = page.locator('[data-testid="editor"]')
    original = editor.input_value()
    lines = original.split("\n")
    broken_line = 12
    broken = "\n".join([*lines[:broken_line - 1], "broken := [1, 2 @", *lines[broken_line - 1:]])
    editor.fill(broken)
    page.fill('[data-testid="commit-message"]', "浏览器测试：故意引入语法错误")
    page.click('[data-testid="save-draft"]')
    finding = page.locator(f'[data-testid="finding"][data-file="{target}"]').first
    finding.wait_for()
    assert finding.get_attribute("data-line") == str(broken_line)
    assert f"{target}:{broken_line}:" in finding.inner_text()
    assert str(broken_line) in page.inner_text(".gutter .bad")
    assert page.locator('[data-testid="propose"]').count() == 0  # blocked while broken
    # Fix it and save again: a clean draft that can be proposed.
    page.locator('[data-testid="editor"]').fill(original.rstrip("\n")
                                                + "\n\n# reviewed in the browser test\n")
    page.fill('[data-testid="commit-message"]', "浏览器测试：修复")
    page.click('[data-testid="save-draft"]')
    page.wait_for_selector('[data-testid="draft-clean"]')
    page.click('[data-testid="propose"]')
    page.wait_for_selector('[data-testid="state-badge"][data-state="proposed"]')
    version_url = page.url.split("?")[0]
    # A second admin approves and activates (the author cannot approve their own).
    assert page.locator('[data-testid="approve"]').count() == 0
    other = browser.new_context(locale="zh-CN").new_page()
    other.on("dialog", lambda d: d.accept())  # the activation's confirmation
    sign_in(other, gw, "admin2", version_url.replace(gw.base_url, ""))
    other.click('[data-testid="approve"]')
    other.wait_for_selector('[data-testid="state-badge"][data-state="approved"]')
    other.click('[data-testid="activate"]')
    other.wait_for_selector('[data-testid="state-badge"][data-state="active"]')
    other.context.close()
    now_active = _active_version(gw)
    assert now_active["id"] != active["id"] and now_active["author"] == "admin"
    assert now_active["approved_by"] == "admin2"
    # The next decision is made by the new version.
    with gw.api("op-research") as op:
        r = op.post("/v1/datasets/huji_renkou/query", json={
            "purpose": "population_research", "grant_id": "g-demo-research",
            "fields": ["gender"], "limit": 1})
    assert r.status_code == 200 and r.json()["receipt"]["policy_version_id"] == now_active["id"]
