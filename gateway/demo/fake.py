"""Checksum-valid fake identifiers, names, addresses and dates bound to one ``random.Random``.

Everything is built from ``rng.random()`` and small lookup tables, so a million rows
take seconds; every identifier passes the checkers in :mod:`anonymizers.identifiers`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

from anonymizers.identifiers import (
    USCC_CHARSET,
    id_card_check_char,
    luhn_check_digit,
    org_code_check_char,
    uscc_check_char,
)

from . import names as N

T = TypeVar("T")
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_COUNTY_POOL = tuple(c for c in N.COUNTIES for _ in range(c.weight))


def ymd(d: dt.date) -> str:
    """``YYYYMMDD`` without strftime (faster)."""
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


class Fake:
    """Generator of realistic values; all randomness comes from the given ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.r = rng.random

    # --- primitives ---------------------------------------------------------------

    def pick(self, seq: Sequence[T]) -> T:
        """Uniform choice from a non-empty sequence."""
        return seq[int(self.r() * len(seq))]

    def num(self, lo: int, hi: int) -> int:
        """Uniform integer in ``[lo, hi]``."""
        return lo + int(self.r() * (hi - lo + 1))

    def digits(self, k: int) -> str:
        """``k`` random decimal digits (leading zeros allowed)."""
        out = ""
        while k > 0:
            step = min(k, 15)
            out += f"{int(self.r() * 10**step):0{step}d}"
            k -= step
        return out

    def date(self, start: dt.date, end: dt.date) -> dt.date:
        """Uniform date in ``[start, end]``."""
        a = start.toordinal()
        return dt.date.fromordinal(a + int(self.r() * (end.toordinal() - a + 1)))

    def datetime(self, start: dt.date, end: dt.date) -> dt.datetime:
        """Date in range with an office-hours-biased time of day (seconds resolution)."""
        d = self.date(start, end)
        hour = self.num(8, 17) if self.r() < 0.85 else self.num(0, 23)
        return dt.datetime(d.year, d.month, d.day, hour, self.num(0, 59), self.num(0, 59))

    # --- people -------------------------------------------------------------------

    def county(self) -> N.County:
        """A county drawn by the configured weights."""
        return _COUNTY_POOL[int(self.r() * len(_COUNTY_POOL))]

    def surname(self) -> str:
        return N.SURNAMES[int(self.r() * len(N.SURNAMES))]

    def given(self, male: bool) -> str:
        pool = N.GIVEN_MALE if male else N.GIVEN_FEMALE
        first = self.pick(N.GIVEN_ANY) if self.r() < 0.25 else self.pick(pool)
        return first + self.pick(pool) if self.r() < 0.7 else self.pick(pool)

    def name(self, male: bool | None = None, surname: str | None = None) -> str:
        """Full name; gender and surname optional."""
        if male is None:
            male = self.r() < 0.5
        return (surname or self.surname()) + self.given(male)

    def id_card(self, county: str, birth: dt.date, male: bool) -> str:
        """GB 11643 ID: county code + birth date + sequence (odd = male) + check char."""
        seq = 2 * self.num(0, 498) + (1 if male else 2)
        first17 = f"{county}{ymd(birth)}{seq:03d}"
        return first17 + id_card_check_char(first17)

    def birth(self, lo_year: int = 1940, hi_year: int = 2006) -> dt.date:
        return self.date(dt.date(lo_year, 1, 1), dt.date(hi_year, 12, 31))

    def mobile(self) -> str:
        """Mainland mobile number with a real network prefix."""
        return self.pick(N.MOBILE_PREFIXES) + f"{int(self.r() * 1e8):08d}"

    def landline(self, county: N.County) -> str:
        """Landline with the county's trunk code, e.g. ``0791-86123456``."""
        return f"{county.area_code}-{self.num(2, 8)}{self.digits(7)}"

    def phone(self, county: N.County, landline_share: float = 0.08) -> str:
        """Mostly mobile, sometimes a landline."""
        return self.landline(county) if self.r() < landline_share else self.mobile()

    # --- places -------------------------------------------------------------------

    def address(self, county: N.County, *, home: bool = True) -> str:
        """Address in the county, e.g. 江西省南昌市东湖区八一大道123号阳光小区5栋2单元301室."""
        r = self.r()
        if county.province == county.city:
            head = county.city + county.district
        elif r < 0.55:
            head = county.province + county.city + county.district
        elif r < 0.9:
            head = county.city + county.district
        else:
            head = county.district
        if self.r() < 0.2:
            head += self.pick(N.SUBDISTRICTS) + "街道"
        road = f"{self.pick(N.STREETS)}{self.num(1, 1999)}号"
        if not home:
            if self.r() < 0.5:
                return (
                    f"{head}{road}{self.pick(N.BUILDINGS)}{self.num(2, 28)}{self.num(1, 20):02d}室"
                )
            return head + road
        r = self.r()
        room = f"{self.num(1, 33)}{self.num(1, 4):02d}室"
        if r < 0.6:
            unit = f"{self.num(1, 6)}单元" if self.r() < 0.6 else ""
            return f"{head}{road}{self.pick(N.COMMUNITIES)}{self.num(1, 40)}栋{unit}{room}"
        if r < 0.85:
            return f"{head}{self.pick(N.COMMUNITIES)}{self.num(1, 40)}栋{room}"
        return head + road

    # --- organisations --------------------------------------------------------------

    def uscc(self, county: str, kind: str = "91") -> str:
        """GB 32100 code: kind + county + GB 11714 organisation code (with check) + check."""
        if self.r() < 0.7:
            body = "MA" + "".join(self.pick(USCC_CHARSET) for _ in range(6))
        else:
            body = self.digits(8)
        first17 = kind + county + body + org_code_check_char(body)
        return first17 + uscc_check_char(first17)

    def company(self, county: N.County, trade: str | None = None) -> str:
        """Company name such as 南昌鸿运科技有限公司."""
        trade = trade or self.pick(tuple(t for _, t in N.INDUSTRIES))
        place = county.city.removesuffix("市") if self.r() < 0.7 else county.city
        return f"{place}{self.pick(N.COMPANY_WORDS)}{trade}{self.pick(N.COMPANY_FORMS)}"

    # --- cards, plates, money ---------------------------------------------------------

    def bank_card(self) -> str:
        """Luhn-valid debit card number with a real issuer prefix."""
        bin_, length, _ = N.BANK_BINS[int(self.r() * len(N.BANK_BINS))]
        partial = bin_ + self.digits(length - len(bin_) - 1)
        return partial + luhn_check_digit(partial)

    def plate(self, county: N.County, new_energy: bool = False, large: bool = False) -> str:
        """GA 36 plate; new-energy plates have six characters after the prefix."""
        if new_energy:
            if not large:  # small car: D/F + letter-or-digit + 4 digits
                second = self.pick(_PLATE_LETTERS) if self.r() < 0.5 else self.digits(1)
                return county.plate + self.pick("DF") + second + self.digits(4)
            return county.plate + self.digits(5) + self.pick("DF")
        chars = list(self.digits(5))
        for _ in range(self.num(0, 2)):
            chars[self.num(0, 4)] = self.pick(_PLATE_LETTERS)
        return county.plate + "".join(chars)

    def money(self, lo: float, hi: float, step: float = 0.01) -> Decimal:
        """Amount in ``[lo, hi]`` rounded to ``step`` (as Decimal with two places)."""
        units = int((lo + self.r() * (hi - lo)) / step)
        return Decimal(f"{units * step:.2f}")
