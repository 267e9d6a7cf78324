"""Format-preserving surrogates with FF1 (NIST SP 800-38G, ``libffx``), checksum-valid.

A surrogate has the shape of the value it replaces and passes the same checks, so
downstream systems that validate identifiers keep working, while the value itself is
encrypted under the grant's key (deterministic: one value, one surrogate per grant).

==============  ==============================================================  ========
entity          kept / encrypted (tweak: entity type + the kept part)          recomputed
==============  ==============================================================  ========
ID_CARD (18)    area code kept; birth date (within its decade window) + sequence  check char
                encrypted together; sequence parity (sex) kept
ID_CARD (15)    legacy: the same, 19YY dates                                    none
USCC            dept + type + region (8) kept; org-code body (8) over the 31     org check,
                characters of GB 32100                                          USCC check
PHONE_NUMBER    mobile: first 3 kept, 8 encrypted; landline: area code + first  none
                local digit kept; separators and +86/0086 in place
BANK_CARD       BIN (6) kept, middle encrypted                                  Luhn digit
PASSPORT        letters kept, digits encrypted                                  none
LICENSE_PLATE   province + authority letter kept, serial encrypted (the D/F     none
                marker of 6-character new-energy serials kept)
IP_ADDRESS      IPv4 first octet kept, last 24 bits encrypted                   none
==============  ==============================================================  ========

Every encrypted domain has at least 10**6 points (SP 800-38G Rev. 1 draft floor), which is
why a birth date is never encrypted alone (ID dates move inside decade windows together
with the sequence: >= 1.8M points per window; 2010-2024 is one window). Full-width
characters stay full-width. A value that does not validate as its type (wrong check char,
birth after :data:`LAST_BIRTH_DATE`, IPv6, ...) is masked entirely: never returned as is.

The FF1 key is HKDF-SHA256 of the grant's pseudonym key with a distinct ``info`` label
(:func:`fpe_key`); the pseudonym key itself comes from ``keys`` (``pseudonym_key(grant)``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from ffx import FF1

from anonymizers.errors import BadOperatorParams
from anonymizers.identifiers import (
    PLATE_PROVINCES,
    USCC_CHARSET,
    id_card_check_char,
    id_card_valid,
    luhn_check_digit,
    org_code_check_char,
    uscc_check_char,
    uscc_valid,
)

FPE_INFO = b"anonymizers/fpe/ff1/v1"
FPE_ENTITIES = frozenset(
    {"ID_CARD", "USCC", "PHONE_NUMBER", "BANK_CARD", "PASSPORT", "LICENSE_PLATE", "IP_ADDRESS"}
)
FIRST_BIRTH_DATE = dt.date(1880, 1, 1)  # identifiers.id_card_valid's floor
LAST_BIRTH_DATE = dt.date(2024, 12, 31)  # fixed: moving it changes 2010+ surrogates
_PLATE_SERIAL = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # GA 36: no I, no O
_SEQ_HALVES = 500  # 3-digit sequence = 500 values x parity


def fpe_key(pseudonym_key: bytes) -> bytes:
    """The grant's AES-256 FF1 key, derived from its pseudonym key (distinct HKDF label)."""
    if len(pseudonym_key) < 16:
        raise BadOperatorParams("fpe needs a pseudonym key of at least 16 bytes")
    return HKDF(hashes.SHA256(), 32, salt=None, info=FPE_INFO).derive(pseudonym_key)


def _windows() -> list[tuple[dt.date, dt.date]]:
    starts = [dt.date(y, 1, 1) for y in range(1880, 2011, 10)]
    ends = [dt.date(y, 12, 31) for y in range(1889, 2010, 10)] + [LAST_BIRTH_DATE]
    return list(zip(starts, ends))


_WINDOWS = _windows()


def _fold(value: str) -> tuple[str, list[bool]]:
    """NFKC-fold full-width forms one character at a time (lengths stay aligned)."""
    out, wide = [], []
    for ch in value:
        folded = unicodedata.normalize("NFKC", ch) if ord(ch) >= 0xFF01 else ch
        ok = len(folded) == 1 and folded.isascii() and folded != ch
        out.append(folded if ok else ch)
        wide.append(ok)
    return "".join(out), wide


