"""Deterministic demo rows for five public-data tables, streamed in constant memory.

Rows are generated in blocks of :data:`BLOCK` ids, each block from its own
``random.Random`` seeded by ``(seed, table, block)``: the row with a given id is the same
whatever ``n`` or ``start_id`` was asked for, and generation never holds more than one row.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

from . import names as N
from .fake import Fake
from .freetext import ticket_description

Row = dict[str, Any]

TABLES: tuple[str, ...] = (
    "huji_renkou",
    "qiye_dengji",
    "tousu_gongdan",
    "cheliang_dengji",
    "shebao_jiaona",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "huji_renkou": (
        "id",
        "hh_no",
        "name",
        "gender",
        "ethnicity",
        "birth_date",
        "id_card",
        "phone",
        "address",
        "postal_code",
        "region_code",
        "reg_date",
        "relation",
    ),
    "qiye_dengji": (
        "id",
        "company",
        "uscc",
        "legal_rep",
        "phone",
        "address",
        "region_code",
        "reg_capital",
        "established",
        "industry",
        "status",
    ),
    "tousu_gongdan": (
        "id",
        "ticket_no",
        "accepted_at",
        "channel",
        "requester",
        "phone",
        "category",
        "description",
        "handler_unit",
        "status",
        "region_code",
    ),
    "cheliang_dengji": (
        "id",
        "plate",
        "owner",
        "id_card",
        "vehicle_type",
        "brand",
        "reg_date",
        "region_code",
    ),
    "shebao_jiaona": (
        "id",
        "name",
        "id_card",
        "bank_card",
        "employer",
        "employer_uscc",
        "base_salary",
        "month",
        "region_code",
    ),
}
BLOCK = 1000
EMPLOYERS = 500  # shebao_jiaona employers are qiye_dengji rows 1..EMPLOYERS

_TODAY = dt.date(2024, 12, 31)
_LATEST_BIRTH = dt.date(2024, 6, 30)
_CAPITALS = (10, 30, 50, 100, 100, 200, 300, 500, 500, 1000, 2000, 5000)
_GENDER = {True: "男", False: "女"}


def _days(f: Fake, lo_years: float, hi_years: float) -> int:
    return int((lo_years + f.r() * (hi_years - lo_years)) * 365.25)


def _plan_household(f: Fake, head_birth: dt.date) -> list[str]:
    """Relations of the members after the head, e.g. ['配偶', '子', '女']."""
    size = f.pick((1, 2, 2, 3, 3, 3, 4, 4, 5))
    plan: list[str] = []
    if size >= 2:
        plan.append("配偶")
    while len(plan) < size - 1:
        r = f.r()
        if r < 0.12 and head_birth.year > 1960:
            plan.append(f.pick(("父亲", "母亲")))
        elif r < 0.2 and head_birth.year < 1968:
            plan.append(f.pick(("孙子", "孙女")))
        else:
            plan.append(f.pick(("子", "女")))
    return plan


def _huji(f: Fake, ids: range, seed: int) -> Iterator[Row]:
    plan: list[str] = []
    county = N.COUNTIES[0]
    hh_no = address = surname = ethnicity = ""
    head_male, head_ord = True, 0
    for i in ids:
        if not plan:  # start a new household: shared number, address, surname, ethnicity
            county = f.county()
            hh_no = str(100_000_000 + (i * 7_919_113 + seed * 1_000_003 + 104_729) % 900_000_000)
            address = f.address(county)
            surname = f.surname()
            ethnicity = "汉族" if f.r() < 0.92 else f.pick(N.ETHNIC_MINORITIES)
            head_male = f.r() < 0.7
            head_birth = f.birth(1938, 1996)
            head_ord = head_birth.toordinal()
            plan = ["户主", *_plan_household(f, head_birth)]
        relation = plan.pop(0)
        if relation == "户主":
            male, offset = head_male, 0
        elif relation == "配偶":
            male, offset = not head_male, _days(f, -5, 5)
        elif relation in ("子", "女"):
            male, offset = relation == "子", _days(f, 21, 38)
        elif relation in ("孙子", "孙女"):
            male, offset = relation == "孙子", _days(f, 44, 60)
        else:
            male, offset = relation == "父亲", -_days(f, 20, 34)
        birth = min(dt.date.fromordinal(head_ord + offset), _LATEST_BIRTH)
        keeps_name = relation not in ("配偶", "母亲")  # spouse and mother: other surname
        ethnic = ethnicity if relation != "配偶" or f.r() < 0.9 else "汉族"
        yield {
            "id": i,
            "hh_no": hh_no,
            "name": f.name(male, surname if keeps_name else None),
            "gender": _GENDER[male],
            "ethnicity": ethnic,
            "birth_date": birth,
            "id_card": f.id_card(county.code, birth, male),
            "phone": f.phone(county),
            "address": address,
            "postal_code": county.postal,
            "region_code": county.code,
            "reg_date": f.date(max(birth, dt.date(1995, 1, 1)), _TODAY),
            "relation": relation,
        }


@functools.lru_cache(maxsize=2048)
def company_record(seed: int, k: int) -> Row:
    """Row ``k`` of ``qiye_dengji`` (independent of blocks, so other tables can cite it)."""
    f = Fake(random.Random(f"demo:{seed}:qiye_dengji:{k}"))
    county = f.county()
    industry, trade = N.INDUSTRIES[int(f.r() * len(N.INDUSTRIES))]
    capital = f.money(1, 20000, 0.5) if f.r() < 0.3 else Decimal(f"{f.pick(_CAPITALS)}.00")
    return {
        "id": k,
        "company": f.company(county, trade),
        "uscc": f.uscc(county.code, "91" if f.r() < 0.95 else "93"),
        "legal_rep": f.name(),
        "phone": f.phone(county, landline_share=0.3),
        "address": f.address(county, home=False),
        "region_code": county.code,
        "reg_capital": capital,
        "established": f.date(dt.date(1995, 1, 1), _TODAY),
        "industry": industry,
        "status": f.pick(N.COMPANY_STATUS),
    }


def _qiye(f: Fake, ids: range, seed: int) -> Iterator[Row]:
    for i in ids:
        yield dict(company_record(seed, i))


def _tousu(f: Fake, ids: range, seed: int) -> Iterator[Row]:
    for i in ids:
        county = f.county()
        at = f.datetime(dt.date(2019, 1, 1), _TODAY)
        requester = f.name()
        phone = f.phone(county, landline_share=0.05)
        category, dept = N.CATEGORIES[int(f.r() * len(N.CATEGORIES))]
        yield {
            "id": i,
            "ticket_no": f"{at.year}{at.month:02d}{at.day:02d}{i % 1_000_000:06d}",
            "accepted_at": at,
            "channel": f.pick(N.CHANNELS),
            "requester": requester,
            "phone": phone,
            "category": category,
            "description": ticket_description(f, county, category, requester, phone).text,
            "handler_unit": county.city + county.district + dept,
            "status": f.pick(N.TICKET_STATUS),
            "region_code": county.code,
        }


def _cheliang(f: Fake, ids: range, seed: int) -> Iterator[Row]:
    for i in ids:
        county = f.county()
        nev = f.r() < 0.25
        vtype = f.pick(N.VEHICLE_TYPES)
        male = f.r() < 0.62
        birth = f.birth(1950, 2004)
        home = county if f.r() < 0.85 else f.county()
        yield {
            "id": i,
            "plate": f.plate(county, nev, large=not vtype.startswith("小型")),
            "owner": f.name(male),
            "id_card": f.id_card(home.code, birth, male),
            "vehicle_type": vtype,
            "brand": f.pick(N.NEV_BRANDS if nev else N.BRANDS),
            "reg_date": f.date(max(dt.date(2010, 1, 1), birth + dt.timedelta(days=6600)), _TODAY),
            "region_code": county.code,
        }


def _shebao(f: Fake, ids: range, seed: int) -> Iterator[Row]:
    for i in ids:
        employer = company_record(seed, f.num(1, EMPLOYERS))
        region = employer["region_code"]
        home = region if f.r() < 0.8 else f.county().code
        male = f.r() < 0.52
        yield {
            "id": i,
            "name": f.name(male),
            "id_card": f.id_card(home, f.birth(1960, 2004), male),
            "bank_card": f.bank_card(),
            "employer": employer["company"],
            "employer_uscc": employer["uscc"],
            "base_salary": f.money(2500, 36000, 1),
            "month": f"{f.num(2020, 2024)}-{f.num(1, 12):02d}",
            "region_code": region,
        }


_GENERATORS: dict[str, Callable[[Fake, range, int], Iterator[Row]]] = {
    "huji_renkou": _huji,
    "qiye_dengji": _qiye,
    "tousu_gongdan": _tousu,
    "cheliang_dengji": _cheliang,
    "shebao_jiaona": _shebao,
}


def generate_rows(table: str, n: int, *, seed: int = 7, start_id: int = 1) -> Iterator[Row]:
    """Yield ``n`` rows of ``table`` with ids ``start_id .. start_id + n - 1`` (streaming)."""
    if table not in _GENERATORS:
        raise ValueError(f"unknown demo table {table!r}; expected one of {', '.join(TABLES)}")
    if n < 0 or start_id < 1:
        raise ValueError("n must be >= 0 and start_id >= 1")
    return _stream(_GENERATORS[table], table, n, seed, start_id)


def _stream(
    gen: Callable[[Fake, range, int], Iterator[Row]], table: str, n: int, seed: int, start_id: int
) -> Iterator[Row]:
    stop = start_id + n
    block = (start_id - 1) // BLOCK
    while block * BLOCK + 1 < stop:
        first = block * BLOCK + 1
        f = Fake(random.Random(f"demo:{seed}:{table}:{block}"))
        for row in gen(f, range(first, min(first + BLOCK, stop)), seed):
            if row["id"] >= start_id:
                yield row
        block += 1


def generate_batches(
    table: str, n: int, *, seed: int = 7, batch_size: int = 10_000, start_id: int = 1
) -> Iterator[list[Row]]:
    """Rows of :func:`generate_rows` grouped in lists of at most ``batch_size``."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    return _chunks(generate_rows(table, n, seed=seed, start_id=start_id), batch_size)


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while batch := list(islice(rows, size)):
        yield batch
