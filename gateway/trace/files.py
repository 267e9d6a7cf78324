"""Reading a leaked file: CSV, NDJSON, XLSX or a JSON page, into rows of cells.

The first row of a CSV or XLSX file is its header; a receipt trailer (``#pgw-receipt``
line, ``{"_receipt": …}`` record) is not a row. Besides the rows, the SHA-256 of the bytes
that a release's payload hash could cover: the whole file, the file without its trailer,
and for a JSON page its ``rows`` re-serialized the way the gateway hashed them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from gateway.errors import GatewayError
from gateway.receipts import CSV_TRAILER_PREFIX, NDJSON_TRAILER_KEY

Format = Literal["csv", "ndjson", "xlsx", "json"]
FORMATS: tuple[Format, ...] = ("csv", "ndjson", "xlsx", "json")
MAX_ROWS = 2_000_000
_EXTENSIONS: dict[str, Format] = {
    "csv": "csv", "tsv": "csv", "txt": "csv", "ndjson": "ndjson", "jsonl": "ndjson",
    "xlsx": "xlsx", "xlsm": "xlsx", "json": "json",
}


class UnreadableFile(GatewayError):
    """The file is not a CSV, NDJSON, XLSX or JSON file this can read."""

    status_code = 422
    code = "unreadable_file"


class UnsupportedFormat(UnreadableFile):
    status_code = 415
    code = "unsupported_format"


@dataclass
class LeakedFile:
    """What was read: rows of cells (header and trailer removed), and payload digests."""

    format: Format
    rows: list[list[Any]]
    digests: list[str]
    header: list[str] = field(default_factory=list)
    has_trailer: bool = False

    @property
    def width(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def columns(self) -> list[list[Any]]:
        """The rows as columns; short rows padded with None."""
        w = self.width
        padded = [r + [None] * (w - len(r)) for r in self.rows]
        return [list(c) for c in zip(*padded)] if padded else []


def read_file(data: bytes, filename: str = "") -> LeakedFile:
    """Parse ``data``; the format comes from the name's extension, else from the bytes."""
    fmt = detect_format(data, filename)
    if fmt == "xlsx":
        return _xlsx(data)
    text = _decode(data)
    if fmt == "ndjson":
        return _ndjson(data, text)
    if fmt == "json":
        return _json(data, text)
    return _csv(data, text)


def detect_format(data: bytes, filename: str) -> Format:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if ext in ("xls", "ods", "numbers", "parquet", "zip", "pdf", "docx"):
        raise UnsupportedFormat(f"cannot read .{ext} files: export the sheet as CSV or XLSX")
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    head = data.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        first = data.lstrip().split(b"\n", 1)[0]
        try:
            doc = orjson.loads(first)
        except orjson.JSONDecodeError:
            return "json"  # a pretty-printed document
        return "json" if isinstance(doc, dict) and "rows" in doc else "ndjson"
    if b"\x00" in data[:4096]:
        raise UnsupportedFormat("binary file of unknown type: give a CSV, NDJSON or XLSX file")
    return "csv"


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # spreadsheets on Chinese Windows: GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("the file is neither UTF-8 nor GB18030 text")


def _digests(*payloads: bytes) -> list[str]:
    return list(dict.fromkeys(hashlib.sha256(p).hexdigest() for p in payloads))


def _csv(data: bytes, text: str) -> LeakedFile:
    body, trailer = data, False
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    if data[cut:].startswith(CSV_TRAILER_PREFIX):
        body, trailer = data[:cut], True
    lines = [ln for ln in text.splitlines(keepends=True)
             if not ln.startswith(CSV_TRAILER_PREFIX.decode())]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            "".join(lines[:20])[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(lines, dialect) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise UnreadableFile(f"malformed CSV ({exc.__class__.__name__})") from None
    _check_size(rows)
    header = rows[0] if rows else []
    return LeakedFile("csv", [list(r) for r in rows[1:]], _digests(data, body), header,
                      trailer)


def _ndjson(data: bytes, text: str) -> LeakedFile:
    rows: list[list[Any]] = []
    header: list[str] = []
    body, trailer = data, False
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise UnreadableFile(f"line {n} is not JSON") from None
        if isinstance(doc, dict) and NDJSON_TRAILER_KEY in doc:
            trailer = True
            continue
        rows.append(_cells(doc, header))
    if trailer:
        cut = data.rstrip(b"\n").rfind(b"\n") + 1
        body = data[:cut]
    _check_size(rows)
    return LeakedFile("ndjson", rows, _digests(data, body), header, trailer)


def _json(data: bytes, text: str) -> LeakedFile:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise UnreadableFile("not a JSON document") from None
    records = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise UnreadableFile("a JSON file must be a list of rows or a page with 'rows'")
    header: list[str] = []
    rows = [_cells(r, header) for r in records]
    _check_size(rows)
    # The gateway hashed a page's rows serialized compactly (docs/receipts.md).
    return LeakedFile("json", rows, _digests(data, orjson.dumps(records)), header)


def _cells(doc: Any, header: list[str]) -> list[Any]:
    if isinstance(doc, dict):
        if not header:
            header.extend(str(k) for k in doc)
        return [v if not isinstance(v, (dict, list)) else orjson.dumps(v).decode()
                for v in doc.values()]
    if isinstance(doc, list):
        return list(doc)
    return [doc]


def _xlsx(data: bytes) -> LeakedFile:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile(f"not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        sheet = wb.worksheets[0]
        rows: list[list[Any]] = []
        for values in sheet.iter_rows(values_only=True):
            cells = list(values)
            while cells and cells[-1] is None:
                cells.pop()
            if cells:
                rows.append(cells)
            if len(rows) > MAX_ROWS:
                break
    finally:
        wb.close()
    _check_size(rows)
    header = [str(c) for c in rows[0]] if rows else []
    return LeakedFile("xlsx", rows[1:], _digests(data), header)


def _check_size(rows: list[list[Any]]) -> None:
    if len(rows) > MAX_ROWS:
        raise UnreadableFile(f"more than {MAX_ROWS:,} rows: trace a sample of the file")
