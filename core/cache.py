"""Cache-aside over Redis: JSON values with a TTL, tag sets for invalidation, hit/miss counts.

A key is built from (namespace, subject, params, model version) so a new model never reads
an old model's answers. Every entry can carry tags (e.g. one per product-location); a tag's
set lists its keys, and `invalidate(tag)` drops them all at once. When Redis is down the
cache misses and stores nothing: the service keeps answering, just slower.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.redis_guard import RedisDown, RedisGuard

MISS = object()

# KEYS = tag sets; deletes every member key and the sets themselves; returns keys dropped.
_INVALIDATE = """
local dropped = 0
for _, tag in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag)
  for _, key in ipairs(members) do dropped = dropped + redis.call('DEL', key) end
  redis.call('DEL', tag)
end
return dropped
"""


def product_location_tag(product_id: str, location_id: str) -> str:
    return f"pl:{product_id}:{location_id}"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    stores: int = 0
    invalidated: int = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class Cache:
    """`lookup(key)` / `store(key, value, tags)` around a computation; keys from `key(...)`."""

    def __init__(self, guard: RedisGuard, namespace: str, ttl_s: int,
                 prefix: str = "dynaprice:cache") -> None:
        self.guard = guard
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.stats = CacheStats()
        self._invalidate = (guard.client.register_script(_INVALIDATE)
                            if guard.client is not None else None)

    def key(self, subject: str, params: Mapping[str, Any] | None = None,
            model_version: str | None = None) -> str:
        """The entry's key: readable subject and version, hashed params."""
        digest = hashlib.sha256(
            json.dumps(params or {}, sort_keys=True, default=str).encode()).hexdigest()[:20]
        return f"{self.prefix}:{self.namespace}:{subject}:{model_version or '-'}:{digest}"

    def _tag_key(self, tag: str) -> str:
        return f"{self.prefix}:{self.namespace}:tag:{tag}"

    def lookup(self, key: str) -> Any:
        """The cached value, or MISS (also when Redis is down)."""
        try:
            raw = self.guard.run(lambda client: client.get(key))
        except RedisDown:
            raw = None
        if raw is None:
            self.stats.misses += 1
            return MISS
        self.stats.hits += 1
        return json.loads(raw)

    def store(self, key: str, value: Any, tags: Iterable[str] = ()) -> None:
        """Keep `value` for the TTL and list `key` under each tag (silently skipped if down)."""
        payload = json.dumps(value, default=str)

        def write(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.set(key, payload, ex=self.ttl_s)
            for tag in tags:
                pipe.sadd(self._tag_key(tag), key)
                pipe.expire(self._tag_key(tag), self.ttl_s)
            pipe.execute()

        try:
            self.guard.run(write)
            self.stats.stores += 1
        except RedisDown:
            pass

    def invalidate(self, *tags: str) -> int:
        """Drop every entry under these tags; the number of entries dropped (0 if down)."""
        if not tags:
            return 0
        try:
            dropped = int(self.guard.run(
                lambda _: self._invalidate(keys=[self._tag_key(tag) for tag in tags])))
        except RedisDown:
            return 0
        self.stats.invalidated += dropped
        return dropped
