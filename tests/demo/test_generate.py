"""The demo generator: valid identifiers, consistent rows, determinism, streaming."""

from __future__ import annotations

import datetime as dt
import random
import re
import tracemalloc
import types
from collections import defaultdict
from decimal import Decimal

import pytest

from anonymizers.identifiers import (
    id_card_valid,
    landline_valid,
    luhn_valid,
    mobile_valid,
    org_code_check_char,
    plate_valid,
    uscc_valid,
)
from gateway.demo import names as N
from gateway.demo.fake import Fake
from gateway.demo.freetext import MAX_LEN, MIN_LEN, ticket_description
from gateway.demo.generate import (
    COLUMNS,
    TABLES,
    company_record,
    generate_batches,
    generate_rows,
)

N_ROWS = 3000
_BINS = {b for b, _, _ in N.BANK_BINS}
_FW = str.maketrans("０１２３４５６７８９", "0123456789")


def rows(table: str, n: int = N_ROWS) -> list[dict[str, object]]:
    return list(generate_rows(table, n))


def phone_ok(v: str) -> bool:
    return mobile_valid(v) or landline_valid(v)


def text_phone_ok(v: str) -> bool:
    if landline_valid(v):
        return True
    digits = re.sub(r"[\s-]", "", v.translate(_FW))
    digits = re.sub(r"^(\+86|0086)", "", digits)
    return mobile_valid(digits)


def id_consistent(id_card: str, birth: dt.date, gender: str) -> bool:
    male = int(id_card[16]) % 2 == 1
    return id_card[6:14] == birth.strftime("%Y%m%d") and gender == ("男" if male else "女")


@pytest.mark.parametrize("table", TABLES)
def test_columns_and_ids(table: str) -> None:
    got = rows(table, 1500)
    assert [r["id"] for r in got] == list(range(1, 1501))
    for r in got:
        assert tuple(r) == COLUMNS[table]
        assert r["region_code"] in N.COUNTY_BY_CODE
        assert all(v is not None and v != "" for v in r.values())


def test_huji_renkou_identifiers_consistent() -> None:
    households: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in rows("huji_renkou"):
        card, birth, county = (
            str(r["id_card"]),
            r["birth_date"],
            N.COUNTY_BY_CODE[str(r["region_code"])],
        )
        assert isinstance(birth, dt.date) and isinstance(r["reg_date"], dt.date)
        assert id_card_valid(card), card
        assert card[:6] == county.code
        assert id_consistent(card, birth, str(r["gender"]))
        assert phone_ok(str(r["phone"])), r["phone"]
        assert county.district in str(r["address"])
        assert r["postal_code"] == county.postal
        assert r["reg_date"] >= birth
        households[str(r["hh_no"])].append(r)
    assert len(households) > N_ROWS // 5  # real households, not one per row
    for members in households.values():
        assert members[0]["relation"] == "户主"
        assert len({m["address"] for m in members}) == 1
        for m in members:
            if m["relation"] in ("子", "孙子", "父亲"):
                assert m["gender"] == "男"
            if m["relation"] in ("女", "孙女", "母亲"):
                assert m["gender"] == "女"


def test_qiye_dengji_uscc() -> None:
    for r in rows("qiye_dengji", 1500):
        uscc = str(r["uscc"])
        assert uscc_valid(uscc), uscc
        assert uscc[:2] in ("91", "93")
        assert uscc[2:8] == r["region_code"]
        assert uscc[16] == org_code_check_char(uscc[8:16])
        assert phone_ok(str(r["phone"]))
        assert isinstance(r["reg_capital"], Decimal) and r["reg_capital"] > 0
        assert str(r["company"]).endswith("公司")


def test_cheliang_dengji_plates() -> None:
    nev = 0
    for r in rows("cheliang_dengji"):
        plate = str(r["plate"])
        assert plate_valid(plate), plate
        assert plate[:2] == N.COUNTY_BY_CODE[str(r["region_code"])].plate
        assert id_card_valid(str(r["id_card"]))
        if len(plate) == 8:
            nev += 1
            assert r["brand"] in N.NEV_BRANDS
            assert plate[2] in "DF" or plate[-1] in "DF"
    assert N_ROWS * 0.15 < nev < N_ROWS * 0.35


