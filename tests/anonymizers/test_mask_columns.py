"""``mask`` through the column entry point: DOMAIN.md conventions, fail-closed cases."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pyarrow as pa
import pytest

from anonymizers.columns import ColumnContext, apply_operator
from anonymizers.identifiers import id_card_check_char, id_card_valid, uscc_check_char

CTX = ColumnContext(b"k" * 32, "psn-v1.g-123", dt.date(2025, 6, 1))


def mask(values: list[Any], pii: str | None, **params: Any) -> list[Any]:
    column = pa.array(values, type=pa.string())
    out: list[Any] = apply_operator(column, "mask", params, pii=pii, ctx=CTX).to_pylist()
    return out


def mask_one(value: str, pii: str | None, **params: Any) -> str:
    return str(mask([value], pii, **params)[0])


# The masking conventions table of DOMAIN.md, value for value. The address row differs
# from the table's 8 stars: masking keeps the length, and 马连洼街道289号 is 9 characters.
DOMAIN_EXAMPLES: list[tuple[str | None, str, str]] = [
    ("PERSON", "段正淳", "段**"),
    ("ID_CARD", "11010519491231002X", "110105********002X"),
    ("PHONE_NUMBER", "18049531999", "180****1999"),
    ("PHONE_NUMBER", "09157518479", "0915*****79"),
    ("LOCATION", "北京市海淀区马连洼街道289号", "北京市海淀区*********"),
    ("EMAIL_ADDRESS", "duandazhi@126.com", "d********@126.com"),
    ("BANK_CARD", "6228480402564890018", "622848*********0018"),
    ("LICENSE_PLATE", "苏D40000", "苏D4***0"),
    ("LICENSE_PLATE", "陕A12345D", "陕A1****D"),
    ("IP_ADDRESS", "192.168.1.1", "192.*.*.*"),
]


@pytest.mark.parametrize(("pii", "value", "expected"), DOMAIN_EXAMPLES)
def test_domain_conventions(pii: str, value: str, expected: str) -> None:
    assert mask_one(value, pii) == expected


ENTITY_EXAMPLES: list[tuple[str | None, str, str]] = [
    # names: compound surnames keep two characters, a lone character is hidden
    ("PERSON", "欧阳娜娜", "欧阳**"),
    ("PERSON", "司马相如", "司马**"),
    ("PERSON", "欧阳", "欧*"),
    ("PERSON", "张", "*"),
    ("PERSON", "迪丽热巴", "迪***"),
    # ID numbers: every DOMAIN.md vector, lower-case x, 15-digit legacy numbers
    ("ID_CARD", "440524188001010014", "440524********0014"),
    ("ID_CARD", "321083197812162119", "321083********2119"),
    ("ID_CARD", "150102198807303035", "150102********3035"),
    ("ID_CARD", "33010219200403064X", "330102********064X"),
    ("ID_CARD", "81000019980902013X", "810000********013X"),
    ("ID_CARD", "932682198501010017", "932682********0017"),
    ("ID_CARD", "11010519491231002x", "110105********002x"),
    ("ID_CARD", "110105491231002", "110105******002"),
    ("ID_CARD", "１１０１０５１９４９１２３１００２ｘ", "110105********002x"),  # full-width
    # phones: prefixes and separators stay where they are, full-width folds to ASCII
    ("PHONE_NUMBER", "+86 138 0013 8000", "+86 138 **** 8000"),
    ("PHONE_NUMBER", "138-0013-8000", "138-****-8000"),
    ("PHONE_NUMBER", "008613800138000", "0086138****8000"),
    ("PHONE_NUMBER", "８６１３８００１３８０００", "86138****8000"),
    ("PHONE_NUMBER", "010-12345678", "010-******78"),
    ("PHONE_NUMBER", "0991-42279483", "0991-******83"),
    ("PHONE_NUMBER", "(0915)7518479", "(0915)*****79"),
    # cards, codes, plates, passports, dates of birth
    ("BANK_CARD", "4111111111111111", "411111******1111"),
    ("BANK_CARD", "6228 4804 0256 4890 018", "6228 48** **** ***0 018"),
    ("BANK_CARD", "６２２８４８０４０２５６４８９００１８", "622848*********0018"),
    ("USCC", "91310110666007217T", "91310110*********T"),
    ("USCC", "91350100M000100Y43", "91350100*********3"),
    ("LICENSE_PLATE", "京AD92035", "京AD****5"),
    ("PASSPORT", "E12345678", "E******78"),
    ("PASSPORT", "EA1234567", "E******67"),
    ("DATE_OF_BIRTH", "1977-01-27", "1977-**-**"),
    ("DATE_OF_BIRTH", "1979年4月27日", "1979年*月**日"),
    ("DATE_OF_BIRTH", "19770127", "1977****"),
    # addresses that start at the district, with province, autonomous units
    ("LOCATION", "南关区红旗大道759号", "南关区********"),
    ("LOCATION", "江西省南昌市东湖区府前街486号", "江西省南昌市东湖区*******"),
    (
        "LOCATION",
        "内蒙古自治区锡林郭勒盟锡林浩特市团结路1号",
        "内蒙古自治区锡林郭勒盟锡林浩特市*****",
    ),
    ("LOCATION", "哈尔滨市道里区文化路874号", "哈尔滨市道里区*******"),
    # untyped columns: first and last kept
    (None, "ABC12345", "A******5"),
    (None, "abc", "a*c"),
]


@pytest.mark.parametrize(("pii", "value", "expected"), ENTITY_EXAMPLES)
def test_entity_conventions(pii: str | None, value: str, expected: str) -> None:
    assert mask_one(value, pii) == expected


ENTITY_CASES = DOMAIN_EXAMPLES + ENTITY_EXAMPLES


@pytest.mark.parametrize("entity", sorted({pii or "" for pii, _, _ in ENTITY_CASES}))
def test_whole_column_matches_value_by_value(entity: str) -> None:
    # One column mixing lengths, encodings and nulls takes the general byte path;
    # it must agree with each value masked on its own.
    pii = entity or None
    cases = [(v, e) for p, v, e in ENTITY_CASES if p == pii]
    values = [v for v, _ in cases] + [None, "", "!", "0" * 19, "段正淳" * 7]
    singles = [None if v is None else mask_one(v, pii) for v in values]
    assert mask(values, pii) == singles
    assert singles[: len(cases)] == [e for _, e in cases]


@pytest.mark.parametrize(
    ("pii", "value"),
    [
        ("ID_CARD", "11010519491231002Y"),  # bad check character
        ("ID_CARD", "110105194912310021"),  # check digit should be X
        ("ID_CARD", "001105194912310027"),  # no such province
        ("ID_CARD", "110105194902300026"),  # 30 February
        ("ID_CARD", "110105 19491231 002X"),  # spaced groups: not a structured value
        ("ID_CARD", "1101051949"),
        ("PHONE_NUMBER", "12012345678"),  # DOMAIN.md invalid mobile
        ("PHONE_NUMBER", "1380013800"),
        ("PHONE_NUMBER", "7518479"),  # no area code
        ("PHONE_NUMBER", "电话13800138000"),
        ("BANK_CARD", "62284804025"),  # 11 digits
        ("BANK_CARD", "62284804025648900181"),  # 20 digits
        ("BANK_CARD", "6228-4804-abcd-4890"),
        ("USCC", "91110108MA01YBNX6A"),  # DOMAIN.md invalid: check should be 2
        ("USCC", "91310110666007217t"),
        ("LICENSE_PLATE", "AB12345"),
        ("LICENSE_PLATE", "苏I40000"),  # no I after the province
        ("EMAIL_ADDRESS", "duandazhi"),
        ("EMAIL_ADDRESS", "a@b.com"),  # nothing would be hidden
        ("EMAIL_ADDRESS", "a@@b.com"),
        ("IP_ADDRESS", "256.1.1.1"),
        ("IP_ADDRESS", "192.168.001.001"),
        ("IP_ADDRESS", "2001:db8::1"),
        ("PASSPORT", "12345678"),
        ("DATE_OF_BIRTH", "27/01/1977"),
        ("LOCATION", "朝阳路985号"),  # no district to keep
        ("LOCATION", "人民路阳光小区3栋"),
        ("LOCATION", "北京市海淀区"),  # nothing after the district: nothing would be hidden
        ("PERSON", "王"),
        (None, "ab"),
        (None, "x"),
    ],
)
def test_malformed_or_short_values_are_fully_masked(pii: str | None, value: str) -> None:
    assert mask_one(value, pii) == "*" * len(value)


@pytest.mark.parametrize(
    "pii",
    [None, "PERSON", "ID_CARD", "PHONE_NUMBER", "USCC", "BANK_CARD", "EMAIL_ADDRESS",
     "LICENSE_PLATE", "PASSPORT", "IP_ADDRESS", "DATE_OF_BIRTH", "LOCATION", "UNKNOWN_TYPE"],
)  # fmt: skip
def test_nulls_stay_null_and_nothing_passes_through(pii: str | None) -> None:
    values = [
        None, "", "a", "段正淳", "11010519491231002X", "18049531999", "192.168.1.1",
        "duandazhi@126.com", "苏D40000", "北京市海淀区马连洼街道289号", None, "1977-01-27",
    ]  # fmt: skip
    out = mask(values, pii)
    assert [v is None for v in out] == [v is None for v in values]
    for before, after in zip(values, out, strict=True):
        if before:
            assert after != before
            if pii != "IP_ADDRESS":
                assert len(after) == len(before)


def test_id_validation_agrees_with_reference() -> None:
    rng = random.Random(7)
    values = []
    for _ in range(3000):
        first17 = (
            rng.choice(["11", "36", "44", "00", "81", "93"])
            + "".join(rng.choices("0123456789", k=4))
            + str(rng.randint(1870, 2020))
            + f"{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
            + "".join(rng.choices("0123456789", k=3))
        )
        check = id_card_check_char(first17) if rng.random() < 0.7 else rng.choice("0X5x")
        values.append(first17 + check)
    today_ctx = ColumnContext(b"k" * 32, "psn-v1.g-123", dt.date.today())
    out = apply_operator(pa.array(values), "mask", {}, pii="ID_CARD", ctx=today_ctx)
    for value, masked in zip(values, out.to_pylist(), strict=True):
        expected = value[:6] + "*" * 8 + value[14:] if id_card_valid(value) else "*" * 18
        assert masked == expected


def test_uscc_validation_agrees_with_reference() -> None:
    rng = random.Random(3)
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for _ in range(300):
        first17 = "91" + "".join(rng.choices(charset, k=15))
        good = first17 + uscc_check_char(first17)
        bad = first17 + rng.choice([c for c in charset if c != good[-1]])
        assert mask([good, bad], "USCC") == [good[:8] + "*" * 9 + good[-1], "*" * 18]


@pytest.mark.parametrize(
    ("pii", "value", "params", "expected"),
    [
        ("ID_CARD", "11010519491231002X", {"keep_first": 3}, "110***********002X"),
        ("ID_CARD", "11010519491231002X", {"keep_first": 1, "keep_last": 2}, "1***************2X"),
        ("ID_CARD", "11010519491231002Y", {"keep_first": 3}, "*" * 18),  # still invalid
        (
            "PHONE_NUMBER",
            "+86 138 0013 8000",
            {"keep_first": 0, "keep_last": 2},
            "+86 *** **** **00",
        ),
        ("PERSON", "段正淳", {"keep_first": 0}, "***"),
        ("PERSON", "段正淳", {"keep_last": 1}, "段*淳"),
        ("BANK_CARD", "6228480402564890018", {"keep_last": 0}, "622848*************"),
        ("EMAIL_ADDRESS", "duandazhi@126.com", {"keep_first": 2}, "du*******@126.com"),
        (None, "hello world", {"keep_first": 0, "keep_last": 0}, "***********"),
        (None, "hello", {"keep_first": 3, "keep_last": 2}, "*****"),
        ("PERSON", "段正淳", {"char": "×"}, "段××"),
        ("ID_CARD", "11010519491231002X", {"char": "＊"}, "110105＊＊＊＊＊＊＊＊002X"),
        ("IP_ADDRESS", "10.0.0.1", {"char": "#"}, "10.#.#.#"),
        ("IP_ADDRESS", "10.0.0.1", {"char": "\\"}, "10.\\.\\.\\"),
        ("LOCATION", "南关区红旗大道759号", {"char": "○"}, "南关区○○○○○○○○"),
    ],
)
def test_params_override_the_convention(
    pii: str | None, value: str, params: dict[str, Any], expected: str
) -> None:
    assert mask_one(value, pii, **params) == expected


def test_non_string_columns_are_cast_to_text() -> None:
    ints = apply_operator(pa.array([123456, None, 7]), "mask", {}, pii=None, ctx=CTX)
    assert ints.to_pylist() == ["1****6", None, "*"]
    dates = pa.array([dt.date(1977, 1, 27), None])
    masked = apply_operator(dates, "mask", {}, pii="DATE_OF_BIRTH", ctx=CTX)
    assert masked.to_pylist() == ["1977-**-**", None]
    big = pa.array(["段正淳"], type=pa.large_string())
    assert apply_operator(big, "mask", {}, pii="PERSON", ctx=CTX).to_pylist() == ["段**"]


def test_sliced_and_large_columns() -> None:
    values = ["段正淳", None, "欧阳娜娜", "11010519491231002X", "", "张"] * 50_000
    column = pa.array(values)
    expected = ["***", None, "欧*娜娜", "1" + "*" * 15 + "2X", "", "*"] * 50_000
    assert apply_operator(column, "mask", {}, pii="PERSON", ctx=CTX).to_pylist()[:6] == [
        "段**", None, "欧阳**", "1*****************", "", "*",
    ]  # fmt: skip
    generic = apply_operator(column.slice(1), "mask", {"keep_last": 2}, pii=None, ctx=CTX)
    assert generic.to_pylist() == expected[1:]


@pytest.mark.parametrize("seed", range(5))
def test_generic_mask_matches_reference_on_random_text(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = list("ab01 -") + list("段正淳１") + ["😀"]
    values = [
        None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        for _ in range(500)
    ]
    first, last, char = rng.randint(0, 3), rng.randint(0, 3), rng.choice(["*", "＊"])

    def reference(value: str) -> str:
        if len(value) <= first + last:
            return char * len(value)
        return value[:first] + char * (len(value) - first - last) + value[len(value) - last :]

    out = mask(values, None, keep_first=first, keep_last=last, char=char)
    assert out == [None if v is None else reference(v) for v in values]
