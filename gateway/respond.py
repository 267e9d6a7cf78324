"""Steps 8-10: receipt, record, respond — a JSON page or a streamed NDJSON/CSV body.

A page is fetched, hashed, its receipt signed and its release entry recorded before it is
returned. A stream's decision entry is recorded before its first byte (in ``prepare``);
its release entry (rows sent, payload hash, receipt id) when it ends, and only then is
the receipt trailer sent. An export the client abandons is recorded as interrupted with
the rows actually sent.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
from collections.abc import Generator, Sequence
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.pipeline import Release
from gateway.receipts import CSV_TRAILER_PREFIX, NDJSON_TRAILER_KEY, sign_receipt
from gateway.trace.release import ReleaseSketch, sketch_fields

log = logging.getLogger("gateway")


def _rows(names: list[str], cols: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    columns = [cols[name] for name in names]
    return [dict(zip(names, vals)) for vals in zip(*columns)]


def fields_meta(release: Release) -> dict[str, dict[str, Any]]:
    return {f.name: {"operator": f.operator, "pii": f.pii} for f in release.fields}


def _receipt(release: Release, row_count: int, digest: str, fmt: str,
             status: str) -> dict[str, Any]:
    a = release.audit
    body = {
        "receipt_id": release.receipt_id, "request_id": release.ctx.request_id,
        "grant_id": a["grant_id"], "dataset": release.dataset.id,
        "operator_id": a["principal"]["operator_id"], "org_uscc": a["principal"]["org_uscc"],
        "fields": {f.name: f.operator for f in release.fields}, "row_count": row_count,
        "payload_sha256": digest, "format": fmt, "status": status,
        "policy_version": a["policy_version"], "policy_engine": a["policy_engine"],
        "policy_version_id": a.get("policy_version_id"),
        "time": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    return sign_receipt(release.svc.keyring_or_fail().sign, body)


def _release_entry(receipt: dict[str, Any] | None, row_count: int, digest: str, fmt: str,
                   status: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"row_count": row_count, "payload_sha256": digest, "format": fmt,
                             "status": status}
    if receipt is not None:
        entry["receipt_key_id"] = receipt["key_id"]
        entry["receipt_signature"] = receipt["signature"]
    return entry


def page(release: Release) -> dict[str, Any]:
    """Fetch one page (limit + 1 rows to learn whether there is a next page)."""
    limit = release.page_limit
    names = [f.name for f in release.fields]
    rows: list[dict[str, Any]] = []
    last_keys: list[Any] = []
    key_name = release.dataset.key
    try:
        sketch = ReleaseSketch(release)
        for batch, cols in release.batches():
            rows.extend(_rows(names, cols))
            sketch.add(cols)
            last_keys.extend(batch.columns[key_name])
    except BaseException:
        release.decided.settle(0)  # nothing was sent: give the reserved rows back
        raise
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = release.cursor_after(last_keys[limit - 1])
    digest = hashlib.sha256(orjson.dumps(rows)).hexdigest()
    receipt = _receipt(release, len(rows), digest, "json", "complete")
    release.finish(len(rows))
    sealed = sketch.store(len(rows), digest, "json") if rows else {}
    release.record("release", {**_release_entry(receipt, len(rows), digest, "json",
                                                "complete"), **sealed})
    return {"rows": rows, "next_cursor": next_cursor, "fields": fields_meta(release),
            "request_id": release.ctx.request_id, "receipt": receipt}


def stream(release: Release, fmt: str) -> Generator[bytes, None, None]:
    """Yield the body in batches (memory bounded by one batch), then the receipt trailer."""
    names = [f.name for f in release.fields]
    digest = hashlib.sha256()
    sent = 0
    status = "interrupted"
    sketch: ReleaseSketch | None = None
    try:
        sketch = ReleaseSketch(release)
        if fmt == "csv":
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow(names)
            chunk = buf.getvalue().encode()
            digest.update(chunk)
            yield chunk
        for batch, cols in release.batches():
            if fmt == "csv":
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(zip(*[cols[n] for n in names]))
                chunk = buf.getvalue().encode()
            else:
                chunk = b"\n".join(map(orjson.dumps, _rows(names, cols))) + b"\n"
            sketch.add(cols)
            digest.update(chunk)
            yield chunk
            sent += batch.n_rows
        status = "complete"
        if release.plan.limit is not None and sent >= release.plan.limit:
            status = "truncated_at_max_rows"
    except GatewayError as exc:
        status = f"failed: {exc.code}"
        raise
    finally:
        try:
            release.finish(sent)
        except Exception as exc:  # the rows are out; a metering fault must not hide it
            log.error("settling quota/metering after export %s failed: %s",
                      release.ctx.request_id, type(exc).__name__)
        receipt: dict[str, Any] | None = None
        sealed, unsealed = sketch_fields(sketch, status, sent, digest.hexdigest(), fmt)
        if unsealed is not None:
            status = f"failed: {unsealed.code}"
        if status in ("complete", "truncated_at_max_rows"):
            receipt = _receipt(release, sent, digest.hexdigest(), fmt, status)
            release.record("release", {**_release_entry(receipt, sent, digest.hexdigest(),
                                                        fmt, status), **sealed})
        else:
            # Interrupted by the client or failed: record what actually left, no receipt.
            release.record("release", {**_release_entry(None, sent, digest.hexdigest(), fmt,
                                                        status), **sealed})
        if unsealed is not None:
            raise unsealed
    if receipt is not None:
        if fmt == "csv":
            yield CSV_TRAILER_PREFIX + orjson.dumps(receipt) + b"\n"
        else:
            yield orjson.dumps({NDJSON_TRAILER_KEY: receipt}) + b"\n"
