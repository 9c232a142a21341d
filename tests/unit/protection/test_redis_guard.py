"""The guard skips a dead Redis for its cooldown, then tries again."""

import pytest
import redis

from core.redis_guard import RedisDown, RedisGuard


def test_cooldown_after_failure_then_retry():
    now = [0.0]
    calls = []
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    guard = RedisGuard(dead, cooldown_s=5, clock=lambda: now[0])

    def call(client):
        calls.append(now[0])
        return client.get("x")

    with pytest.raises(RedisDown):
        guard.run(call)
    assert guard.degraded
    with pytest.raises(RedisDown):
        guard.run(call)
    assert calls == [0.0]  # skipped while cooling down
    now[0] = 6.0
    with pytest.raises(RedisDown):
        guard.run(call)
    assert calls == [0.0, 6.0]


def test_healthy_redis(redis_client):
    guard = RedisGuard(redis_client)
    assert guard.ping() and not guard.degraded


def test_absent_redis_is_always_degraded():
    guard = RedisGuard(None)
    assert guard.degraded and not guard.ping()
