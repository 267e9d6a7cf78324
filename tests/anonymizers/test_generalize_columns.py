"""``generalize``: dates to year/month, ages to bands, addresses to district, numbers to ranges."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pyarrow as pa
import pytest

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import BadOperatorParams

CTX = ColumnContext(b"k" * 32, "psn-v1.g-123", dt.date(2025, 6, 1))


def gen(
    values: list[Any], pii: str | None, type: pa.DataType | None = None, **params: Any
) -> list[Any]:
    column = pa.array(values, type=type)
    out: list[Any] = apply_operator(column, "generalize", params, pii=pii, ctx=CTX).to_pylist()
    return out


BIRTHS = [
    "1977-01-27",
    "1979年4月27日",
    "1980.12.05",
    "19850601",
    "1990/6/2",
    "2022年7月5日14时06分",
]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("year", ["1977", "1979", "1980", "1985", "1990", "2022"]),
        ("year_month", ["1977-01", "1979-04", "1980-12", "1985-06", "1990-06", "2022-07"]),
        # today is 2025-06-01: born 1985-06-01 is 40 today, born 1990-06-02 is still 34
        ("age_band", ["40-49", "40-49", "40-49", "40-49", "30-39", "0-9"]),
    ],
)
def test_birth_date_strings(to: str, expected: list[str]) -> None:
    assert gen(BIRTHS, "DATE_OF_BIRTH", to=to) == expected


def test_birth_date_defaults_to_year_and_bad_dates_become_unknown() -> None:
    values = ["1977-01-27", None, "1977-02-30", "27/01/1977", "not a date", "1977-13-01"]
    assert gen(values, "DATE_OF_BIRTH") == ["1977", None, "*", "*", "*", "*"]


def test_age_band_width() -> None:
    assert gen(["1985-06-01", "1985-06-02"], "DATE_OF_BIRTH", to="age_band", width=5) == [
        "40-44",
        "35-39",
    ]


def test_future_birth_dates_have_no_age() -> None:
    assert gen(["2030-01-01"], "DATE_OF_BIRTH", to="age_band") == ["*"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["70-79", "70-79", "*", "*", None]),  # ID_CARD defaults to age_band
        ({"to": "year"}, ["1949", "1949", "*", "*", None]),
        ({"to": "year_month"}, ["1949-12", "1949-12", "*", "*", None]),
        ({"to": "age_band", "width": 20}, ["60-79", "60-79", "*", "*", None]),
    ],
)
def test_id_card_birth_dates(params: dict[str, Any], expected: list[str | None]) -> None:
    values = ["11010519491231002x", "110105491231002", "11010519491231002Y", "12345", None]
    assert gen(values, "ID_CARD", **params) == expected


def test_temporal_columns() -> None:
    dates = [dt.date(1977, 1, 27), None]
    assert gen(dates, None) == ["1977", None]
    assert gen(dates, "DATE_OF_BIRTH", to="year_month") == ["1977-01", None]
    stamps = [dt.datetime(1985, 6, 1, 12, 30)]
    assert gen(stamps, None, to="age_band") == ["40-49"]


def test_addresses_to_district() -> None:
    values = [
        "北京市海淀区马连洼街道289号",
        "南关区红旗大道759号阳光小区5栋2801室",
        "吉林省四平市铁西区青年路589号",
        "朝阳路985号",
        None,
    ]
    assert gen(values, "LOCATION") == ["北京市海淀区", "南关区", "吉林省四平市铁西区", "*", None]


@pytest.mark.parametrize(
    ("values", "type", "width", "expected"),
    [
        (
            [1500, 1999, 2000, -5, None],
            None,
            1000,
            ["1000-1999", "1000-1999", "2000-2999", "-1000--1", None],
        ),
        ([27406.5, float("nan"), float("inf"), 1e300], None, 1000, ["27000-27999", "*", "*", "*"]),
        ([decimal.Decimal("12.50")], None, 10, ["10-19"]),
        (
            ["27406.00", "50万元", " 42 ", None],
            pa.string(),
            100,
            ["27400-27499", "*", "0-99", None],
        ),
        ([37], pa.int8(), 1, ["37-37"]),
    ],
)
def test_number_ranges(
    values: list[Any], type: pa.DataType | None, width: int, expected: list[Any]
) -> None:
    assert gen(values, None, type=type, to="range", width=width) == expected


def test_numeric_columns_default_to_range() -> None:
    assert gen([1234], None, width=100) == ["1200-1299"]


@pytest.mark.parametrize(
    ("values", "pii", "params"),
    [
        ([1], None, {}),  # range needs a width
        (["x"], None, {}),  # untyped text has no default level
        (["13800138000"], "PHONE_NUMBER", {}),
        (["13800138000"], "PHONE_NUMBER", {"to": "year"}),
        ([1], None, {"to": "district"}),
        (["北京市海淀区"], "LOCATION", {"to": "range", "width": 10}),
        (["11010519491231002X"], "ID_CARD", {"to": "range", "width": 10}),
        (["1977-01-27"], "DATE_OF_BIRTH", {"to": "year", "width": 10}),
        (["1977-01-27"], "DATE_OF_BIRTH", {"to": "decade"}),
        ([1], None, {"to": "range", "width": 0}),
        ([1], None, {"to": "range", "width": 2.5}),
        ([1], None, {"to": "range", "width": True}),
    ],
)
def test_levels_that_do_not_fit_are_refused(
    values: list[Any], pii: str | None, params: dict[str, Any]
) -> None:
    with pytest.raises(BadOperatorParams) as info:
        gen(values, pii, **params)
    if isinstance(values[0], str) and len(values[0]) > 4:
        assert values[0] not in str(info.value)


def test_refused_even_when_there_are_no_rows() -> None:
    empty = pa.chunked_array([], type=pa.int64())
    with pytest.raises(BadOperatorParams):
        apply_operator(empty, "generalize", {"to": "district"}, pii=None, ctx=CTX)
