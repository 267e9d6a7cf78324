"""Console pages: audit (filled in by the console work)."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.console.web import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
