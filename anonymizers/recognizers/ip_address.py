"""IPv4 and IPv6 addresses, with ASCII look-arounds so ``IP地址192.168.1.20登录`` is found."""

from __future__ import annotations

import ipaddress

from presidio_analyzer import Pattern

from ._base import CnPatternRecognizer

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = r"(?<![0-9A-Za-z.])" + rf"{_OCTET}(?:\.{_OCTET}){{3}}" + r"(?![0-9A-Za-z]|\.\d)"
_IPV6 = r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:])"


class IpAddressRecognizer(CnPatternRecognizer):
    """IPv4 dotted quads and IPv6 addresses (validated by :mod:`ipaddress`)."""

    ENTITY = "IP_ADDRESS"
    PATTERNS = (Pattern("ipv4", _IPV4, 0.6), Pattern("ipv6", _IPV6, 0.6))
    CONTEXT = ("ip", "地址", "登录", "登陆", "访问", "来源", "服务器", "主机", "网关")
    NEGATIVE_CONTEXT = ("版本", "version")

    def validate_result(self, pattern_text: str) -> bool | None:
        """A parseable address; IPv6 needs ``::`` or all eight groups (not a clock time)."""
        try:
            ipaddress.ip_address(pattern_text)
        except ValueError:
            return False
        if ":" in pattern_text:
            return "::" in pattern_text or pattern_text.count(":") == 7
        return None
