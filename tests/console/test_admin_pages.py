"""The admin pages of the console: catalog, principals and keys, grants, licenses and
console users, each acting through the same services as the admin API, each action a
``console`` audit entry; and the ``pgw console-user`` commands."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.auditlog import search
from gateway.cli import app as cli
from gateway.clock import CST
from gateway.console import accounts
from gateway.console.admin_forms import masked_url
from gateway.state import make_engine
from tests.console.helpers import sign_in

ORG_A = "91310110666007217T"    # checksum-valid (DOMAIN.md)
BAD_USCC = "913101106660072170"  # same, wrong check character
STRONG = "correct-horse-battery-staple"
_TOKEN = re.compile(r"pgw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


def _engine(d: Path) -> sa.Engine:
    return make_engine(f"sqlite:///{(d / 'state.db').resolve()}")


def console_entries(d: Path) -> list[dict[str, Any]]:
    engine = _engine(d)
    out: list[dict[str, Any]] = []
    cursor = None
    try:
        while True:
            page = search(engine, kind="console", cursor=cursor, limit=1000)
            out += [e.entry for e in page.entries]
            if page.next_cursor is None:
                return out
            cursor = page.next_cursor
    finally:
        engine.dispose()


def audited(d: Path, event: str, target: str, outcome: str = "ok") -> dict[str, Any]:
    """The newest console entry for ``event`` on ``target``, checked to be the admin's."""
    found = [e for e in console_entries(d)
             if e.get("event") == event and e.get("target") == target]
    assert found, f"no console audit entry {event} {target}"
    entry = found[-1]
    assert entry["outcome"] == outcome, entry
    assert entry["principal"]["operator_id"] == "admin", entry
    return entry


def creds(d: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((d / "demo-credentials.json").read_text("utf-8"))
    return doc


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(client: TestClient, path: str, data: dict[str, Any]) -> Any:
    return client.post(path, data=data, follow_redirects=False)


# --- every page, admin and not -------------------------------------------------------

PAGES = [
    ("/console/admin/catalog", ['data-testid="datasets-table"', "huji_renkou", "qiye_dengji",
                                "shebao_jiaona", "有条件开放", "无条件开放", "不予开放",
                                'data-testid="upstream-demo"']),
    ("/console/admin/catalog/huji_renkou", ['data-testid="fields-table"',
                                            'data-testid="field-id_card"', "公民身份号码",
                                            "4 级", "DR-3601-0001"]),
    ("/console/admin/operators", ['data-testid="principals-table"', "op-research",
                                  "op-hotline", 'data-testid="api-keys-table"',
                                  'data-testid="grant-g-demo-research"']),
    ("/console/admin/licenses", ['data-testid="licenses-table"', "/console/admin/licenses/new"]),
    ("/console/admin/licenses/new", ['data-testid="issue-license-form"', "cheliang_dengji",
                                     'value="op-research"']),
    ("/console/admin/users", ['data-testid="users-table"', 'data-testid="user-admin2"',
                              'data-testid="user-reviewer"', 'data-testid="user-auditor"']),
]


@pytest.mark.parametrize(("path", "expected"), PAGES)
def test_admin_pages_render(client: TestClient, console_dir: Path, path: str,
                            expected: list[str]) -> None:
    sign_in(client, console_dir, "admin")
    r = client.get(path)
    assert r.status_code == 200, r.text
    for needle in expected:
        assert needle in r.text, needle


@pytest.mark.parametrize("path", [p for p, _ in PAGES])
def test_admin_pages_refuse_other_roles(client: TestClient, console_dir: Path,
                                        path: str) -> None:
    sign_in(client, console_dir, "auditor")
    r = client.get(path)
    assert r.status_code == 403 and "role_required" in r.text


def test_admin_actions_refuse_other_roles(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "reviewer")
    r = post(client, "/console/admin/operators/principals",
             {"csrf_token": token, "principal_id": "x-by-reviewer", "name": "x",
              "roles": "operator"})
    assert r.status_code == 403 and "role_required" in r.text
    sign_in(client, console_dir, "admin")
    assert 'data-testid="principal-x-by-reviewer"' not in client.get(
        "/console/admin/operators").text


def test_users_page_lists_staff_only(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "admin")
    page = client.get("/console/admin/users").text
    assert 'data-testid="user-op-research"' not in page


def test_unknown_dataset_is_a_404_page(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "admin")
    r = client.get("/console/admin/catalog/no_such_dataset")
    assert r.status_code == 404 and "unknown_dataset" in r.text


def test_english_catalog(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "admin")
    client.cookies.set("pgw_lang", "en")
    try:
        page = client.get("/console/admin/catalog").text
        assert "Data catalog" in page and "Conditionally open" in page
        assert "Not open" in page and "有条件开放" not in page
        detail = client.get("/console/admin/catalog/huji_renkou").text
        assert "Resident ID number" in detail and "Level 4" in detail
    finally:
        client.cookies.delete("pgw_lang")


# --- catalog: upstream credentials are never shown -------------------------------------


def test_upstream_passwords_are_masked(client: TestClient, console_dir: Path) -> None:
    admin = bearer(creds(console_dir)["admin"]["token"])
    url = "postgresql+psycopg://pgw:hunter2-upstream@db.example:5432/pub?sslpassword=zq9sslpw"
    r = client.post("/admin/v1/upstreams", json={"id": "secretdb", "url": url}, headers=admin)
    assert r.status_code == 201, r.text
    sign_in(client, console_dir, "admin")
    page = client.get("/console/admin/catalog").text
    assert "pgw:***@db.example:5432/pub" in page
    assert "hunter2-upstream" not in page and "zq9sslpw" not in page


@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:////data/up.db", "sqlite:////data/up.db"),
    ("mysql+pymysql://ro:s3cret@h/db?charset=utf8mb4",
     "mysql+pymysql://ro:***@h/db?charset=utf8mb4"),
    ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
    ("not a url with s3cret", "***"),
])
def test_masked_url(url: str, shown: str) -> None:
    assert masked_url(url) == shown


