"""``mask`` on free-text spans: the DOMAIN.md conventions, the same as in a column."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.errors import BadOperatorParams
from anonymizers.text_ops import MaskOperator, OperatorContext
from tests.textops.conftest import KEY_A, TODAY

CASES = [
    ("PERSON", "段正淳", "段**"),
    ("PERSON", "欧阳娜娜", "欧阳**"),
    ("ID_CARD", "11010519491231002X", "110105********002X"),
    ("ID_CARD", "11010519491231002x", "110105********002x"),
    ("PHONE_NUMBER", "18049531999", "180****1999"),
    ("PHONE_NUMBER", "+86 138-0013-8000", "+86 138-****-8000"),
    ("PHONE_NUMBER", "09157518479", "0915*****79"),
    ("LOCATION", "北京市海淀区马连洼街道289号", "北京市海淀区*********"),
    ("EMAIL_ADDRESS", "duandazhi@126.com", "d********@126.com"),
    ("BANK_CARD", "6228480402564890018", "622848*********0018"),
    ("LICENSE_PLATE", "苏D40000", "苏D4***0"),
    ("LICENSE_PLATE", "陕A12345D", "陕A1****D"),
    ("IP_ADDRESS", "192.168.1.1", "192.*.*.*"),
    ("USCC", "91310110666007217T", "91310110*********T"),
    ("PASSPORT", "E12345678", "E******78"),
    # Full-width identifiers keep the convention (folded to ASCII, same length).
    ("PHONE_NUMBER", "１８０４９５３１９９９", "180****1999"),
]
MALFORMED = [
    ("ID_CARD", "110105194912310021"),  # wrong check digit
    ("PHONE_NUMBER", "12012345678"),
    ("USCC", "91110108MA01YBNX6A"),
    ("EMAIL_ADDRESS", "not-an-email"),
    ("LICENSE_PLATE", "苏I40000"),
    ("IP_ADDRESS", "999.1.1.1"),
    ("PERSON", "段"),  # too short to hide anything
]


def params(entity: str, **own: Any) -> dict[str, Any]:
    return {"entity_type": entity, "ctx": OperatorContext(TODAY), **own}


@pytest.mark.parametrize(("entity", "value", "expected"), CASES)
def test_mask_follows_the_chinese_conventions(entity: str, value: str, expected: str) -> None:
    op = MaskOperator()
    op.validate(params(entity))
    assert op.operate(value, params(entity)) == expected


@pytest.mark.parametrize(("entity", "value", "expected"), CASES)
def test_a_span_masks_like_the_same_value_in_a_column(
    entity: str, value: str, expected: str
) -> None:
    column = apply_operator(
        pa.array([value]), "mask", {}, pii=entity, ctx=ColumnContext(KEY_A, "psn-v1.g-1", TODAY)
    )
    assert column.to_pylist() == [MaskOperator().operate(value, params(entity))]


@pytest.mark.parametrize(("entity", "value"), MALFORMED)
def test_malformed_values_are_masked_entirely(entity: str, value: str) -> None:
    out = MaskOperator().operate(value, params(entity))
    assert set(out) == {"*"}
    assert len(out) == len(value)


def test_batch_gives_the_per_span_answers() -> None:
    values = ["11010519491231002X", "110105194912310021", "440524188001010014"]
    out = MaskOperator().operate_batch(values, params("ID_CARD"))
    assert out == [MaskOperator().operate(v, params("ID_CARD")) for v in values]


def test_mask_params_are_the_column_ones() -> None:
    op = MaskOperator()
    assert op.operate("18049531999", params("PHONE_NUMBER", char="#", keep_first=0)) == (
        "#######1999"
    )
    for bad in (
        {"char": "ab"},
        {"keep_first": -1},
        {"keep_first": True},
        {"colour": 1},
        {"char": "x"},
    ):
        with pytest.raises(BadOperatorParams):
            op.validate(params("PHONE_NUMBER", **bad))
    with pytest.raises(BadOperatorParams):  # an e-mail keeps its domain, not "last n"
        op.validate(params("EMAIL_ADDRESS", keep_last=2))


ADDRESSES = [
    "北京市海淀区马连洼街道289号",
    "人民路阳光小区3栋",
    "镇江市京口区中山路1号",
    "小店区某街",
    "苏州工业园区星湖街328号",
    "广东省深圳市南山区科技园",
    "内蒙古自治区呼和浩特市新城区",
    "新疆维吾尔自治区乌鲁木齐市天山区解放路",
    "上海市浦东新区",
    "吉林省延边朝鲜族自治州延吉市河南街",
    "某某村",
    "中国北京市朝阳区",
]


def test_small_and_large_location_batches_agree() -> None:
    op, p = MaskOperator(), params("LOCATION")
    small = op.operate_batch(ADDRESSES, p)
    large = op.operate_batch(ADDRESSES * 10, p)[: len(ADDRESSES)]
    assert small == large
    assert small[0] == "北京市海淀区*********" and small[1] == "*" * 9
    assert op.operate_batch(ADDRESSES, params("LOCATION", char="#"))[0].endswith("#" * 9)
