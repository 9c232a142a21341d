"""Rate limits: shared through Redis across limiters, reset with the window, local when down."""

import time

import redis

from core.rate_limit import RateLimiter
from core.redis_guard import RedisGuard

DEAD_REDIS = "redis://127.0.0.1:1/0"


def _dead_guard() -> RedisGuard:
    return RedisGuard(redis.Redis.from_url(DEAD_REDIS, socket_connect_timeout=0.2))


def test_limit_is_shared_between_replicas(redis_client, key_prefix):
    replicas = [RateLimiter(RedisGuard(redis_client), prefix=f"{key_prefix}rl") for _ in range(2)]
    decisions = [replicas[i % 2].hit("key-a", 3) for i in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert not any(d.degraded for d in decisions)
    assert 3590 <= decisions[-1].reset_s <= 3600
    assert replicas[0].hit("key-b", 3).allowed  # another key has its own budget


def test_refusal_headers(redis_client, key_prefix):
    limiter = RateLimiter(RedisGuard(redis_client), prefix=f"{key_prefix}rl", window_s=60)
    limiter.hit("k", 1)
    refused = limiter.hit("k", 1).headers()
    assert refused["RateLimit-Limit"] == "1" and refused["RateLimit-Remaining"] == "0"
    assert refused["Retry-After"] == refused["RateLimit-Reset"]
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_window_expiry_restores_budget(redis_client, key_prefix):
    limiter = RateLimiter(RedisGuard(redis_client), prefix=f"{key_prefix}rl", window_s=3600)
    limiter.hit("k", 1)
    assert not limiter.hit("k", 1).allowed
    redis_client.pexpire(f"{key_prefix}rl:k", 1)  # the window ends now
    time.sleep(0.01)
    assert limiter.hit("k", 1).allowed


def test_falls_back_to_local_counting_when_redis_is_down():
    now = [1000.0]
    limiter = RateLimiter(_dead_guard(), window_s=60, clock=lambda: now[0])
    decisions = [limiter.hit("k", 2) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert all(d.degraded for d in decisions)
    assert decisions[-1].reset_s == 60
    now[0] += 61
    assert limiter.hit("k", 2).allowed


def test_no_redis_at_all_is_degraded():
    decision = RateLimiter(RedisGuard(None)).hit("k", 5)
    assert decision.allowed and decision.degraded and decision.remaining == 4