# --- principals and keys ---------------------------------------------------------------


def test_create_principal_issue_key_shown_once_then_revoke(client: TestClient,
                                                           console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/operators/principals",
             {"csrf_token": token, "principal_id": "op-console", "name": "控制台测试机构",
              "roles": "operator", "org_uscc": ORG_A})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/admin/operators?done=admin_principal_created"
    page = client.get(r.headers["location"]).text
    assert 'data-testid="notice"' in page and 'data-testid="principal-op-console"' in page
    audited(console_dir, "principal_create", "op-console")

    r = post(client, "/console/admin/operators/principals/op-console/keys",
             {"csrf_token": token, "role": "operator"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert 'data-testid="once-warning"' in r.text
    (api_token,) = set(_TOKEN.findall(r.text))
    key_id = api_token.split("_")[1]
    entry = audited(console_dir, "api_key_issue", "op-console")
    assert entry["role"] == "operator" and entry["key_id"] == key_id
    assert not any(api_token in json.dumps(e) for e in console_entries(console_dir))

    # The token works against the API, and is never shown again.
    assert client.get("/v1/grants", headers=bearer(api_token)).status_code == 200
    page = client.get("/console/admin/operators").text
    assert f'data-testid="key-{key_id}"' in page and api_token not in page

    r = post(client, f"/console/admin/operators/keys/{key_id}/revoke", {"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith("done=admin_key_revoked")
    audited(console_dir, "api_key_revoke", key_id)
    r = client.get("/v1/grants", headers=bearer(api_token))
    assert r.status_code == 401 and r.json()["error"]["code"] == "key_revoked"


def test_issue_key_for_a_role_the_principal_lacks_is_refused(client: TestClient,
                                                             console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/operators/principals/op-research/keys",
             {"csrf_token": token, "role": "admin"})
    assert r.status_code == 422 and "invalid_role" in r.text and not _TOKEN.search(r.text)
    audited(console_dir, "api_key_issue", "op-research", outcome="invalid_role")


def test_signing_key_shown_once_and_revoked(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/operators/principals/op-hotline/signing-keys",
             {"csrf_token": token})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    key_id = re.search(r'data-testid="new-key-id">(hk_[0-9a-f]{16})<', r.text)
    secret = re.search(r'data-testid="secret-token">([A-Za-z0-9+/=]{40,})<', r.text)
    assert key_id and secret
    audited(console_dir, "signing_key_issue", "op-hotline")
    page = client.get("/console/admin/operators").text
    assert f'data-testid="signing-key-{key_id[1]}"' in page and secret[1] not in page
    r = post(client, f"/console/admin/operators/signing-keys/{key_id[1]}/revoke",
             {"csrf_token": token})
    assert r.status_code == 303
    audited(console_dir, "signing_key_revoke", key_id[1])


def test_bad_uscc_is_a_422_page_and_audited(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/operators/principals",
             {"csrf_token": token, "principal_id": "op-bad-uscc", "name": "错误代码机构",
              "roles": "operator", "org_uscc": BAD_USCC})
    assert r.status_code == 422
    assert 'data-testid="error"' in r.text and "<code>invalid_uscc</code>" in r.text
    assert 'value="op-bad-uscc"' in r.text  # the form keeps what was typed
    assert 'data-testid="principal-op-bad-uscc"' not in r.text
    audited(console_dir, "principal_create", "op-bad-uscc", outcome="invalid_uscc")


@pytest.mark.parametrize(("path", "data"), [
    ("/console/admin/operators/principals",
     {"principal_id": "op-nocsrf", "name": "x", "roles": "operator"}),
    ("/console/admin/operators/principals/op-research/keys", {"role": "operator"}),
    ("/console/admin/operators/grants/g-demo-research/status", {"status": "suspended"}),
    ("/console/admin/licenses/new", {"operator_id": "op-research"}),
    ("/console/admin/users/reviewer/unlock", {}),
    ("/console/admin/users/reviewer/password", {"password": STRONG,
                                                "password_confirm": STRONG}),
])
@pytest.mark.parametrize("csrf", [None, "forged"])
def test_actions_need_the_csrf_token(client: TestClient, console_dir: Path, path: str,
                                     data: dict[str, str], csrf: str | None) -> None:
    sign_in(client, console_dir, "admin")
    body = dict(data) if csrf is None else {**data, "csrf_token": csrf}
    r = post(client, path, body)
    assert r.status_code == 403 and "csrf_failed" in r.text


# --- grants ----------------------------------------------------------------------------


def test_grant_suspend_resume_through_the_grants_service(client: TestClient,
                                                         console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    admin = bearer(creds(console_dir)["admin"]["token"])

    def status() -> str:
        doc = client.get("/admin/v1/grants", headers=admin).json()["grants"]
        return str({g["id"]: g for g in doc}["g-demo-research"]["status"])

    path = "/console/admin/operators/grants/g-demo-research/status"
    r = post(client, path, {"csrf_token": token, "status": "suspended"})
    assert r.status_code == 303 and r.headers["location"].endswith("admin_grant_suspended")
    assert status() == "suspended"
    assert audited(console_dir, "grant_status", "g-demo-research")["status"] == "suspended"
    page = client.get("/console/admin/operators").text
    assert 'data-testid="grant-resume-g-demo-research"' in page
    assert post(client, path, {"csrf_token": token, "status": "active"}).status_code == 303
    assert status() == "active"
    r = post(client, path, {"csrf_token": token, "status": "paused"})
    assert r.status_code == 400 and "invalid_request" in r.text


# --- licenses --------------------------------------------------------------------------


def _license_form(token: str, **over: Any) -> dict[str, Any]:
    today = dt.datetime.now(CST).date()
    form: dict[str, Any] = {
        "csrf_token": token, "operator_id": "op-research",
        "field:cheliang_dengji": ["id", "vehicle_type", "brand", "region_code"],
        "modes": ["rows"], "purposes": "vehicle_market_analysis",
        "scenarios": "汽车市场分析产品", "products": "车辆保有量分析",
        "term_start": (today - dt.timedelta(days=1)).isoformat(),
        "term_end": (today + dt.timedelta(days=90)).isoformat(),
        "fee_mode": "free", "security_responsibility": "运营机构承担数据安全主体责任。",
        "destruction_days": "30",
    }
    form.update(over)
    return form


def _vehicle_query(client: TestClient, d: Path, grant_id: str) -> Any:
    headers = bearer(creds(d)["operators"]["op-research"]["token"])
    return client.post("/v1/datasets/cheliang_dengji/query", headers=headers,
                       json={"purpose": "vehicle_market_analysis", "grant_id": grant_id,
                             "fields": ["id", "brand", "region_code"], "limit": 5})


def test_license_issue_suspend_resume_revoke_take_effect_on_next_request(
        client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/licenses/new", _license_form(token))
    assert r.status_code == 303, r.text
    m = re.fullmatch(r"/console/admin/licenses/(lic-[0-9a-f]+)\?done=admin_license_issued",
                     r.headers["location"])
    assert m is not None, r.headers["location"]
    lic_id = m[1]
    assert audited(console_dir, "license_issue", "op-research")["datasets"] == \
        ["cheliang_dengji"]
    page = client.get(r.headers["location"]).text
    (grant_id,) = re.findall(r'data-testid="license-grant">([^<]+)<', page)
    assert 'data-testid="license-suspend"' in page and "DR-3601-0004" in page
    assert lic_id in client.get("/console/admin/licenses").text

    assert _vehicle_query(client, console_dir, grant_id).status_code == 200
    r = post(client, f"/console/admin/licenses/{lic_id}/suspend",
             {"csrf_token": token, "note": "安全检查"})
    assert r.status_code == 303 and r.headers["location"].endswith("admin_license_suspend")
    audited(console_dir, "license_suspend", lic_id)
    refused = _vehicle_query(client, console_dir, grant_id)
    assert refused.status_code == 403
    assert any(x.startswith("grant_suspended") for x in refused.json()["error"]["reasons"])
    page = client.get(f"/console/admin/licenses/{lic_id}").text
    assert 'data-testid="license-resume"' in page and "安全检查" in page

    assert post(client, f"/console/admin/licenses/{lic_id}/resume",
                {"csrf_token": token}).status_code == 303
    audited(console_dir, "license_resume", lic_id)
    assert _vehicle_query(client, console_dir, grant_id).status_code == 200

    assert post(client, f"/console/admin/licenses/{lic_id}/revoke",
                {"csrf_token": token}).status_code == 303
    audited(console_dir, "license_revoke", lic_id)
    assert _vehicle_query(client, console_dir, grant_id).status_code == 403
    # Revocation is final: the page says so with the service's code, not a 500.
    r = post(client, f"/console/admin/licenses/{lic_id}/resume", {"csrf_token": token})
    assert r.status_code == 409 and "<code>illegal_transition</code>" in r.text
    audited(console_dir, "license_resume", lic_id, outcome="illegal_transition")
    # A license's grant changes only through the license.
    r = post(client, f"/console/admin/operators/grants/{grant_id}/status",
             {"csrf_token": token, "status": "active"})
    assert r.status_code == 409 and "managed_by_license" in r.text


@pytest.mark.parametrize(("over", "code", "where"), [
    ({"term_end": "2020-01-01"}, "invalid_request", "term_end must be after term_start"),
    ({"term_start": "2025-13-01"}, "invalid_request", "term_start"),
    ({"field:cheliang_dengji": []}, "invalid_request", "datasets"),
    ({"fee_mode": "paid"}, "invalid_request", "price_cap"),
    ({"fee_mode": "paid", "unit": "call", "price_cap": "0.0000001"}, "invalid_request",
     "price_cap"),
    ({"destruction_days": "-3"}, "invalid_request", "destruction_days"),
    ({"field:cheliang_dengji": [], "field:shebao_jiaona": ["id"]}, "not_open_rows", ""),
    ({"operator_id": "reviewer"}, "invalid_role", ""),
])
def test_license_form_errors_are_422_pages_with_the_code(
        client: TestClient, console_dir: Path, over: dict[str, Any], code: str,
        where: str) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/licenses/new", _license_form(token, **over))
    assert r.status_code == 422, r.text
    assert f"<code>{code}</code>" in r.text and where in r.text
    assert 'data-testid="issue-license-form"' in r.text
    assert "汽车市场分析产品" in r.text  # what was typed is kept
    audited(console_dir, "license_issue", over.get("operator_id", "op-research"),
            outcome=code)


# --- console users ---------------------------------------------------------------------


def test_create_staff_user_then_sign_in(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/users",
             {"csrf_token": token, "principal_id": "aud-console", "name": "控制台审计员",
              "roles": "auditor", "password": STRONG, "password_confirm": STRONG})
    assert r.status_code == 303 and r.headers["location"].endswith("admin_user_created")
    audited(console_dir, "principal_create", "aud-console")
    audited(console_dir, "console_password_set", "aud-console")
    assert not any(STRONG in json.dumps(e) for e in console_entries(console_dir))
    page = client.get("/console/admin/users").text
    assert 'data-testid="user-aud-console"' in page
    client.cookies.clear()
    r = post(client, "/console/login", {"username": "aud-console", "password": STRONG})
    assert r.status_code == 303
    assert client.get("/console/admin/users").status_code == 403


@pytest.mark.parametrize(("data", "code"), [
    ({"roles": "operator"}, "invalid_role"),
    ({"roles": "auditor", "password": "short-pw", "password_confirm": "short-pw"},
     "weak_password"),
    ({"roles": "auditor", "password": STRONG, "password_confirm": STRONG + "x"},
     "password_mismatch"),
    ({"roles": "reviewer", "org_uscc": BAD_USCC}, "invalid_uscc"),
])
def test_create_staff_user_refusals(client: TestClient, console_dir: Path,
                                    data: dict[str, str], code: str) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/users",
             {"csrf_token": token, "principal_id": "staff-refused", "name": "x", **data})
    assert r.status_code == 422 and f"<code>{code}</code>" in r.text
    assert 'data-testid="user-staff-refused"' not in r.text
    audited(console_dir, "principal_create", "staff-refused", outcome=code)


def test_reset_password_and_unlock(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    assert post(client, "/console/admin/users",
                {"csrf_token": token, "principal_id": "rev-console", "name": "控制台审核员",
                 "roles": "reviewer"}).status_code == 303
    assert 'data-testid="user-account-rev-console">否<' in client.get(
        "/console/admin/users").text
    path = "/console/admin/users/rev-console/password"
    r = post(client, path, {"csrf_token": token, "password": "short", "password_confirm":
                            "short"})
    assert r.status_code == 422 and "<code>weak_password</code>" in r.text
    r = post(client, path, {"csrf_token": token, "password": STRONG,
                            "password_confirm": STRONG})
    assert r.status_code == 303 and r.headers["location"].endswith("admin_password_set")
    audited(console_dir, "console_password_set", "rev-console")

    client.cookies.clear()
    for _ in range(accounts.LOCK_AFTER):
        post(client, "/console/login", {"username": "rev-console", "password": "x" * 12})
    assert post(client, "/console/login", {"username": "rev-console",
                                            "password": STRONG}).status_code == 423
    token = sign_in(client, console_dir, "admin")
    assert 'data-testid="unlock-rev-console"' in client.get("/console/admin/users").text
    r = post(client, "/console/admin/users/rev-console/unlock", {"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].endswith("admin_unlocked")
    audited(console_dir, "console_unlock", "rev-console")
    client.cookies.clear()
    assert post(client, "/console/login", {"username": "rev-console",
                                            "password": STRONG}).status_code == 303


def test_operators_get_no_console_account(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "admin")
    r = post(client, "/console/admin/users/op-research/password",
             {"csrf_token": token, "password": STRONG, "password_confirm": STRONG})
    assert r.status_code == 422 and "<code>not_staff</code>" in r.text
    audited(console_dir, "console_password_set", "op-research", outcome="not_staff")
    r = post(client, "/console/admin/users/op-research/unlock", {"csrf_token": token})
    assert r.status_code == 404 and "<code>unknown_account</code>" in r.text


# --- pgw console-user ------------------------------------------------------------------


@pytest.fixture
def cli_dir(demo_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(demo_dir, d)
    return d


def test_cli_console_user_set_password_list_unlock(cli_dir: Path) -> None:
    runner = CliRunner()
    args = ["--data-dir", str(cli_dir)]
    r = runner.invoke(cli, ["console-user", "set-password", "reviewer", *args],
                      input=STRONG + "\n")
    assert r.exit_code == 0, r.output
    assert STRONG not in r.output
    engine = _engine(cli_dir)
    try:
        ok = accounts.sign_in(engine, "reviewer", STRONG, client="cli-test", idle_s=60,
                              absolute_s=60)
        assert ok.outcome == "ok"
    finally:
        engine.dispose()
    entries = [e for e in console_entries(cli_dir) if e.get("via") == "cli"]
    assert entries[-1]["event"] == "console_password_set"
    assert entries[-1]["target"] == "reviewer" and entries[-1]["outcome"] == "ok"
    assert not any(STRONG in json.dumps(e) for e in entries)

    r = runner.invoke(cli, ["console-user", "set-password", "reviewer", *args],
                      input="short\n")
    assert r.exit_code == 2 and "weak_password" in r.output
    r = runner.invoke(cli, ["console-user", "set-password", "op-research", *args],
                      input=STRONG + "\n")
    assert r.exit_code == 2 and "not_staff" in r.output

    r = runner.invoke(cli, ["console-user", "list", *args])
    assert r.exit_code == 0, r.output
    rows = {row["id"]: row for row in map(json.loads, r.output.splitlines())}
    assert set(rows) == {"admin", "admin2", "auditor", "reviewer"}
    assert rows["reviewer"]["has_account"] is True and "password_hash" not in rows["reviewer"]

    assert runner.invoke(cli, ["console-user", "unlock", "reviewer", *args]).exit_code == 0
    r = runner.invoke(cli, ["console-user", "unlock", "op-research", *args])
    assert r.exit_code == 2 and "unknown_account" in r.output


def test_admin_changes_roles_and_disables_a_console_user(client: TestClient,
                                                         console_dir: Path) -> None:
    from fastapi.testclient import TestClient as _TC

    csrf = sign_in(client, console_dir, "admin")
    pw = "correct horse battery staple"
    r = client.post("/console/admin/users", data={
        "csrf_token": csrf, "principal_id": "aud-roles", "name": "角色测试",
        "roles": ["auditor"], "password": pw, "password_confirm": pw}, follow_redirects=False)
    assert r.status_code == 303, r.text
    other = _TC(client.app, base_url="http://testserver")
    assert other.post("/console/login", data={"username": "aud-roles", "password": pw},
                      follow_redirects=False).status_code == 303
    assert other.get("/console/audit/verify").status_code == 200
    r = client.post("/console/admin/users/aud-roles/roles",
                    data={"csrf_token": csrf, "roles": ["reviewer"]}, follow_redirects=False)
    assert r.status_code == 303 and "admin_roles_set" in r.headers["location"]
    assert other.get("/console/audit/verify").status_code == 403  # next request
    assert other.get("/console/review/applications").status_code == 200
    r = client.post("/console/admin/users/aud-roles/status",
                    data={"csrf_token": csrf, "status": "disabled"}, follow_redirects=False)
    assert r.status_code == 303
    assert other.get("/console/review/applications", follow_redirects=False).status_code == 303
    # Not on oneself: another admin must do it.
    r = client.post("/console/admin/users/admin/roles",
                    data={"csrf_token": csrf, "roles": ["auditor"]})
    assert r.status_code == 409 and "own_account" in r.text
    r = client.post("/console/admin/users/admin/status",
                    data={"csrf_token": csrf, "status": "disabled"})
    assert r.status_code == 409
    r = client.post("/console/admin/users/aud-roles/status",
                    data={"csrf_token": csrf, "status": "gone"})
    assert r.status_code == 422 and "invalid_status" in r.text
