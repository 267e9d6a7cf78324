"""Step 10: turn a ``Release`` into a JSON page or a streamed NDJSON/CSV body.

The release entry is recorded before a page is returned. A stream records the decision
before its first byte and its release entry (rows sent, payload hash) when it ends.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.pipeline import Release


def _rows(names: list[str], cols: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    columns = [cols[name] for name in names]
    return [dict(zip(names, vals)) for vals in zip(*columns)]


def fields_meta(release: Release) -> dict[str, dict[str, Any]]:
    return {f.name: {"operator": f.operator, "pii": f.pii} for f in release.fields}


def page(release: Release) -> dict[str, Any]:
    """Fetch one page (limit + 1 rows to learn whether there is a next page)."""
    limit = int(release.stats["page_limit"])
    names = [f.name for f in release.fields]
    rows: list[dict[str, Any]] = []
    last_keys: list[Any] = []
    key_name = release.dataset.key
    for batch, cols in release.batches():
        rows.extend(_rows(names, cols))
        last_keys.extend(batch.columns[key_name])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = release.cursor_after(last_keys[limit - 1])
    payload = orjson.dumps(rows)
    digest = hashlib.sha256(payload).hexdigest()
    release.record("release", {"row_count": len(rows), "payload_sha256": digest,
                               "format": "json", "status": "complete"})
    return {"rows": rows, "next_cursor": next_cursor, "fields": fields_meta(release),
            "request_id": release.ctx.request_id, "payload_sha256": digest}


def stream(release: Release, fmt: str) -> Iterator[bytes]:
    """Yield the body in batches; memory stays bounded by one batch."""
    names = [f.name for f in release.fields]
    digest = hashlib.sha256()
    sent = 0
    status = "interrupted"
    last_key: Any = None
    try:
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(names)
            chunk = buf.getvalue().encode()
            digest.update(chunk)
            yield chunk
        for batch, cols in release.batches():
            if fmt == "csv":
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\n")
                writer.writerows(zip(*[cols[n] for n in names]))
                chunk = buf.getvalue().encode()
            else:
                rows = _rows(names, cols)
                chunk = b"\n".join(map(orjson.dumps, rows)) + b"\n"
            digest.update(chunk)
            yield chunk
            sent += batch.n_rows
            last_key = batch.last_key
        status = "complete"
    except GatewayError as exc:
        status = f"failed: {exc.code}"
        raise
    finally:
        extra: dict[str, Any] = {"row_count": sent, "payload_sha256": digest.hexdigest(),
                                 "format": fmt, "status": status}
        if status == "complete" and release.plan.limit is not None and sent >= release.plan.limit:
            extra["truncated_at_max_rows"] = True
            extra["last_key_cursor"] = release.cursor_after(last_key) if last_key is not None \
                else None
        release.record("release", extra)
