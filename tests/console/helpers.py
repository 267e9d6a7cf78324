"""Signing in to the console from a TestClient, and reading CSRF tokens off pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_passwords(data_dir: Path) -> dict[str, str]:
    creds = json.loads((data_dir / "demo-credentials.json").read_text("utf-8"))
    passwords: dict[str, str] = creds["console"]
    return passwords


def sign_in(client: TestClient, data_dir: Path, who: str) -> str:
    """Sign ``who`` in (cookie kept by the client); returns the session's CSRF token."""
    client.cookies.clear()
    r = client.post("/console/login", data={"username": who,
                                            "password": console_passwords(data_dir)[who]},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/").text)


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m is not None, "no CSRF token on the page"
    return m.group(1)
