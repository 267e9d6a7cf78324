"""The row sketch: no false negatives, a false-positive rate near theory, a stable byte
form, and one fingerprint per row whatever format carried its cells."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.trace.canon import canon_column
from gateway.trace.report import log10_binomial_tail
from gateway.trace.sketch import RowHasher, RowSketch, SketchBuilder, SketchError

HASHER = RowHasher("mac-v1-000000", b"c" * 32, b"r" * 32)


def _random_rows(n: int, seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    return [[rng.randrange(10**9), f"idc_psn-v1-abc123_{rng.getrandbits(64):016x}",
             rng.choice(["男", "女"]), f"{rng.randrange(1000, 9999)}****{rng.randrange(99)}",
             rng.random() * 100] for _ in range(n)]


def _columns(rows: list[list[Any]]) -> list[list[Any]]:
    return [list(c) for c in zip(*rows)]


def test_no_false_negatives_and_rate_near_theory() -> None:
    released, other = _random_rows(10_000, 1), _random_rows(10_000, 2)
    builder = SketchBuilder(HASHER)
    for i in range(0, 10_000, 3_000):  # batch by batch, as an export adds them
        builder.add(_columns(released[i:i + 3_000]))
    sketch = builder.build()
    assert sketch.n_rows == 10_000 and sketch.k == 7
    assert 9.9 <= sketch.m / sketch.n_rows <= 10.1  # about 10 bits a row
    assert sketch.hits(HASHER.rows(_columns(released))).all()
    rate = sketch.hits(HASHER.rows(_columns(other))).mean()
    theory = sketch.expected_false_positive_rate()
    assert 0.004 < theory < 0.012
    assert abs(rate - theory) < 0.004, (rate, theory)
    assert sketch.false_positive_rate() == pytest.approx(theory, rel=0.15)


def test_build_keeps_only_the_first_rows() -> None:
    rows = _random_rows(200, 3)
    builder = SketchBuilder(HASHER)
    builder.add(_columns(rows))
    sketch = builder.build(100)  # a page: the look-ahead row is not released
    assert sketch.n_rows == 100
    assert sketch.hits(HASHER.rows(_columns(rows[:100]))).all()
    assert sketch.hits(HASHER.rows(_columns(rows[100:]))).mean() < 0.1


def test_serialization_round_trip() -> None:
    builder = SketchBuilder(HASHER)
    builder.add(_columns(_random_rows(500, 4)))
    sketch = builder.build()
    data = sketch.to_bytes()
    assert len(data) < 500 * 10 // 8 + 64  # compact: the bits and a short header
    again = RowSketch.from_bytes(data)
    assert again == sketch and again.sha256() == sketch.sha256()
    for bad in (data[:10], b"XXXXXX" + data[6:], data + b"\x00"):
        with pytest.raises(SketchError):
            RowSketch.from_bytes(bad)


def test_keys_matter() -> None:
    rows = _columns(_random_rows(50, 5))
    other = RowHasher("mac-v1-000000", b"x" * 32, b"r" * 32)
    assert not np.array_equal(HASHER.rows(rows), other.rows(rows))
    assert "redacted" in repr(HASHER)


# The same row as released (typed values), as CSV text, and as a spreadsheet read it back.
RELEASED = [7, "张**", None, 5.0, True, dt.date(2020, 1, 2), dt.datetime(2020, 1, 2, 8, 30),
            "0360102", "idc_psn-v1-abc123_abcdefghijklmnop"]
AS_CSV = ["7", "张**", "", "5.0", "True", "2020-01-02", "2020-01-02 08:30:00", "0360102",
          "idc_psn-v1-abc123_abcdefghijklmnop"]
AS_NDJSON = [7, "张**", None, 5.0, True, "2020-01-02", "2020-01-02T08:30:00", "0360102",
             "idc_psn-v1-abc123_abcdefghijklmnop"]
AS_XLSX = [7, " 张** ", None, 5, True, dt.datetime(2020, 1, 2), dt.datetime(2020, 1, 2, 8, 30),
           360102, "idc_psn-v1-abc123_abcdefghijklmnop"]


@pytest.mark.parametrize("row", [AS_CSV, AS_NDJSON, AS_XLSX], ids=["csv", "ndjson", "xlsx"])
def test_same_fingerprint_whatever_the_format(row: list[Any]) -> None:
    expected = HASHER.rows([[v] for v in RELEASED])
    assert np.array_equal(HASHER.rows([[v] for v in row]), expected)


def test_column_order_does_not_matter_but_values_do() -> None:
    rows = _random_rows(20, 6)
    cols = _columns(rows)
    base = HASHER.rows(cols)
    assert np.array_equal(HASHER.rows(cols[::-1]), base)
    edited = [list(c) for c in cols]
    edited[1][0] = edited[1][0][:-1] + "x"
    assert (HASHER.rows(edited) != base).any(axis=1).tolist() == [True] + [False] * 19
    # A cell repeated twice does not cancel out.
    assert not np.array_equal(HASHER.rows([["a"], ["a"]]), HASHER.rows([["b"], ["b"]]))


@pytest.mark.parametrize("cells,expected", [
    (["5", "5.0", " 5 ", "0005", "+5", "5e0"], ["5"] * 6),
    ([1.5, "1.50", "abc", "", None], ["1.5", "1.5", "abc", "", ""]),
    (["12345678901234567", "TRUE", "false"], ["12345678901234567", "true", "false"]),
    (["2020-01-01T08:00:00.000000Z", "2020-01-01 08:00:00+0800", "2020-01-01T00:00:00"],
     ["2020-01-01 08:00:00+00:00", "2020-01-01 08:00:00+08:00", "2020-01-01"]),
    ([dt.datetime(2020, 1, 1, 8, 0, 0, 120000), dt.date(2020, 1, 1)],
     ["2020-01-01 08:00:00.12", "2020-01-01"]),
    ([3, "x", 2.0, None, False], ["3", "x", "2", "", "false"]),
])
def test_canonical_text(cells: list[Any], expected: list[str]) -> None:
    assert canon_column(cells).to_pylist() == expected


@pytest.mark.parametrize("n,k,p,low,high", [
    (50, 50, 0.008, -106, -104),  # every row by luck: 0.008^50
    (50, 0, 0.008, 0, 0),
    (50, 1, 0.008, -0.6, -0.4),   # one chance hit in 50 is common
    (1000, 8, 0.008, -0.4, -0.2),  # at the mean
])
def test_binomial_tail(n: int, k: int, p: float, low: float, high: float) -> None:
    assert low <= log10_binomial_tail(n, k, p) <= high


def test_sketches_are_pruned_with_the_entries_that_seal_them(tmp_path: Path) -> None:
    from gateway import state
    from gateway.trace.store import StoredSketch, iter_sketches, prune_sketches, save_sketch

    engine = state.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    state.create_schema(engine)
    now = dt.datetime.now(dt.UTC)
    for i, age in enumerate((400, 10, 1)):
        save_sketch(engine, StoredSketch(
            receipt_id=f"rcpt-{i}", request_id=f"req-{i}", grant_id="g", operator_id="op",
            dataset="d", created_at=now - dt.timedelta(days=age), format="csv",
            payload_sha256="0" * 64, n_rows=1, key_id="mac-v1", sha256="1" * 64,
            sketch=b"x"))
    assert prune_sketches(engine, now - dt.timedelta(days=30)) == 1
    assert sorted(s.receipt_id for s in iter_sketches(engine)) == ["rcpt-1", "rcpt-2"]
