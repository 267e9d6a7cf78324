"""A live gateway (real uvicorn, real socket) on a copy of the demo data dir, and
Debian's Chromium, for the browser tests of this folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live import LiveGateway, chromium, live_gateway


@pytest.fixture(scope="module")
def gw(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    d = tmp_path_factory.mktemp("browser") / "data"
    shutil.copytree(demo_dir, d)
    with live_gateway(d, GATEWAY_AUDIT_CHECKPOINT_EVERY="5") as g:
        yield g


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test; fails the test on any CSP violation or page
    error the browser reports."""
    context = browser.new_context(accept_downloads=True, locale="zh-CN")
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text)
          if m.type == "error" and "Content Security Policy" in m.text else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    yield pg
    context.close()
    assert not problems, problems
