"""Cache-aside: hits after a store, keys differ by params and model, tags invalidate, no Redis."""

import time

import redis

from core.cache import MISS, Cache, product_location_tag
from core.redis_guard import RedisGuard


def _cache(redis_client, key_prefix, ttl_s=300) -> Cache:
    return Cache(RedisGuard(redis_client), "retail", ttl_s, prefix=f"{key_prefix}cache")


def test_miss_then_hit(redis_client, key_prefix):
    cache = _cache(redis_client, key_prefix)
    key = cache.key("P1:S1", {"horizon": 7}, "v3")
    assert cache.lookup(key) is MISS
    cache.store(key, {"price": 9.99})
    assert cache.lookup(key) == {"price": 9.99}
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stores) == (1, 1, 1)
    assert 0 < redis_client.ttl(key) <= 300


def test_key_depends_on_params_and_model_version(redis_client, key_prefix):
    cache = _cache(redis_client, key_prefix)
    base = cache.key("P1:S1", {"a": 1, "b": 2}, "v1")
    assert base == cache.key("P1:S1", {"b": 2, "a": 1}, "v1")
    assert base != cache.key("P1:S1", {"a": 1, "b": 3}, "v1")
    assert base != cache.key("P1:S1", {"a": 1, "b": 2}, "v2")
    assert base != cache.key("P1:S2", {"a": 1, "b": 2}, "v1")


def test_tag_invalidation_drops_only_tagged_entries(redis_client, key_prefix):
    cache = _cache(redis_client, key_prefix)
    tag = product_location_tag("P1", "S1")
    first, second = cache.key("P1:S1", {"h": 1}), cache.key("P1:S1", {"h": 2})
    other = cache.key("P2:S1")
    cache.store(first, 1, tags=[tag])
    cache.store(second, 2, tags=[tag])
    cache.store(other, 3, tags=[product_location_tag("P2", "S1")])
    assert cache.invalidate(tag) == 2
    assert cache.lookup(first) is MISS and cache.lookup(second) is MISS
    assert cache.lookup(other) == 3
    assert cache.invalidate(tag) == 0


def test_ttl_expires_entries(redis_client, key_prefix):
    cache = _cache(redis_client, key_prefix, ttl_s=1)
    key = cache.key("P1:S1")
    cache.store(key, "x")
    time.sleep(1.1)
    assert cache.lookup(key) is MISS


def test_redis_down_is_a_quiet_miss():
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cache = Cache(RedisGuard(dead), "retail", 300)
    key = cache.key("P1:S1")
    cache.store(key, "x")
    assert cache.lookup(key) is MISS
    assert cache.invalidate("any") == 0
    assert cache.stats.misses == 1 and cache.stats.stores == 0
