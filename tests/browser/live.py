"""A real gateway on a local port, and Debian's Chromium driven by Playwright — shared by
the browser tests and ``make screenshots``.

Playwright's own browser download cannot work offline, so the browser is the system
Chromium (``apt-get install chromium``; the Makefile installs it). When it is missing the
tests fail and say so; they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def require_chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        raise RuntimeError(
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium "
            "(`apt-get install chromium chromium-driver`, which `make test` runs)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveGateway:
    """``pgw serve`` in a subprocess on a copy of a demo data dir."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.creds: dict[str, Any] = json.loads(
            (data_dir / "demo-credentials.json").read_text("utf-8"))
        self._env = {**os.environ, "GATEWAY_DATA_DIR": str(data_dir), "GOGC": "400", **env}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "server.log"

    def start(self) -> None:
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "gateway.api.main:app", "--host",
                 "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                env=self._env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError("the gateway exited at start:\n" + self._log.read_text())
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the gateway did not start in 60 s:\n" + self._log.read_text())

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    def api(self, who: str) -> httpx.Client:
        """An API client with the demo key of ``who`` (admin, auditor, reviewer or an
        operator id)."""
        token = (self.creds[who]["token"] if who in self.creds
                 else self.creds["operators"][who]["token"])
        return httpx.Client(base_url=self.base_url, timeout=60,
                            headers={"Authorization": f"Bearer {token}"})

    def password(self, who: str) -> str:
        return str(self.creds["console"][who])


@contextmanager
def live_gateway(data_dir: Path, **env: str) -> Iterator[LiveGateway]:
    gw = LiveGateway(data_dir, **env)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright, system executable)."""
    from playwright.sync_api import sync_playwright

    path = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, gw: LiveGateway, who: str, next_path: str = "/console/") -> None:
    page.goto(f"{gw.base_url}/console/login?next={next_path}")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", gw.password(who))
    page.click("button[type=submit]")
    page.wait_for_selector('[data-testid="signed-in-as"]')
