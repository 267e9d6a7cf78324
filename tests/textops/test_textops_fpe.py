"""``fpe``: FF1 surrogates keep shape and checksums, are keyed per grant, fail closed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from ffx import FF1

from anonymizers.errors import BadOperatorParams
from anonymizers.fpe import LAST_BIRTH_DATE, Surrogates, fpe_key
from anonymizers.identifiers import (
    _PROVINCES,
    id_card_valid,
    luhn_valid,
    mobile_valid,
    org_code_check_char,
    plate_valid,
    uscc_valid,
)
from anonymizers.text_ops import FpeOperator, OperatorContext
from tests.textops.conftest import KEY_A, KEY_B, TODAY

A = Surrogates(fpe_key(KEY_A))
B = Surrogates(fpe_key(KEY_B))
IDS = [
    "11010519491231002X",
    "440524188001010014",
    "321083197812162119",
    "150102198807303035",
    "33010219200403064X",
    "81000019980902013X",
    "932682198501010017",
    "110105201501010017",
]
USCCS = [
    "91310110666007217T",
    "91310115591693856A",
    "91350100M000100Y43",
    "91230184MA1BUFLT44",
    "92371000MA3MXH0E3W",
]


def test_libffx_is_nist_ff1() -> None:
    # SP 800-38G FF1 samples 1-3 (AES-128).
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert FF1(key, radix=10).encrypt("0123456789") == "2433477484"
    assert (
        FF1(key, radix=10).encrypt("0123456789", tweak=bytes.fromhex("39383736353433323130"))
        == "6124200773"
    )
    assert (
        FF1(key, radix=36).encrypt(
            "0123456789abcdefghi", tweak=bytes.fromhex("3737373770717273373737")
        )
        == "a9tv40mll9kdu509eum"
    )


def _decade(ymd: str) -> tuple[int, int]:
    year = int(ymd[:4])
    return (2010, 2024) if year >= 2010 else (year // 10 * 10, year // 10 * 10 + 9)


@pytest.mark.parametrize("value", IDS)
def test_id_surrogate_is_a_valid_id_in_the_same_area_decade_and_sex(value: str) -> None:
    out = A.surrogate(value, "ID_CARD")
    assert out != value and len(out) == 18
    assert id_card_valid(out)  # check char, real date <= today, province
    assert out[:2] in _PROVINCES and out[:6] == value[:6]
    assert _decade(out[6:14]) == _decade(value[6:14])
    assert int(out[16]) % 2 == int(value[16]) % 2
    assert A.surrogate(value, "ID_CARD") == out  # deterministic per key
    assert B.surrogate(value, "ID_CARD") != out  # another grant, another surrogate


def test_id_surrogates_of_many_values_stay_valid_and_distinct() -> None:
    from anonymizers.identifiers import id_card_check_char

    values = []
    for i in range(300):
        d = dt.date(1950, 1, 1) + dt.timedelta(days=83 * i)  # to 2018
        first17 = f"320102{d:%Y%m%d}{i % 1000:03d}"
        values.append(first17 + id_card_check_char(first17))
    outs = [A.surrogate(v, "ID_CARD") for v in values]
    assert all(id_card_valid(o) for o in outs)
    assert len(set(outs)) == len(values)  # FF1 is a permutation


def test_legacy_id_and_lowercase_x_keep_their_form() -> None:
    legacy = A.surrogate("110105491231002", "ID_CARD")
    assert len(legacy) == 15 and legacy.isdigit() and id_card_valid(legacy)
    lower = A.surrogate("33010219200403064x", "ID_CARD")
    assert id_card_valid(lower) and (lower[-1].isdigit() or lower[-1] == "x")


@pytest.mark.parametrize("value", USCCS)
def test_uscc_surrogate_has_valid_check_characters(value: str) -> None:
    out = A.surrogate(value, "USCC")
    assert uscc_valid(out) and out[:8] == value[:8] and out != value
    assert org_code_check_char(out[8:16]) == out[16]
    assert B.surrogate(value, "USCC") != out


@pytest.mark.parametrize("value", ["18049531999", "13800138000", "19912345678"])
def test_mobile_surrogate_keeps_a_valid_prefix(value: str) -> None:
    out = A.surrogate(value, "PHONE_NUMBER")
    assert mobile_valid(out) and out[:3] == value[:3] and out != value


def test_phone_spellings_share_one_surrogate_and_keep_their_separators() -> None:
    plain = A.surrogate("13800138000", "PHONE_NUMBER")
    spaced = A.surrogate("+86 138-0013-8000", "PHONE_NUMBER")
    assert re.fullmatch(r"\+86 138-\d{4}-\d{4}", spaced)
    assert re.sub(r"\D", "", spaced)[2:] == plain
    landline = A.surrogate("0915-7518479", "PHONE_NUMBER")
    assert re.fullmatch(r"0915-7\d{6}", landline) and landline != "0915-7518479"


@pytest.mark.parametrize(
    "value",
    ["6228480402564890018", "4111111111111111", "4111 1111 1111 1111", "6228480402564890011"],
)
def test_bank_card_surrogate_keeps_bin_and_passes_luhn(value: str) -> None:
    out = A.surrogate(value, "BANK_CARD")
    assert len(out) == len(value) and out[:6] == value[:6]
    assert [i for i, c in enumerate(out) if c == " "] == [
        i for i, c in enumerate(value) if c == " "
    ]
    assert luhn_valid(out.replace(" ", "")) and out != value


@pytest.mark.parametrize(
    ("entity", "value", "check"),
    [
        ("PASSPORT", "E12345678", lambda o: re.fullmatch(r"E\d{8}", o)),
        ("PASSPORT", "EA1234567", lambda o: re.fullmatch(r"EA\d{7}", o)),
        ("LICENSE_PLATE", "苏D40000", plate_valid),
        ("LICENSE_PLATE", "京AD92035", lambda o: plate_valid(o) and o[:3] == "京AD"),
        (
            "IP_ADDRESS",
            "192.168.1.20",
            lambda o: o.startswith("192.") and all(0 <= int(x) < 256 for x in o.split(".")),
        ),
    ],
)
def test_other_identifiers_keep_their_shape(entity: str, value: str, check: Any) -> None:
    out = A.surrogate(value, entity)
    assert out != value and check(out)


def test_full_width_input_gives_full_width_output() -> None:
    wide = "１８０４９５３１９９９"
    out = A.surrogate(wide, "PHONE_NUMBER")
    assert len(out) == 11 and all("０" <= c <= "９" for c in out)
    narrow = out.translate({ord("０") + i: str(i) for i in range(10)})
    assert narrow == A.surrogate("18049531999", "PHONE_NUMBER")


@pytest.mark.parametrize(
    ("entity", "value"),
    [
        ("ID_CARD", "110105194912310021"),  # wrong check char
        ("ID_CARD", "110105202501010010"),  # born after the last surrogate window
        ("USCC", "91110108MA01YBNX6A"),  # wrong check char
        ("PHONE_NUMBER", "12012345678"),
        ("BANK_CARD", "1234"),
        ("IP_ADDRESS", "2001:db8::1"),
    ],
)
def test_values_that_do_not_validate_are_masked_entirely(entity: str, value: str) -> None:
    assert A.surrogate(value, entity) == "*" * len(value)


def test_last_birth_window_is_not_in_the_future() -> None:
    assert TODAY > LAST_BIRTH_DATE


def test_operator_refuses_types_without_a_format_and_missing_keys() -> None:
    op = FpeOperator()
    ctx = OperatorContext(TODAY, KEY_A, "psn-v1.g-1")
    for entity in ("PERSON", "LOCATION", "EMAIL_ADDRESS", ""):
        with pytest.raises(BadOperatorParams):
            op.validate({"entity_type": entity, "ctx": ctx})
    with pytest.raises(BadOperatorParams):
        op.validate({"entity_type": "ID_CARD", "ctx": OperatorContext(TODAY)})
    params = {"entity_type": "ID_CARD", "ctx": ctx}
    assert op.operate(IDS[0], params) == A.surrogate(IDS[0], "ID_CARD")


def test_fpe_key_is_not_the_pseudonym_key() -> None:
    assert fpe_key(KEY_A) != KEY_A and len(fpe_key(KEY_A)) == 32
    assert fpe_key(KEY_A) != fpe_key(KEY_B)
    with pytest.raises(BadOperatorParams):
        fpe_key(b"short")
    assert "<redacted>" in repr(A)


def test_ids_written_in_groups_keep_their_grouping() -> None:
    compact = A.surrogate("11010519491231002X", "ID_CARD")
    spaced = A.surrogate("110105 19491231 002X", "ID_CARD")
    assert spaced == f"{compact[:6]} {compact[6:14]} {compact[14:]}"
    assert A.surrogate("9131-0110-6660-0721-7T", "USCC").replace("-", "") == A.surrogate(
        "91310110666007217T", "USCC"
    )
