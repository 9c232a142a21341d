"""API keys, roles and shared rate limits for the retail and ads apps, as FastAPI dependencies.

The ingress keeps one as `self.protection = Protection(settings, "retail")` (the dependency
finds it there, on the replica's servable object); an endpoint asks for a principal with
`principal: Annotated[Principal, Protection.require("analyst", "admin")]`.
The dependency answers 401 (missing/unknown key), 403 (no wanted role) or 429 (over the
key's hourly limit, with Retry-After), and sets RateLimit-* headers on every answer.
"""

from typing import Any

import redis
from fastapi import Depends, Response, Security
from fastapi.security import APIKeyHeader
from ray import serve

from core.api_keys import ApiKeyBook, Principal, Role
from core.rate_limit import RateLimiter
from core.redis_guard import RedisGuard
from core.settings import Settings
from serve_apps.errors import ApiError

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key of configs/api_keys.yaml")


def redis_guard(settings: Settings, timeout_s: float = 0.25) -> RedisGuard:
    """A guarded client with short timeouts, so a dead Redis costs a request milliseconds."""
    client = (redis.Redis.from_url(settings.redis_url, socket_timeout=timeout_s,
                                   socket_connect_timeout=timeout_s)
              if settings.redis_url else None)
    return RedisGuard(client)


class Protection:
    """One per replica: the key book and the app's limiter, shared through Redis."""

    def __init__(self, settings: Settings, app_name: str, guard: RedisGuard | None = None) -> None:
        self.app_name = app_name
        self.keys = ApiKeyBook.load(settings.configs_dir)
        self.guard = guard or redis_guard(settings)
        self.limiter = RateLimiter(self.guard, prefix=f"dynaprice:ratelimit:{app_name}")

    def check(self, key: str | None, roles: tuple[str, ...], response: Response) -> Principal:
        """The key's principal, or ApiError 401/403/429; RateLimit-* headers go on `response`."""
        principal = self.keys.lookup(key)
        if principal is None:
            detail = "missing X-API-Key header" if not key else "unknown API key"
            raise ApiError(401, "unauthorized", detail, {"WWW-Authenticate": "ApiKey"})
        if not principal.has_any(roles):
            raise ApiError(403, "forbidden", f"needs one of the roles {', '.join(roles)}")
        decision = self.limiter.hit(principal.name, principal.requests_per_hour)
        if not decision.allowed:
            raise ApiError(429, "rate_limited",
                           f"over {decision.limit} requests per hour; retry in "
                           f"{decision.reset_s} s", decision.headers())
        response.headers.update(decision.headers())
        return principal

    @staticmethod
    def require(*roles: Role) -> Any:
        """A dependency (use in Annotated[Principal, ...]) admitting keys with any of `roles`."""

        async def principal(response: Response,
                            key: str | None = Security(API_KEY_HEADER)) -> Principal:
            protection: Protection = serve.get_replica_context().servable_object.protection
            return protection.check(key, roles, response)

        return Depends(principal)

    def health(self) -> dict[str, Any]:
        """Redis ok or degraded (limits then hold per replica and the cache is off)."""
        return {"redis": "ok" if self.guard.ping() else "degraded"}