def test_shebao_jiaona_cards_and_employers() -> None:
    for r in rows("shebao_jiaona"):
        card = str(r["bank_card"])
        assert luhn_valid(card) and card[:6] in _BINS, card
        assert id_card_valid(str(r["id_card"]))
        assert uscc_valid(str(r["employer_uscc"]))
        assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", str(r["month"]))
        assert isinstance(r["base_salary"], Decimal)
    employers = {(r["employer"], r["employer_uscc"]) for r in rows("shebao_jiaona", 500)}
    companies = {(r["company"], r["uscc"]) for r in rows("qiye_dengji", 500)}
    assert employers <= companies  # employers are rows of qiye_dengji
    assert company_record(7, 1)["uscc"] == rows("qiye_dengji", 1)[0]["uscc"]


def test_tousu_gongdan_rows() -> None:
    for r in rows("tousu_gongdan", 1500):
        text = str(r["description"])
        assert MIN_LEN <= len(text) <= MAX_LEN, text
        assert isinstance(r["accepted_at"], dt.datetime)
        county = N.COUNTY_BY_CODE[str(r["region_code"])]
        assert str(r["handler_unit"]).startswith(county.city + county.district)
        assert phone_ok(str(r["phone"]))


def test_description_spans_valid() -> None:
    seen: set[str] = set()
    f = Fake(random.Random(1))
    for _ in range(3000):
        county = f.county()
        category = f.pick(N.CATEGORIES)[0]
        t = ticket_description(f, county, category, f.name(), f.mobile())
        assert MIN_LEN <= len(t.text) <= MAX_LEN
        for s in t.entities + t.negatives:
            assert t.text[s.start : s.end] == s.value
        for s in t.entities:
            seen.add(s.type)
            v = s.value
            if s.type == "ID_CARD":
                assert id_card_valid(v.replace(" ", "")), v
            elif s.type == "PHONE_NUMBER":
                assert text_phone_ok(v), v
            elif s.type == "BANK_CARD":
                assert luhn_valid(v.replace(" ", "")), v
            elif s.type == "LICENSE_PLATE":
                assert plate_valid(v), v
            elif s.type == "LOCATION":
                assert county.district in v
        for s in t.negatives:
            if s.type == "ORDER_NUMBER":
                v = s.value
                assert not (luhn_valid(v) or id_card_valid(v) or mobile_valid(v)), v
    assert seen == {"PERSON", "ID_CARD", "PHONE_NUMBER", "BANK_CARD", "LICENSE_PLATE", "LOCATION"}


def test_phone_formats_in_text_vary() -> None:
    texts = " ".join(str(r["description"]) for r in rows("tousu_gongdan", 2000))
    assert re.search(r"1\d\d \d{4} \d{4}", texts)
    assert re.search(r"1\d\d-\d{4}-\d{4}", texts)
    assert "+86" in texts and "０" in texts
    assert re.search(r"〔20\d\d〕\d+号", texts)
    assert re.search(r"\d{4} \d{4} \d{4} \d{4}", texts)


@pytest.mark.parametrize("table", TABLES)
def test_deterministic_and_seekable(table: str) -> None:
    a = rows(table, 2500)
    assert a == rows(table, 2500)
    assert a != list(generate_rows(table, 2500, seed=8))
    assert list(generate_rows(table, 20, start_id=1990)) == a[1989:2009]  # crosses a block
    batches = list(generate_batches(table, 2500, batch_size=1000))
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [r for b in batches for r in b] == a


def test_streaming_constant_memory() -> None:
    it = generate_rows("huji_renkou", 10**12)
    assert isinstance(it, types.GeneratorType)
    assert next(it)["id"] == 1  # a materialized list of 10**12 rows would never return
    assert len(next(generate_batches("huji_renkou", 10**12, batch_size=7))) == 7
    tracemalloc.start()
    try:
        for _ in generate_rows("tousu_gongdan", 20_000):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown demo table"):
        generate_rows("nope", 1)  # raised at the call, not at the first next()
    with pytest.raises(ValueError):
        generate_rows("huji_renkou", -1)
    with pytest.raises(ValueError):
        generate_rows("huji_renkou", 1, start_id=0)
    with pytest.raises(ValueError):
        generate_batches("huji_renkou", 1, batch_size=0)
    assert list(generate_rows("huji_renkou", 0)) == []
