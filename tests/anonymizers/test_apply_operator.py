"""The column entry point: every operator, nulls, chunked arrays, errors without values."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import pyarrow as pa
import pytest

from anonymizers.columns import OPERATORS, ColumnContext, apply_operator
from anonymizers.errors import AnonymizerError, BadOperatorParams, UnknownOperator

CTX = ColumnContext(b"k" * 32, "psn-v1.g-123", dt.date(2025, 6, 1))
NAMES = pa.array(["段正淳", None, "欧阳娜娜"])


def test_operator_set() -> None:
    assert OPERATORS == {
        "keep",
        "mask",
        "pseudonymize",
        "generalize",
        "suppress",
        "redact",
        "scrub",
    }


def test_keep_returns_the_column_unchanged() -> None:
    assert apply_operator(NAMES, "keep", {}, pii="PERSON", ctx=CTX) is NAMES


@pytest.mark.parametrize(
    "column", [NAMES, pa.array([1, None, 3]), pa.array([dt.date(1977, 1, 27), None])]
)
def test_suppress_is_all_null_of_the_same_type(column: pa.Array) -> None:
    out = apply_operator(column, "suppress", {}, pii=None, ctx=CTX)
    assert out.type == column.type
    assert out.to_pylist() == [None] * len(column)


@pytest.mark.parametrize("operator", ["redact", "scrub"])
def test_redact_and_scrub_replace_whole_cells(operator: str) -> None:
    out = apply_operator(NAMES, operator, {}, pii=None, ctx=CTX)
    assert out.to_pylist() == ["[REDACTED]", None, "[REDACTED]"]
    numbers = apply_operator(pa.array([1, None]), operator, {}, pii=None, ctx=CTX)
    assert numbers.to_pylist() == ["[REDACTED]", None]


@pytest.mark.parametrize(
    ("operator", "params", "pii"),
    [
        ("mask", {}, "PERSON"),
        ("pseudonymize", {}, "PERSON"),
        ("generalize", {"to": "year"}, "DATE_OF_BIRTH"),
        ("redact", {}, None),
        ("scrub", {}, None),
        ("suppress", {}, None),
        ("keep", {}, None),
    ],
)
def test_chunked_arrays_keep_their_layout(
    operator: str, params: dict[str, Any], pii: str | None
) -> None:
    flat = ["1977-01-27", None, "段正淳", "1980年1月2日", None]
    chunked = pa.chunked_array([flat[:2], [], flat[2:]], type=pa.string())
    out = apply_operator(chunked, operator, params, pii=pii, ctx=CTX)
    assert isinstance(out, pa.ChunkedArray)
    assert [len(c) for c in out.chunks] == [2, 0, 3]
    expected = apply_operator(pa.array(flat), operator, params, pii=pii, ctx=CTX).to_pylist()
    assert out.to_pylist() == expected
    assert [v is None for v in out.to_pylist()] == [
        v is None for v in flat
    ] or operator == "suppress"


def test_chunked_array_without_chunks() -> None:
    empty = pa.chunked_array([], type=pa.string())
    for operator in ("mask", "pseudonymize", "redact", "suppress"):
        out = apply_operator(empty, operator, {}, pii="PERSON", ctx=CTX)
        assert isinstance(out, pa.ChunkedArray) and len(out) == 0


@pytest.mark.parametrize("operator", ["hash", "encrypt", "MASK", "", "mask "])
def test_unknown_operator(operator: str) -> None:
    with pytest.raises(UnknownOperator):
        apply_operator(NAMES, operator, {}, pii="PERSON", ctx=CTX)


@pytest.mark.parametrize(
    ("operator", "params"),
    [
        ("mask", {"keep": 3}),
        ("mask", {"keep_first": "3"}),
        ("mask", {"keep_first": True}),
        ("mask", {"keep_first": -1}),
        ("mask", {"keep_last": 65}),
        ("mask", {"char": "**"}),
        ("mask", {"char": ""}),
        ("mask", {"char": "a"}),
        ("mask", {"char": "0"}),
        ("mask", {"char": " "}),
        ("mask", {"char": 42}),
        ("keep", {"keep_first": 1}),
        ("redact", {"text": "x"}),
        ("suppress", {"x": 1}),
        ("pseudonymize", {"key": "abc"}),
        ("generalize", {"to": 1}),
        ("generalize", {"level": "year"}),
    ],
)
def test_bad_params(operator: str, params: dict[str, Any]) -> None:
    with pytest.raises(BadOperatorParams):
        apply_operator(NAMES, operator, params, pii="PERSON", ctx=CTX)


@pytest.mark.parametrize(
    ("pii", "params"),
    [
        ("LOCATION", {"keep_first": 2}),  # the district boundary decides, not a count
        ("IP_ADDRESS", {"keep_last": 1}),
        ("DATE_OF_BIRTH", {"keep_first": 6}),
        ("EMAIL_ADDRESS", {"keep_last": 3}),
    ],
)
def test_keeps_that_cannot_be_honoured_are_refused(pii: str, params: dict[str, Any]) -> None:
    with pytest.raises(BadOperatorParams):
        apply_operator(pa.array(["x"]), "mask", params, pii=pii, ctx=CTX)


def test_errors_are_value_errors() -> None:
    assert issubclass(UnknownOperator, AnonymizerError)
    assert issubclass(BadOperatorParams, AnonymizerError)
    assert issubclass(AnonymizerError, ValueError)


def test_error_messages_never_carry_cell_values() -> None:
    secret = "11010519491231002X"
    column = pa.array([secret])
    attempts: list[tuple[str, dict[str, Any], str | None]] = [
        ("nope", {}, "ID_CARD"),
        ("mask", {"keep_first": "x"}, "ID_CARD"),
        ("generalize", {"to": "district"}, "ID_CARD"),
    ]
    for operator, params, pii in attempts:
        with pytest.raises(AnonymizerError) as info:
            apply_operator(column, operator, params, pii=pii, ctx=CTX)
        assert secret not in str(info.value)
    binary = pa.array([b"\xff\xfe secret"], type=pa.binary())
    with pytest.raises(AnonymizerError) as info:
        apply_operator(binary, "mask", {}, pii=None, ctx=CTX)
    assert "secret" not in str(info.value)


def test_context_is_not_picklable() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(CTX)


def test_unfit_keeps_are_refused_even_without_rows() -> None:
    empty = pa.chunked_array([], type=pa.string())
    with pytest.raises(BadOperatorParams):
        apply_operator(empty, "mask", {"keep_first": 2}, pii="LOCATION", ctx=CTX)
