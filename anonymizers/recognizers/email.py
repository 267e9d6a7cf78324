"""E-mail addresses, bounded by ASCII look-arounds (not ``\\b``) so labels stay outside."""

from __future__ import annotations

import regex
from presidio_analyzer import Pattern

from ._base import CnPatternRecognizer

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
_EMAIL = r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-])" + _LOCAL + "@" + _DOMAIN + r"(?![A-Za-z0-9\-])"


class EmailRecognizer(CnPatternRecognizer):
    """RFC 5322-ish addresses; no public-suffix lookup (that would need the network)."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = (Pattern("email", _EMAIL, 0.9),)
    CONTEXT = ("邮箱", "邮件", "电邮", "email", "e-mail", "mail")
    FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE

    def validate_result(self, pattern_text: str) -> bool | None:
        """The domain needs a dot and an alphabetic top-level label."""
        domain = pattern_text.rpartition("@")[2]
        return "." in domain and domain.rpartition(".")[2].isalpha()
