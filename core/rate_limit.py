"""Per-key request limits shared by every replica through Redis (fixed window, one Lua call).

When Redis is unreachable each process counts on its own (the limit then holds per replica)
and every decision says `degraded=True`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.redis_guard import RedisDown, RedisGuard

# KEYS[1] = counter; ARGV[1] = window in ms. Returns {count, ms until the window resets}.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    degraded: bool

    def headers(self) -> dict[str, str]:
        """RateLimit-* headers (IETF draft), plus Retry-After when refused."""
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_s)}
        return headers | ({} if self.allowed else {"Retry-After": str(self.reset_s)})


class RateLimiter:
    """`hit(subject, limit)` counts one request of `subject` in the current window."""

    def __init__(self, guard: RedisGuard, prefix: str = "dynaprice:ratelimit",
                 window_s: int = 3600, clock: Callable[[], float] = time.time) -> None:
        self.guard = guard
        self.prefix = prefix
        self.window_s = window_s
        self._clock = clock
        self._script = guard.client.register_script(_HIT) if guard.client is not None else None
        self._local: dict[str, tuple[float, int]] = {}

    def hit(self, subject: str, limit: int) -> RateDecision:
        try:
            count, reset_ms = self.guard.run(lambda _: self._script(
                keys=[f"{self.prefix}:{subject}"], args=[self.window_s * 1000]))
            reset_s, degraded = math.ceil(int(reset_ms) / 1000), False
        except RedisDown:
            count, reset_s = self._local_hit(subject)
            degraded = True
        count = int(count)
        return RateDecision(allowed=count <= limit, limit=limit,
                            remaining=max(0, limit - count), reset_s=max(1, reset_s),
                            degraded=degraded)

    def _local_hit(self, subject: str) -> tuple[int, int]:
        now = self._clock()
        started, count = self._local.get(subject, (now, 0))
        if now - started >= self.window_s:
            started, count = now, 0
        self._local[subject] = (started, count + 1)
        return count + 1, math.ceil(started + self.window_s - now)
