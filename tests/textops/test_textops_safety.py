"""The safety net: undeclared columns with direct identifiers are masked, clean ones pass."""

from __future__ import annotations

import pyarrow as pa
import pytest

from anonymizers.safety import DIRECT_IDENTIFIERS, SafetyNet
from tests.textops.conftest import TODAY
from tests.textops.standin import RegexDetector


def _net(detector: RegexDetector) -> SafetyNet:
    return SafetyNet(detector, today=TODAY)


def test_a_clean_column_is_returned_as_is_without_running_the_detector(
    detector: RegexDetector,
) -> None:
    column = pa.array([f"第{i}号窗口办理，编号{i:05d}" for i in range(5000)] + [None])
    result = _net(detector).check_column("remark", column)
    assert result.clean and result.column is column
    assert detector.calls == 0 and result.candidates == 0


def test_hits_are_masked_in_place_over_the_whole_column(detector: RegexDetector) -> None:
    values: list[str | None] = [f"普通备注{i}" for i in range(3000)]
    values[10] = "联系人手机13800138000，请回电"
    values[2500] = "身份证11010519491231002X已核验，邮箱duandazhi@126.com"
    values[2999] = None
    result = _net(detector).check_column("remark", pa.array(values), sample=1)
    out = result.column.to_pylist()
    assert result.hits == {"PHONE_NUMBER": 1, "ID_CARD": 1, "EMAIL_ADDRESS": 1}
    assert out[10] == "联系人手机138****8000，请回电"
    assert out[2500] == "身份证110105********002X已核验，邮箱d********@126.com"
    assert out[2999] is None and out[:10] == values[:10] and out[11:2500] == values[11:2500]


def test_candidates_outside_the_sample_are_not_scanned_when_the_sample_is_clean(
    detector: RegexDetector,
) -> None:
    # 1,000 order numbers (prefilter candidates, no identifiers): only the sample is scanned.
    column = pa.array([f"订单{i:010d}" for i in range(1000)])
    result = _net(detector).check_column("order_no", column, sample=50)
    assert result.clean and result.column is column
    assert result.candidates == 1000 and detector.calls == 50


def test_names_and_places_are_not_the_nets_business(detector: RegexDetector) -> None:
    column = pa.array(["段正淳住北京市海淀区马连洼街道289号"])
    assert _net(detector).check_column("remark", column).clean
    assert "PERSON" not in DIRECT_IDENTIFIERS and "LOCATION" not in DIRECT_IDENTIFIERS


@pytest.mark.parametrize(
    "text",
    [
        "电话１８０４９５３１９９９",
        "卡号6228 4804 0256 4890 018",
        "IP地址192.168.1.20登录",
        "车牌京AD92035",
        "护照E12345678",
    ],
)
def test_the_prefilter_lets_every_direct_identifier_through(
    detector: RegexDetector, text: str
) -> None:
    assert _net(detector).check_column("x", pa.array([text])).candidates == 1


def test_integer_and_chunked_columns(detector: RegexDetector) -> None:
    phones = pa.array([13800138000, 42, None])
    result = _net(detector).check_column("contact", phones)
    assert result.column.to_pylist() == ["138****8000", "42", None]
    chunked = pa.chunked_array([["备注", "手机13800138000"], ["无"]])
    out = _net(detector).check_column("remark", chunked).column
    assert isinstance(out, pa.ChunkedArray) and [len(c) for c in out.chunks] == [2, 1]
    assert out.to_pylist() == ["备注", "手机138****8000", "无"]
    dates = pa.array([1.5, 2.5])
    assert _net(detector).check_column("amount", dates).column is dates
