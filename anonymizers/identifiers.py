"""Check-digit algorithms for Chinese identifiers (GB 11643, GB 32100, GB 11714, Luhn).

Pure functions on ``str``; used by the recognizers, the maskers (malformed values are
masked entirely) and the demo-data generator (which must emit checksum-valid values).
"""

from __future__ import annotations

import datetime as _dt
import re

# --- resident ID card, GB 11643-1999 -------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits: province-level codes (GB/T 2260) plus 81/82/83 (HK/Macao/Taiwan
# residence permits) and 9x (2023 foreigner permanent-residence card).
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83 91 92 93 94 95 96 97 98 99".split()
)
_ID18 = re.compile(r"\d{17}[\dXx]")
_ID15 = re.compile(r"\d{15}")


def id_card_check_char(first17: str) -> str:
    """Return the GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def _valid_date(yyyymmdd: str) -> bool:
    try:
        d = _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return _dt.date(1880, 1, 1) <= d <= _dt.date.today()


def id_card_valid(value: str) -> bool:
    """18-digit ID: province code, birth date and check character (``x`` accepted).

    15-digit legacy IDs (no check digit) are accepted when province and the
    ``YYMMDD`` date (19YY) are valid.
    """
    if _ID18.fullmatch(value):
        return (
            value[:2] in _PROVINCES
            and _valid_date(value[6:14])
            and id_card_check_char(value[:17]) == value[17].upper()
        )
    if _ID15.fullmatch(value):
        return value[:2] in _PROVINCES and _valid_date("19" + value[6:12])
    return False


# --- unified social credit code, GB 32100-2015 -----------------------------------------

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters."""
    if len(first17) != 17 or any(c not in _USCC_VALUE for c in first17):
        raise ValueError("need 17 characters of the USCC charset")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """Return the GB 11714 organisation-code check character (positions 9-17 of a USCC)."""
    total = 0
    for c, w in zip(first8, _ORG_WEIGHTS):
        v = int(c) if c.isdigit() else ord(c) - ord("A") + 10
        total += v * w
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_valid(value: str) -> bool:
    """18 characters of the GB 32100 charset with a correct check character."""
    if len(value) != 18 or any(c not in _USCC_VALUE for c in value):
        return False
    return uscc_check_char(value[:17]) == value[17]


# --- bank cards: Luhn -----------------------------------------------------------------


def luhn_check_digit(partial: str) -> str:
    """Return the digit that makes ``partial + digit`` pass Luhn."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(value: str) -> bool:
    """Luhn check over an all-digit string of 12-19 digits."""
    if not (12 <= len(value) <= 19) or not value.isascii() or not value.isdigit():
        return False
    return luhn_check_digit(value[:-1]) == value[-1]


# --- phones and plates -----------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    "[" + PLATE_PROVINCES + "][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{5}|[A-HJ-NP-Z0-9]{6})"
)


def mobile_valid(value: str) -> bool:
    """Mainland mobile number, 11 digits, optional +86/0086 prefix already stripped."""
    return _MOBILE.fullmatch(value) is not None


def landline_valid(value: str) -> bool:
    return _LANDLINE.fullmatch(value) is not None


def plate_valid(value: str) -> bool:
    """GA 36 plate: province character, authority letter (no I/O), 5 or 6 characters."""
    return _PLATE.fullmatch(value) is not None
