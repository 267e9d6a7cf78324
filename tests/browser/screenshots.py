"""``make screenshots``: every console page, per role, in Debian's Chromium, written to
docs/screenshots/ (PNG). Runs a fresh demo gateway, makes some traffic first so the
audit pages have something to show.

    python -m tests.browser.screenshots [OUT_DIR]
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.browser.live import chromium, live_gateway, sign_in
from tests.workflow.helpers import application_body

PAGES: dict[str, list[tuple[str, str]]] = {
    "reviewer": [("review-queue", "/console/review/applications"),
                 ("review-detail", "{application}")],
    "admin": [("home-admin", "/console/"),
              ("admin-catalog", "/console/admin/catalog"),
              ("admin-operators", "/console/admin/operators"),
              ("admin-licenses", "/console/admin/licenses"),
              ("admin-users", "/console/admin/users"),
              ("policy-versions", "/console/policies"),
              ("policy-detail", "/console/policies/1"),
              ("policy-editor", "/console/policies/1/edit")],
    "auditor": [("audit-search", "/console/audit/entries?kind=release"),
                ("audit-entry", "{entry}"),
                ("audit-verify", "/console/audit/verify"),
                ("audit-charts", "/console/audit/charts?days=7"),
                ("audit-anomalies", "/console/audit/anomalies"),
                ("audit-trace", "/console/audit/trace")],
}


LEAK = Path(tempfile.gettempdir()) / "pgw-screenshot-leak.csv"


def _traffic(gw: Any) -> dict[str, str]:
    with gw.api("op-research") as op:
        for _ in range(4):
            r = op.post("/v1/datasets/huji_renkou/query", json={
                "purpose": "population_research", "fields": ["name", "gender", "address"],
                "limit": 20})
            r.raise_for_status()
        op.post("/v1/datasets/huji_renkou/query", json={"purpose": "marketing",
                                                        "fields": ["name"]})
        app = op.post("/v1/applications", json=application_body(
            op, dict(op.headers), purpose="screenshot_demo"))  # type: ignore[arg-type]
        app.raise_for_status()
        export = op.post("/v1/datasets/huji_renkou/query", headers={"Accept": "text/csv"},
                         json={"purpose": "population_research",
                               "fields": ["id", "name", "gender", "id_card", "address"]})
        export.raise_for_status()
    lines = [x for x in export.text.splitlines() if x and not x.startswith("#pgw-receipt")]
    sample = random.Random(3).sample(lines[1:], min(50, len(lines) - 1))
    LEAK.write_text("\n".join([lines[0], *sample]) + "\n", "utf-8")
    with gw.api("auditor") as aud:
        entries = aud.get("/admin/v1/audit", params={"kind": "release", "limit": 1}).json()
    return {"application": f"/console/review/applications/{app.json()['id']}",
            "entry": f"/console/audit/entries/{entries['entries'][0]['seq']}"}


def main(out: Path) -> None:
    from gateway.settings import Settings
    from gateway.setup import init_data_dir

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pgw-shots-"))
    try:
        init_data_dir(Settings(data_dir=tmp), demo=True, rows=300, echo=lambda m: None)
        with live_gateway(tmp, GATEWAY_AUDIT_CHECKPOINT_EVERY="5") as gw, \
                chromium() as browser:
            links = _traffic(gw)
            context = browser.new_context(viewport={"width": 1360, "height": 900},
                                          locale="zh-CN")
            page = context.new_page()
            page.goto(f"{gw.base_url}/console/login")
            page.screenshot(path=str(out / "login.png"), full_page=True)
            for who, pages in PAGES.items():
                page.context.clear_cookies()
                sign_in(page, gw, who)
                for name, path in pages:
                    page.goto(gw.base_url + path.format(**links))
                    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                    print(f"  {out / (name + '.png')}")
                if who == "auditor":
                    page.goto(gw.base_url + "/console/audit/trace")
                    page.set_input_files('[data-testid="trace-file"]', str(LEAK))
                    page.click('[data-testid="trace-submit"]')
                    page.wait_for_selector('[data-testid="trace-statement"]')
                    page.screenshot(path=str(out / "audit-trace-result.png"), full_page=True)
            context.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
