"""Small helpers shared by the gateway tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from anonymizers.identifiers import id_card_valid, mobile_valid

_ID_RUN = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE_RUN = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


def creds(demo_dir: Path) -> dict[str, Any]:
    return json.loads((demo_dir / "demo-credentials.json").read_text())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def raw_identifiers(text: str) -> list[str]:
    """Checksum-valid ID numbers and valid mobiles present in clear in ``text``."""
    found = [m for m in _ID_RUN.findall(text) if id_card_valid(m)]
    found += [m for m in _MOBILE_RUN.findall(text) if mobile_valid(m)]
    return found
