"""Identifier recognizers: checksums, formats as people write them, exact spans,
ASCII boundaries next to Chinese, overlap resolution, hard negatives."""

from __future__ import annotations

import pytest
from presidio_analyzer import RecognizerResult

from anonymizers.analyzer import Detector, resolve_overlaps
from anonymizers.identifiers import id_card_check_char, luhn_valid, org_code_check_char, uscc_valid


def found(det: Detector, text: str) -> list[tuple[str, str]]:
    return [(r.entity_type, text[r.start : r.end]) for r in det.analyze(text)]


# --- DOMAIN.md test vectors ------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "11010519491231002X", "440524188001010014", "321083197812162119", "150102198807303035",
    "33010219200403064X", "81000019980902013X", "932682198501010017", "11010519491231002x",
])
def test_valid_id_cards(ids_only: Detector, value: str) -> None:
    assert found(ids_only, f"身份证号{value}。") == [("ID_CARD", value)]


@pytest.mark.parametrize("value", [
    "110105194912310021",  # wrong check digit
    "11010519491331002X",  # month 13 (check digit recomputed below)
    "00010519491231002X",  # province 00
])
def test_invalid_id_cards(ids_only: Detector, value: str) -> None:
    if value[6:14] == "19491331" or value.startswith("00"):
        value = value[:17] + id_card_check_char(value[:17])  # only the date/province is wrong
    assert [t for t, _ in found(ids_only, f"身份证号{value}")] == []


@pytest.mark.parametrize("value", [
    "91310110666007217T", "91310115591693856A", "91350100M000100Y43", "91230184MA1BUFLT44",
    "92371000MA3MXH0E3W",
])
def test_valid_uscc(ids_only: Detector, value: str) -> None:
    assert found(ids_only, f"统一社会信用代码：{value}，") == [("USCC", value)]


def test_invalid_uscc(ids_only: Detector) -> None:
    assert found(ids_only, "统一社会信用代码91110108MA01YBNX6A") == []


@pytest.mark.parametrize("value", ["6228480402564890018", "4111111111111111"])
def test_valid_bank_cards(ids_only: Detector, value: str) -> None:
    assert found(ids_only, f"银行卡{value}") == [("BANK_CARD", value)]


def test_luhn_failure_needs_card_context(ids_only: Detector) -> None:
    legacy = "6228485602185289543"  # fails Luhn, UnionPay prefix
    assert not luhn_valid(legacy)
    assert found(ids_only, f"请打入其银行卡{legacy}。") == [("BANK_CARD", legacy)]
    assert found(ids_only, f"物流单号{legacy}的材料已寄出") == []
    assert found(ids_only, f"编码{legacy}") == []


def test_invalid_mobile(ids_only: Detector) -> None:
    assert found(ids_only, "电话12012345678") == []


@pytest.mark.parametrize("value", ["京AD92035", "陕A12345D", "赣A9V896", "苏D40000", "粤B·12345"])
def test_plates(ids_only: Detector, value: str) -> None:
    assert found(ids_only, f"车牌{value}的车辆") == [("LICENSE_PLATE", value)]


@pytest.mark.parametrize("value", ["E12345678", "EA1234567", "G12345678"])
def test_passport_needs_context(ids_only: Detector, value: str) -> None:
    assert found(ids_only, f"护照号码{value}") == [("PASSPORT", value)]
    assert found(ids_only, f"产品型号{value}") == []


# --- formats as people write them: exact spans -------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("联系电话13800138000。", ("PHONE_NUMBER", "13800138000")),
    ("电话138 0013 8000，", ("PHONE_NUMBER", "138 0013 8000")),
    ("电话138-0013-8000", ("PHONE_NUMBER", "138-0013-8000")),
    ("手机+86 13800138000", ("PHONE_NUMBER", "+86 13800138000")),
    ("绑定手机+86-18928276457。", ("PHONE_NUMBER", "+86-18928276457")),
    ("手机008613800138000", ("PHONE_NUMBER", "008613800138000")),
    ("联系电话：１３８００１３８０００）", ("PHONE_NUMBER", "１３８００１３８０００")),
    ("座机0791-88707823", ("PHONE_NUMBER", "0791-88707823")),
    ("联系电话：043479473850\n", ("PHONE_NUMBER", "043479473850")),
    ("电话（010）62345678", ("PHONE_NUMBER", "（010）62345678")),
    ("公民身份号码110105 19491231 002X，", ("ID_CARD", "110105 19491231 002X")),
    ("身份证号码为４３０１０４２００３０３０７７７８３；", ("ID_CARD", "４３０１０４２００３０３０７７７８３")),
    ("身份证33010219200403064x。", ("ID_CARD", "33010219200403064x")),
    ("银行卡6228 4804 0256 4890 018。", ("BANK_CARD", "6228 4804 0256 4890 018")),
    ("卡号4111-1111-1111-1111", ("BANK_CARD", "4111-1111-1111-1111")),
    ("统一社会信用代码：９１３１０１１０６６６００７２１７Ｔ", ("USCC", "９１３１０１１０６６６００７２１７Ｔ")),
    ("发送至邮箱502852783@qq.com。", ("EMAIL_ADDRESS", "502852783@qq.com")),
    ("用户huang.zhou.wei@outlook.com于", ("EMAIL_ADDRESS", "huang.zhou.wei@outlook.com")),
    ("从IP 211.155.153.153 登录", ("IP_ADDRESS", "211.155.153.153")),
    ("源地址2001:db8::8a2e:370:7334访问", ("IP_ADDRESS", "2001:db8::8a2e:370:7334")),
])
def test_formats_exact_spans(ids_only: Detector, text: str, expected: tuple[str, str]) -> None:
    assert found(ids_only, text) == [expected]


