"""Sign-in, sessions, CSRF, lockout, rate limit and security headers of the console."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.auditlog import search
from gateway.console import accounts
from gateway.console.web import CSP
from gateway.state import make_engine
from tests.console.helpers import console_passwords, csrf_of, sign_in


def _engine(d: Path) -> sa.Engine:
    return make_engine(f"sqlite:///{(d / 'state.db').resolve()}")


def test_pages_need_a_session(client: TestClient) -> None:
    client.cookies.clear()
    r = client.get("/console/audit/entries", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console/login?next=/console/audit/entries")
    r = client.get("/console/audit/entries", headers={"HX-Request": "true"},
                   follow_redirects=False)
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/console/login")


def test_sign_in_sets_a_strict_http_only_cookie_and_is_audited(
        client: TestClient, console_dir: Path) -> None:
    client.cookies.clear()
    r = client.post("/console/login", data={"username": "auditor",
                                            "password": console_passwords(console_dir)["auditor"],
                                            "next": "/console/audit/verify"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/audit/verify"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP test server; "auto" sets it behind TLS
    page = client.get("/console/", follow_redirects=False)
    assert page.status_code == 200 and 'data-testid="signed-in-as"' in page.text
    entries = search(_engine(console_dir), kind="console", limit=50).entries
    last = entries[-1].entry if entries[0].seq < entries[-1].seq else entries[0].entry
    assert any(e.entry.get("event") == "sign_in" and e.entry.get("outcome") == "ok"
               and e.entry["principal"]["operator_id"] == "auditor" for e in entries), last


def test_open_redirects_are_refused(client: TestClient, console_dir: Path) -> None:
    client.cookies.clear()
    for target in ("https://evil.example/", "//evil.example/x", "/console/../../x\\y"):
        r = client.post("/console/login", data={
            "username": "auditor", "password": console_passwords(console_dir)["auditor"],
            "next": target}, follow_redirects=False)
        assert r.headers["location"] == "/console/", target


def test_wrong_password_is_generic_and_audited_without_the_name(
        client: TestClient, console_dir: Path) -> None:
    client.cookies.clear()
    r = client.post("/console/login", data={"username": "no-such-user",
                                            "password": "hunter2hunter2"})
    assert r.status_code == 401 and 'data-testid="login-error"' in r.text
    entries = search(_engine(console_dir), kind="console", limit=200).entries
    texts = [str(e.entry) for e in entries]
    assert not any("no-such-user" in t or "hunter2" in t for t in texts)
    assert any(e.entry.get("outcome") == "bad_credentials" for e in entries)


def test_lockout_after_repeated_failures_and_admin_unlock(
        client: TestClient, console_dir: Path) -> None:
    client.cookies.clear()
    engine = _engine(console_dir)
    for _ in range(accounts.LOCK_AFTER):
        client.post("/console/login", data={"username": "reviewer", "password": "x" * 12})
    good = console_passwords(console_dir)["reviewer"]
    r = client.post("/console/login", data={"username": "reviewer", "password": good},
                    follow_redirects=False)
    assert r.status_code == 423  # locked: even the right password is refused
    accounts.unlock(engine, "reviewer")
    r = client.post("/console/login", data={"username": "reviewer", "password": good},
                    follow_redirects=False)
    assert r.status_code == 303


def test_rate_limit_per_client_address(console_dir: Path, tmp_path: Path) -> None:
    engine = _engine(console_dir)
    client_key = "rate-limit-test-client"
    for _ in range(accounts.RATE_PER_WINDOW):
        res = accounts.sign_in(engine, "nobody", "wrong-password-x", client=client_key,
                               idle_s=900, absolute_s=3600)
        assert res.outcome == "bad_credentials"
    good = console_passwords(console_dir)["admin"]
    res = accounts.sign_in(engine, "admin", good, client=client_key, idle_s=900,
                           absolute_s=3600)
    assert res.outcome == "rate_limited"
    assert accounts.retry_after(engine, client_key) is not None


def test_idle_sessions_expire(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "auditor")
    engine = _engine(console_dir)
    with engine.begin() as conn:
        conn.execute(sa.update(accounts.console_sessions).values(
            last_seen=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)))
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 303 and "expired=1" in r.headers["location"]


def test_state_changing_forms_need_the_csrf_token(client: TestClient,
                                                  console_dir: Path) -> None:
    token = sign_in(client, console_dir, "auditor")
    r = client.post("/console/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "csrf_failed" in r.text
    r = client.post("/console/logout", data={"csrf_token": token},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_security_headers_on_every_console_page(client: TestClient,
                                                console_dir: Path) -> None:
    sign_in(client, console_dir, "admin")
    for path in ("/console/login", "/console/", "/console/static/console.css",
                 "/console/no-such-page"):
        r = client.get(path, follow_redirects=False)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP
    script_src = next(p for p in CSP.split(";") if p.strip().startswith("script-src"))
    assert script_src.strip() == "script-src 'self'"


def test_no_inline_script_or_handler_in_any_template() -> None:
    import re

    root = Path(__file__).resolve().parents[2] / "gateway" / "console" / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text("utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "style=" not in text, path
        assert "javascript:" not in text, path


def test_language_switch(client: TestClient, console_dir: Path) -> None:
    token = sign_in(client, console_dir, "auditor")
    assert "退出登录" in client.get("/console/").text
    client.post("/console/lang", data={"csrf_token": token, "lang": "en",
                                       "back": "/console/"})
    assert "Sign out" in client.get("/console/").text
    token = csrf_of(client.get("/console/").text)
    client.post("/console/lang", data={"csrf_token": token, "lang": "zh-CN"})


def test_roles_decide_the_pages(client: TestClient, console_dir: Path) -> None:
    sign_in(client, console_dir, "auditor")
    home = client.get("/console/").text
    assert "/console/audit/entries" in home and "/console/policies" not in home
    r = client.get("/console/admin/catalog")
    assert r.status_code == 403 and "role_required" in r.text


def test_done_messages_come_only_from_the_catalog(client: TestClient,
                                                  console_dir: Path) -> None:
    sign_in(client, console_dir, "reviewer")
    r = client.get("/console/review/applications", params={"done": "call 110 now"})
    assert r.status_code == 200 and 'data-testid="notice"' not in r.text
    assert "call 110 now" not in r.text
    r = client.get("/console/review/applications", params={"done": "application_approved"})
    assert 'data-testid="notice"' in r.text


def test_cookie_is_secure_behind_tls(client: TestClient, console_dir: Path) -> None:
    from fastapi.testclient import TestClient as _TC

    tls = _TC(client.app, base_url="https://testserver")
    r = tls.post("/console/login", data={"username": "auditor",
                                         "password": console_passwords(console_dir)["auditor"]},
                 follow_redirects=False)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
