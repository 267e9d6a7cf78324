"""Message catalogs of the console: ``locales/<lang>/*.json``, merged per language.

Templates never hold display strings: they call ``t("key", **values)``. Simplified
Chinese is the default; English is the second catalog. A key missing from the chosen
catalog falls back to the default language, then to the key itself (and the catalog test
fails on any such gap).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DEFAULT_LANG = "zh-CN"
LANGS = ("zh-CN", "en")
LANG_NAMES = {"zh-CN": "简体中文", "en": "English"}
_DIR = Path(__file__).resolve().parent / "locales"


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every message of ``lang`` (all files of its folder; a key defined twice is an
    error, so two areas cannot silently override each other)."""
    merged: dict[str, str] = {}
    for path in sorted((_DIR / lang).glob("*.json")):
        for key, text in json.loads(path.read_text("utf-8")).items():
            if key in merged:
                raise ValueError(f"message {key!r} defined twice ({path.name})")
            merged[key] = text
    return merged


def pick_lang(requested: str | None, accept_language: str | None = None) -> str:
    """The console language: the cookie's choice, else the browser's first supported
    language, else Simplified Chinese."""
    if requested in LANGS:
        return requested
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANG


class Translator:
    """``t(key, **values)`` for one language, with ``str.format`` placeholders."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGS else DEFAULT_LANG
        self._messages = catalog(self.lang)
        self._fallback = catalog(DEFAULT_LANG)

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages.get(key) or self._fallback.get(key) or key
        if values:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def known(self, key: str) -> bool:
        return key in self._messages or key in self._fallback

    def error(self, code: str, message: str) -> str:
        """The catalog's text for an error code (``error.<code>``), else the message."""
        key = "error." + code
        return self._messages.get(key) or self._fallback.get(key) or message