def test_legacy_15_digit_id_with_context(ids_only: Detector) -> None:
    assert found(ids_only, "身份证号110105491231002") == [("ID_CARD", "110105491231002")]
    assert found(ids_only, "编号110105491231002") == []


# --- \b does not separate Han from Latin/digits --------------------------------------------

def test_label_stays_outside_email(ids_only: Detector) -> None:
    assert found(ids_only, "邮箱zhangsan@example.com") == [("EMAIL_ADDRESS", "zhangsan@example.com")]


def test_two_emails_joined_by_han(ids_only: Detector) -> None:
    assert found(ids_only, "联系zhangsan@example.com和a@b.gov.cn") == [
        ("EMAIL_ADDRESS", "zhangsan@example.com"), ("EMAIL_ADDRESS", "a@b.gov.cn"),
    ]


def test_card_right_after_label(ids_only: Detector) -> None:
    assert found(ids_only, "银行卡4111111111111111") == [("BANK_CARD", "4111111111111111")]


def test_ip_between_han(ids_only: Detector) -> None:
    assert found(ids_only, "IP地址192.168.1.20登录") == [("IP_ADDRESS", "192.168.1.20")]


# --- overlaps: the more specific type wins --------------------------------------------------

def _id_passing(check: object) -> str:
    for seq in range(1000):
        first17 = f"11010519800101{seq:03d}"
        value = first17 + id_card_check_char(first17)
        if check(value):  # type: ignore[operator]
            return value
    raise AssertionError("no such ID in the search range")


def test_id_that_passes_luhn_is_id_card(ids_only: Detector) -> None:
    value = _id_passing(lambda v: v[-1] != "X" and luhn_valid(v))
    assert found(ids_only, f"号码{value}") == [("ID_CARD", value)]
    assert found(ids_only, value) == [("ID_CARD", value)]


def test_id_that_passes_uscc_is_id_card(ids_only: Detector) -> None:
    value = _id_passing(lambda v: uscc_valid(v) and org_code_check_char(v[8:16]) == v[16])
    assert found(ids_only, value) == [("ID_CARD", value)]


def test_resolve_overlaps_is_deterministic() -> None:
    def r(t: str, s: int, e: int, score: float) -> RecognizerResult:
        return RecognizerResult(t, s, e, score)

    results = [r("BANK_CARD", 0, 18, 0.95), r("ID_CARD", 0, 18, 0.9), r("PERSON", 20, 22, 0.5),
               r("LOCATION", 19, 25, 0.7), r("PHONE_NUMBER", 30, 41, 0.7)]
    kept = resolve_overlaps(results)
    assert [(k.entity_type, k.start) for k in kept] == [
        ("ID_CARD", 0), ("LOCATION", 19), ("PHONE_NUMBER", 30)]
    assert resolve_overlaps(reversed(results)) == kept


# --- hard negatives ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "依据赣府发〔2023〕12号文件应予办理。",
    "违反了《中华人民共和国道路交通安全法》第三十六条的规定。",
    "邮政编码：330093",
    "决定处以罚款2000.00元，注册资本¥680.10。",
    "成立日期2024-09-22，将在2020年2月5日前回复，2019/8/16前报送。",
    "工单号20240611456193483001，订单号20221211149516。",
    "订单号6228480402564890018，会话编号8364349657805591。",
    "注销企业原代码91110108MA01YBNX6A已注销。",
    "交易流水号310115198303303831显示扣款成功。",
    "会员编号81061455472被停用，档案编号11390615896已归档。",
    "版本号1.2.3.4已发布。",
])
def test_hard_negatives(ids_only: Detector, text: str) -> None:
    assert found(ids_only, text) == []


def test_entities_filter(ids_only: Detector) -> None:
    text = "电话13800138000，邮箱a@b.cn"
    got = ids_only.analyze(text, entities=["EMAIL_ADDRESS"])
    assert [r.entity_type for r in got] == ["EMAIL_ADDRESS"]
