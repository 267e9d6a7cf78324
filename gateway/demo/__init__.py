"""Demo data: deterministic Chinese public-data tables, their loader and their catalog."""

from __future__ import annotations

from pathlib import Path

CATALOG_PATH: Path = Path(__file__).with_name("catalog.yaml")
"""The demo catalog (``${DATA_DIR}`` in upstream URLs is substituted by the catalog loader)."""

__all__ = ["CATALOG_PATH"]
