"""The pure scoring behind the anomaly flags (:mod:`gateway.auditlog.anomalies`): robust
baselines, denial bursts, address masking. No database, no clock: unit-testable alone."""

from __future__ import annotations

import bisect
import ipaddress
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

_MAD_SCALE = 1.4826  # MAD × this estimates σ for normal data

__all__ = ["Baseline", "find_bursts", "mask_address", "volume_baseline"]


@dataclass(frozen=True)
class Baseline:
    median: float
    mad: float
    threshold: float


def volume_baseline(history: Sequence[float], *, k: float, min_ratio: float,
                    min_excess: float) -> Baseline:
    """Median and MAD of a grant's daily history, and the value a day must exceed."""
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    threshold = max(median + k * _MAD_SCALE * mad, min_ratio * median, median + min_excess)
    return Baseline(median, mad, threshold)


def find_bursts(denials: Sequence[float], decisions: Sequence[float], *, span_s: float,
                min_denials: int, min_ratio: float) -> list[tuple[int, int]]:
    """Disjoint ``[i, j)`` runs of ``denials`` (sorted epoch seconds) with at least
    ``min_denials`` inside ``span_s`` from the first, making at least ``min_ratio`` of
    all ``decisions`` (sorted, denials included) in that span."""
    bursts: list[tuple[int, int]] = []
    i = 0
    while i < len(denials):
        end = denials[i] + span_s
        j = bisect.bisect_left(denials, end, lo=i)
        if j - i >= min_denials:
            total = bisect.bisect_left(decisions, end) - bisect.bisect_left(decisions,
                                                                            denials[i])
            if (j - i) / max(total, 1) >= min_ratio:
                bursts.append((i, j))
                i = j
                continue
        i += 1
    return bursts


def mask_address(address: str) -> str:
    """An IPv4 address to its /16 (``10.1.*.*``), IPv6 to its /32 (``2001:db8:*``)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "(not an IP address)"
    if isinstance(ip, ipaddress.IPv4Address):
        a, b, _, _ = str(ip).split(".")
        return f"{a}.{b}.*.*"
    return ":".join(ip.exploded.split(":")[:2]) + ":*"
