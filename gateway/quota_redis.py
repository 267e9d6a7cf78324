"""Quota counters in Redis: one Lua script per verb, so each admit is atomic on the server.

Same semantics as :class:`gateway.quotas.DbQuotas` (see :mod:`gateway.quotas`). Keys carry
the grant id as a hash tag, ``<prefix>:{<grant>}:m:<minute>`` / ``:d:<day>`` / ``:t``, so a
grant's three counters live on one Redis Cluster slot. Minute keys expire after two minutes,
day keys a day after their day ends; the total key never expires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import redis

from gateway.errors import Unavailable
from gateway.quotas import Admission, Windows, parse_for_admit, refuse

# evaluate() from gateway.quotas, in Lua; -1 stands for "unlimited" / "no cap".
_ADMIT = """
local rpm, dl, tl, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
                          tonumber(ARGV[4])
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
local t = tonumber(redis.call('GET', KEYS[3]) or '0')
local blocked = 0
if rpm >= 0 and m + 1 > rpm then blocked = blocked + 1 end
local allowed = want
if want ~= 0 then
  if dl >= 0 then
    local left = dl - d
    if left <= 0 then blocked = blocked + 2
    elseif allowed < 0 or left < allowed then allowed = left end
  end
  if tl >= 0 then
    local left = tl - t
    if left <= 0 then blocked = blocked + 4
    elseif allowed < 0 or left < allowed then allowed = left end
  end
end
if blocked ~= 0 then return {blocked, -1, m, d, t} end
local reserve = allowed
if reserve < 0 then reserve = 0 end
m = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
d = redis.call('INCRBY', KEYS[2], reserve)
redis.call('EXPIRE', KEYS[2], ARGV[6])
t = redis.call('INCRBY', KEYS[3], reserve)
return {0, allowed, m, d, t}
"""

# Give back ``delta`` reserved rows; a day key that already expired stays gone.
_RELEASE = """
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[1]) end
end
return 0
"""


def _arg(v: int | None) -> int:
    return -1 if v is None else v


class RedisQuotas:
    """Counters shared by every worker through one Redis. Fails closed on any Redis error."""

    def __init__(self, url: str, *, prefix: str = "pgw:quota", timeout_s: float = 2.0) -> None:
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                           socket_connect_timeout=timeout_s)
        self._admit = self._redis.register_script(_ADMIT)
        self._release = self._redis.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisQuotas(prefix={self.prefix!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()

    def _keys(self, grant_id: str, w: Windows) -> list[str]:
        base = f"{self.prefix}:{{{grant_id}}}"
        return [f"{base}:m:{w.minute}", f"{base}:d:{w.day}", f"{base}:t"]

    def admit(self, grant_id: str, quota: Mapping[str, Any], *, now: dt.datetime,
              requested_rows: int | None = None) -> Admission:
        """See :class:`gateway.quotas.QuotaCounter`."""
        limits = parse_for_admit(quota)
        w = Windows.at(now)
        keys = self._keys(grant_id, w)
        day_ttl = max(60, int(w.day + 2 * 86_400 - w.now))
        args = [_arg(limits.requests_per_minute), _arg(limits.rows_per_day),
                _arg(limits.rows_total), _arg(limits.want(requested_rows)), 120, day_ttl]
        try:
            blocked, allowed, m, d, t = (int(x) for x in self._admit(keys=keys, args=args))
        except redis.RedisError as exc:
            raise Unavailable("quota counters unavailable; request refused",
                              code="quota_unavailable") from exc
        if blocked:
            raise refuse(blocked, w)
        rows_allowed = None if allowed < 0 else allowed
        return Admission(grant_id, rows_allowed, max(0, allowed),
                         {"rows_today": d, "requests_this_minute": m, "rows_total": t},
                         lambda delta: self._give_back(keys[1:], delta))

    def _give_back(self, keys: list[str], delta: int) -> None:
        self._release(keys=keys, args=[delta])

    def usage(self, grant_id: str, now: dt.datetime) -> dict[str, int]:
        """See :class:`gateway.quotas.QuotaCounter`."""
        try:
            m, d, t = self._redis.mget(self._keys(grant_id, Windows.at(now)))
        except redis.RedisError as exc:
            raise Unavailable("quota counters unavailable", code="quota_unavailable") from exc
        return {"rows_today": int(d or 0), "requests_this_minute": int(m or 0),
                "rows_total": int(t or 0)}