def _unfold(value: str, wide: list[bool]) -> str:
    if len(value) != len(wide) or not any(wide):
        return value
    return "".join(
        chr(ord(c) + 0xFEE0) if w and "!" <= c <= "~" else c for c, w in zip(value, wide)
    )


def _masked(value: str) -> str:
    return "*" * len(value)


_SPACED = frozenset({"ID_CARD", "USCC"})
_MOBILE = re.compile(r"(?:(?:\+86|0086|86)[\s\-]*)?1[\s\-]*[3-9](?:[\s\-]*\d){9}")
_LANDLINE = re.compile(r"\(?0(?:10|2\d|[3-9]\d{2})\)?[\s\-]*\d(?:[\s\-]*\d){6,7}")
_AREA3 = re.compile(r"\(?0(?:10|2)")
_BANK = re.compile(r"\d(?:[\s\-]*\d){11,18}")
_PASSPORT = re.compile(r"([A-Z]{1,2})(\d{6,10})")
_PLATE = re.compile(
    "(["
    + PLATE_PROVINCES
    + r"][A-HJ-NP-Z][·•\s\-]?)([A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警港澳领])"
)
_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


class Surrogates:
    """FF1 surrogates under one grant key. Build once per grant; safe to share."""

    __slots__ = ("_by_entity", "_dec", "_plate", "_uscc")

    def __init__(self, key: bytes) -> None:
        """``key``: 32 bytes from :func:`fpe_key`."""
        self._dec = FF1(key, radix=10)
        self._uscc = FF1(key, alphabet=USCC_CHARSET)
        self._plate = FF1(key, alphabet=_PLATE_SERIAL)
        self._by_entity: dict[str, Callable[[str], str | None]] = {
            "ID_CARD": self.id_card,
            "USCC": self.uscc,
            "PHONE_NUMBER": self.phone,
            "BANK_CARD": self.bank_card,
            "PASSPORT": self.passport,
            "LICENSE_PLATE": self.plate,
            "IP_ADDRESS": self.ip,
        }

    def __repr__(self) -> str:
        return "Surrogates(<redacted>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("Surrogates holds key material and is not picklable")

    def surrogate(self, value: str, entity: str) -> str:
        """The surrogate of ``value`` of type ``entity``; a fully masked value when it
        does not validate. :class:`BadOperatorParams` for a type without FPE."""
        method = self._by_entity.get(entity)
        if method is None:
            raise BadOperatorParams(f"fpe does not support {entity[:40]}")
        folded, wide = _fold(value)
        if entity in _SPACED:  # IDs written in groups: encrypt the compact form
            gaps = [(i, c) for i, c in enumerate(folded) if c in " -"]
            out = method(folded.replace(" ", "").replace("-", ""))
            for i, c in gaps:
                out = None if out is None else out[:i] + c + out[i:]
        else:
            out = method(folded)
        return _masked(value) if out is None else _unfold(out, wide)

    # -- per entity (ASCII-folded input; None = does not validate) ------------

    def id_card(self, v: str) -> str | None:
        """GB 11643 ID: same area code, a valid date in the same decade window, the same
        sequence parity, a correct check character (15-digit legacy: no check)."""
        if not id_card_valid(v):
            return None
        legacy = len(v) == 15
        ymd = ("19" + v[6:12]) if legacy else v[6:14]
        birth = dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8]))
        seq = int(v[12:15] if legacy else v[14:17])
        window = next(((a, b) for a, b in _WINDOWS if a <= birth <= b), None)
        if window is None:
            return None
        start, end = window
        domain = ((end - start).days + 1) * _SEQ_HALVES
        x = (birth - start).days * _SEQ_HALVES + seq // 2
        tweak = f"ID_CARD/{len(v)}/{v[:6]}".encode()
        y = self._dec.encrypt_int(x, domain=domain, tweak=tweak)
        day, half = divmod(y, _SEQ_HALVES)
        new_birth = start + dt.timedelta(days=day)
        new_seq = f"{half * 2 + seq % 2:03d}"
        if legacy:  # 19YY births stay in 19YY decade windows
            return v[:6] + new_birth.strftime("%y%m%d") + new_seq
        first17 = v[:6] + new_birth.strftime("%Y%m%d") + new_seq
        check = id_card_check_char(first17)
        return first17 + (check.lower() if v[17] == "x" else check)

    def uscc(self, v: str) -> str | None:
        """GB 32100 code: first 8 kept, org-code body encrypted, both checks recomputed."""
        if not uscc_valid(v):
            return None
        body: str = self._uscc.encrypt(v[8:16], tweak=b"USCC/" + v[:8].encode())
        first17 = v[:8] + body + org_code_check_char(body)
        return first17 + uscc_check_char(first17)

    def phone(self, v: str) -> str | None:
        """Mobile (prefix kept, 8 digits encrypted) or landline (area + 1 kept)."""
        if _MOBILE.fullmatch(v):
            skip = 4 if v.startswith("0086") else 2 if v.lstrip("+").startswith("86") else 0
            return self._digits(v, skip + 3, 0, b"PHONE_NUMBER/mobile", skip=skip)
        if _LANDLINE.fullmatch(v):
            area = 3 if _AREA3.match(v) else 4
            return self._digits(v, area + 1, 0, b"PHONE_NUMBER/landline")
        return None

    def bank_card(self, v: str) -> str | None:
        """BIN kept, middle encrypted, Luhn check digit recomputed (always Luhn-valid)."""
        if not _BANK.fullmatch(v):
            return None
        n = sum(c.isdigit() for c in v)
        keep = min(6, n - 1 - 6)  # at least 6 encrypted digits (domain >= 10**6)
        out = self._digits(v, keep, 1, b"BANK_CARD")
        digits = [c for c in out if c.isdigit()]
        check = luhn_check_digit("".join(digits[:-1]))
        last = max(i for i, c in enumerate(out) if c.isdigit())
        return out[:last] + check + out[last + 1 :]

    def passport(self, v: str) -> str | None:
        """Letters kept, the 6-10 digits encrypted."""
        m = _PASSPORT.fullmatch(v.upper())
        if m is None:
            return None
        tweak = b"PASSPORT/" + m[1].encode()
        digits: str = self._dec.encrypt(m[2], tweak=tweak)
        return v[: len(m[1])] + digits

    def plate(self, v: str) -> str | None:
        """GA 36 plate: province + authority kept, serial encrypted over 34 characters."""
        m = _PLATE.fullmatch(v)
        if m is None:
            return None
        head, serial = m[1], m[2]
        if len(serial) == 6 and serial[0] in "DF":  # new-energy marker
            head, serial = head + serial[0], serial[1:]
        tail = "" if serial[-1] in _PLATE_SERIAL else serial[-1]
        core = serial[: len(serial) - len(tail)]
        tweak = f"LICENSE_PLATE/{head}/{tail}".encode()
        encrypted: str = self._plate.encrypt(core, tweak=tweak)
        return head + encrypted + tail

    def ip(self, v: str) -> str | None:
        """IPv4: first octet kept, the other 24 bits encrypted."""
        if not _IPV4.fullmatch(v):
            return None
        octets = [int(o) for o in v.split(".")]
        low = (octets[1] << 16) | (octets[2] << 8) | octets[3]
        y = self._dec.encrypt_int(low, domain=1 << 24, tweak=f"IP_ADDRESS/{octets[0]}".encode())
        return f"{octets[0]}.{y >> 16}.{(y >> 8) & 255}.{y & 255}"

    def _digits(
        self, v: str, keep_first: int, keep_last: int, tweak: bytes, *, skip: int = 0
    ) -> str:
        """Encrypt the ASCII digits of ``v`` between the kept ones, separators in place;
        the kept leading digits after ``skip`` (a +86 prefix) join the tweak, so 138…
        and 139… numbers stay unrelated and +86 138… is 138…."""
        where = [i for i, c in enumerate(v) if "0" <= c <= "9"]
        inner = where[keep_first : len(where) - keep_last]
        kept = "".join(v[i] for i in where[skip:keep_first]).encode()
        enc = self._dec.encrypt("".join(v[i] for i in inner), tweak=tweak + b"/" + kept)
        chars = list(v)
        for i, c in zip(inner, enc):
            chars[i] = c
        return "".join(chars)
