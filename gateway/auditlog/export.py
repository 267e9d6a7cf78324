"""Audit search results as NDJSON or CSV, streamed page by page (the API's and the
console's export). Entries hold personal filter values only as keyed hashes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from gateway.auditlog.search import search

CSV_COLUMNS = ["seq", "time", "kind", "request_id", "operator_id", "dataset", "grant_id",
               "allowed", "reasons", "released_fields", "row_count", "payload_sha256",
               "receipt_id", "purpose", "client_ip", "policy_version"]
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def csv_row(e: dict[str, Any]) -> list[Any]:
    entry = e["entry"]
    decision = entry.get("decision") or {}
    return [e["seq"], e["time"], e["kind"], e["request_id"],
            (entry.get("principal") or {}).get("operator_id"), entry.get("dataset"),
            entry.get("grant_id"), decision.get("allow"), "; ".join(decision.get("reasons", [])),
            orjson.dumps(entry.get("released_fields")).decode(), entry.get("row_count"),
            entry.get("payload_sha256"), entry.get("receipt_id"), entry.get("purpose"),
            entry.get("client_ip"), entry.get("policy_version")]


def export_entries(engine: sa.Engine, filters: dict[str, Any],
                   fmt: Literal["ndjson", "csv"]) -> Iterator[bytes]:
    """Every entry matching ``filters`` (the keyword arguments of ``search``)."""
    cursor = None
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(CSV_COLUMNS)
        yield buf.getvalue().encode()
    while True:
        page = search(engine, **filters, cursor=cursor, limit=1000)
        docs = [e.to_json() for e in page.entries]
        if fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(csv_row(d) for d in docs)
            yield buf.getvalue().encode()
        elif docs:
            yield b"\n".join(orjson.dumps(d) for d in docs) + b"\n"
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
