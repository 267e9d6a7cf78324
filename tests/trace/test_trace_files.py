"""Reading leaked files: header and receipt trailer are not rows; the payload digests
cover what a receipt's payload hash covers."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from gateway.trace.files import UnreadableFile, UnsupportedFormat, detect_format, read_file

CSV = b"id,name\n1,a\n2,b\n"
TRAILER = b'#pgw-receipt {"receipt_id":"rcpt-1"}\n'


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_csv_header_and_trailer_are_not_rows() -> None:
    f = read_file(CSV + TRAILER, "export.csv")
    assert f.header == ["id", "name"] and f.rows == [["1", "a"], ["2", "b"]]
    assert f.has_trailer and f.digests == [_sha(CSV + TRAILER), _sha(CSV)]


def test_ndjson_trailer_and_columns() -> None:
    body = b'{"id":1,"name":"a"}\n{"id":2,"name":null}\n'
    f = read_file(body + b'{"_receipt":{"receipt_id":"r"}}\n', "x.ndjson")
    assert f.rows == [[1, "a"], [2, None]] and f.columns() == [[1, 2], ["a", None]]
    assert _sha(body) in f.digests


def test_json_page_digest_is_the_rows_as_the_gateway_hashed_them() -> None:
    rows = [{"id": 1, "name": "张*"}]
    page = {"rows": rows, "receipt": {}, "next_cursor": None}
    f = read_file(orjson.dumps(page, option=orjson.OPT_INDENT_2), "")
    assert f.format == "json" and _sha(orjson.dumps(rows)) in f.digests


@pytest.mark.parametrize("data,name,fmt", [
    (b"a;b\n1;2\n", "", "csv"), (b'{"a":1}\n{"a":2}\n', "", "ndjson"),
    (b"[1,2]", "", "json"), (b"PK\x03\x04...", "", "xlsx"), (b"a,b\n", "x.TSV", "csv"),
])
def test_format_detection(data: bytes, name: str, fmt: str) -> None:
    assert detect_format(data, name) == fmt


def test_semicolons_and_gb18030() -> None:
    f = read_file("编号;姓名\n1;张*\n".encode("gb18030"), "x.csv")
    assert f.header == ["编号", "姓名"] and f.rows == [["1", "张*"]]


@pytest.mark.parametrize("data,name,error", [
    (b"\x00\x01", "", UnsupportedFormat), (b"x", "a.xls", UnsupportedFormat),
    (b"PK\x03\x04 broken", "a.xlsx", UnreadableFile), (b"{\n", "a.json", UnreadableFile),
])
def test_unreadable(data: bytes, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_file(data, name)
