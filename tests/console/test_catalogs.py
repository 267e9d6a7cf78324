"""The message catalogs: same keys in every language, and every key a template uses
exists (no display strings hard-coded in templates)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.console.i18n import LANGS, catalog

_ROOT = Path(__file__).resolve().parents[2] / "gateway" / "console"


def test_every_language_has_every_key() -> None:
    keys = {lang: set(catalog(lang)) for lang in LANGS}
    base = keys["zh-CN"]
    for lang, have in keys.items():
        assert have == base, (lang, sorted(have ^ base)[:20])


def test_every_literal_key_used_in_templates_exists() -> None:
    known = set(catalog("zh-CN"))
    used: set[str] = set()
    for path in list((_ROOT / "templates").rglob("*.html")) + list(_ROOT.glob("pages_*.py")):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.-]+)["']\s*[,)]""",
                               path.read_text("utf-8")))
    missing = sorted(k for k in used if k not in known)
    assert not missing, missing
