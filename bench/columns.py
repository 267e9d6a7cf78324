"""Throughput of the structured-column operators (not a test).

Generates ``--rows`` values per entity type (checksum-valid ID numbers, USCCs and Luhn
bank cards, checked against :mod:`anonymizers.identifiers` on a sample), then times
``apply_operator`` for mask / pseudonymize / generalize with ``time.process_time`` (CPU
time of the whole process, so any Arrow worker threads are counted too) and prints
cells per second with the machine it ran on.

    .venv/bin/python -m bench.columns [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.identifiers import (
    PLATE_PROVINCES,
    USCC_CHARSET,
    id_card_valid,
    luhn_valid,
    uscc_valid,
)

RNG = np.random.default_rng(20240501)
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
SURNAMES += ["欧阳", "司马", "诸葛", "上官"]
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红玉飞鹏辉")
PREFIXES = [
    "北京市海淀区",
    "江西省南昌市东湖区",
    "吉林省四平市铁西区",
    "长沙市芙蓉区",
    "南关区",
    "上海市浦东新区",
    "广东省深圳市南山区",
]
STREETS = ["马连洼街道", "府前街", "红旗大道", "北京东路", "解放路", "学府路", "人民路"]


def _fixed_width(matrix: np.ndarray) -> pa.Array:
    """Rows of an (n, w) uint8 matrix as a string array, without a Python loop."""
    n, w = matrix.shape
    offsets = np.arange(n + 1, dtype=np.int32) * w
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _digits(n: int, width: int) -> np.ndarray:
    return RNG.integers(0, 10, size=(n, width), dtype=np.int64)


def id_cards(n: int) -> pa.Array:
    d = _digits(n, 17)
    d[:, :6] = np.array([3, 6, 0, 1, 0, 2])  # 南昌市东湖区
    birth = RNG.integers(0, 365 * 80, size=n).astype("timedelta64[D]") + np.datetime64("1940-01-01")
    ymd = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "").astype("U8")
    d[:, 6:14] = np.frombuffer(ymd.astype("S8").tobytes(), dtype=np.uint8).reshape(n, 8) - 48
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.frombuffer(b"10X98765432", dtype=np.uint8)[(d @ weights) % 11]
    return _fixed_width(np.column_stack([d + 48, check]))


def dirty_id_cards(n: int) -> pa.Array:
    """10% nulls, 5% 15-digit legacy numbers, 5% broken: takes the general byte path."""
    values = id_cards(n)
    kind = RNG.random(n)
    legacy = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(values, 0, 6), pc.utf8_slice_codeunits(values, 8, 17), ""
    )
    broken = pc.utf8_slice_codeunits(values, 0, 11)
    out = pc.if_else(pa.array(kind < 0.05), legacy, values)
    out = pc.if_else(pa.array((kind >= 0.05) & (kind < 0.1)), broken, out)
    return pc.if_else(pa.array(kind >= 0.9), pa.scalar(None, pa.string()), out)


def usccs(n: int) -> pa.Array:
    v = RNG.integers(0, 31, size=(n, 17), dtype=np.int64)
    v[:, :2] = [9, 1]
    weights = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
    check = (31 - (v @ weights) % 31) % 31
    charset = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)
    return _fixed_width(charset[np.column_stack([v, check])])


def bank_cards(n: int) -> pa.Array:
    d = _digits(n, 18)
    d[:, :6] = [6, 2, 2, 8, 4, 8]
    doubled = d[:, ::-1].copy()
    doubled[:, ::2] *= 2  # rightmost payload digit is doubled once the check digit follows
    doubled[doubled > 9] -= 9
    check = (10 - doubled.sum(axis=1) % 10) % 10
    return _fixed_width(np.column_stack([d, check]) + 48)


def phones(n: int) -> pa.Array:
    d = _digits(n, 11)
    d[:, 0] = 1
    d[:, 1] = RNG.integers(3, 10, size=n)
    return _fixed_width(d + 48)


def _pick(options: list[str], n: int) -> pa.Array:
    return pa.array(options).take(pa.array(RNG.integers(0, len(options), size=n)))


def _numbers(low: int, high: int, n: int) -> pa.Array:
    return pc.cast(pa.array(RNG.integers(low, high, size=n)), pa.string())


def names(n: int) -> pa.Array:
    return pc.binary_join_element_wise(_pick(SURNAMES, n), _pick(GIVEN, n), _pick(GIVEN, n), "")


def addresses(n: int) -> pa.Array:
    parts = [_pick(PREFIXES, n), _pick(STREETS, n), _numbers(1, 2000, n), pa.scalar("号")]
    return pc.binary_join_element_wise(*parts, "")


def emails(n: int) -> pa.Array:
    local = pc.binary_join_element_wise(_pick(["duan", "li", "wang"], n), _numbers(1, 10**6, n), "")
    return pc.binary_join_element_wise(local, _pick(["126.com", "qq.com", "163.com"], n), "@")


def plates(n: int) -> pa.Array:
    serial = pc.utf8_lpad(_numbers(0, 100000, n), 5, "0")
    return pc.binary_join_element_wise(
        _pick(list(PLATE_PROVINCES), n), _pick(list("ABCD"), n), serial, ""
    )


def birth_dates(n: int) -> pa.Array:
    days = RNG.integers(0, 365 * 80, size=n).astype("timedelta64[D]") + np.datetime64("1940-01-01")
    return pc.cast(pa.array(days.astype("datetime64[D]")), pa.string())


def ips(n: int) -> pa.Array:
    octets = [_numbers(0, 256, n) for _ in range(4)]
    return pc.binary_join_element_wise(*octets, ".")


CASES: list[tuple[str, str | None, Callable[[int], pa.Array], str, dict[str, object]]] = [
    ("mask", "ID_CARD", id_cards, "", {}),
    ("mask", "ID_CARD", dirty_id_cards, "dirty", {}),
    ("mask", "PHONE_NUMBER", phones, "", {}),
    ("mask", "PERSON", names, "", {}),
    ("mask", "BANK_CARD", bank_cards, "", {}),
    ("mask", "USCC", usccs, "", {}),
    ("mask", "LOCATION", addresses, "", {}),
    ("mask", "EMAIL_ADDRESS", emails, "", {}),
    ("mask", "LICENSE_PLATE", plates, "", {}),
    ("mask", "IP_ADDRESS", ips, "", {}),
    ("mask", "DATE_OF_BIRTH", birth_dates, "", {}),
    ("mask", None, phones, "generic", {}),
    ("pseudonymize", "ID_CARD", id_cards, "~all distinct", {}),
    ("pseudonymize", "PHONE_NUMBER", phones, "~all distinct", {}),
    ("pseudonymize", "PERSON", names, "many duplicates", {}),
    ("generalize", "ID_CARD", id_cards, "age_band", {}),
    ("generalize", "DATE_OF_BIRTH", birth_dates, "year", {}),
    ("generalize", "LOCATION", addresses, "district", {}),
    (
        "generalize",
        None,
        lambda n: pa.array(RNG.integers(0, 50000, size=n)),
        "range",
        {"width": 1000},
    ),
]


def _check_generators() -> None:
    sample = random.Random(0).sample(range(1000), 50)
    for values, valid in ((id_cards(1000), id_card_valid), (usccs(1000), uscc_valid)):
        assert all(valid(values[i].as_py()) for i in sample)
    assert all(luhn_valid(bank_cards(1000)[i].as_py()) for i in sample)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _check_generators()
    ctx = ColumnContext(os.urandom(32), "psn-v1.g-bench", dt.date.today())
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"cpu_count={os.cpu_count()}, python {platform.python_version()}, "
        f"pyarrow {pa.__version__}, numpy {np.__version__}"
    )
    print(f"rows per case: {args.rows:,}; best of {args.repeat}; CPU time (time.process_time)")
    print(f"{'operator':<13} {'pii':<14} {'note':<16} {'seconds':>8} {'cells/s':>12}")
    for operator, pii, make, note, params in CASES:
        column = make(args.rows)
        best = float("inf")
        for _ in range(args.repeat):
            start = time.process_time()
            apply_operator(column, operator, params, pii=pii, ctx=ctx)
            best = min(best, time.process_time() - start)
        rate = args.rows / best if best > 0 else float("inf")
        print(f"{operator:<13} {pii or '-':<14} {note:<16} {best:>8.3f} {rate:>12,.0f}")


if __name__ == "__main__":
    main()
