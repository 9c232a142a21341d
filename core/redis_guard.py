"""Run Redis calls so an unreachable Redis degrades a service instead of failing or stalling it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

T = TypeVar("T")


class RedisDown(Exception):
    """Redis is absent or did not answer; the caller takes its fallback path."""


class RedisGuard:
    """After a failure, skip Redis for `cooldown_s` (no per-request timeouts), then try again."""

    def __init__(self, client: Any | None, cooldown_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._down_until = 0.0 if client is not None else float("inf")

    @property
    def degraded(self) -> bool:
        return self._clock() < self._down_until

    def run(self, call: Callable[[Any], T]) -> T:
        """`call(client)`, or RedisDown when Redis is absent, cooling down, or failing now."""
        if self.degraded:
            raise RedisDown("redis unavailable")
        try:
            return call(self.client)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._down_until = self._clock() + self.cooldown_s
            raise RedisDown(str(exc)) from exc

    def ping(self) -> bool:
        """True when Redis answers now (probes even while cooling down)."""
        if self.client is None:
            return False
        self._down_until = 0.0
        try:
            return bool(self.run(lambda client: client.ping()))
        except RedisDown:
            return False
