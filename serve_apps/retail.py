"""The `retail` application at /api/retail: price recommendations, analysis, what-if scenarios,
price queries and price alerts (paged and live) for pricing teams."""

import asyncio
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import redis
from fastapi import FastAPI, Header, Query, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from ray import serve
from ray.serve.handle import DeploymentHandle

from core.alerts import (
    Alert,
    AlertKind,
    AlertPage,
    AlertQuery,
    AlertsConfig,
    Severity,
    follow_alerts,
    read_alerts,
)
from core.api_keys import RETAIL_ROLES, Principal
from core.config_files import load_config
from core.settings import Settings
from serve_apps.errors import ApiError, install_error_handlers
from serve_apps.portal import mount_portal
from serve_apps.protection import Protection
from serve_apps.retail_pricing import DemandModel, PricingRoutes, include_pricing_routes
from serve_apps.retail_review import ReviewRoutes, include_review_routes

STREAM_ID = re.compile(r"^\d{1,19}-\d{1,19}$")
LIVE_BLOCK_MS = 1000
KEEPALIVE_EVERY_S = 15
MAX_LIVE_CLIENTS = 64  # per replica: each holds one thread in a blocking XREAD

app = FastAPI(
    title="dynaprice retail",
    description="Retail pricing: recommendations under business rules, analysis, what-if "
                "scenarios, price queries and alerts from the live price-point stream. "
                "Send an API key in `X-API-Key` (see configs/api_keys.yaml).",
)
install_error_handlers(app)
include_pricing_routes(app)
include_review_routes(app)
mount_portal(app, "retail")
app.add_middleware(GZipMiddleware, minimum_size=1000)
AnyRetailRole = Annotated[Principal, Protection.require(*RETAIL_ROLES)]


class AlertFilter(BaseModel):
    """Which alerts a live client wants (unset = any)."""

    kind: AlertKind | None = None
    severity: Severity | None = None
    region: str | None = None
    category: str | None = None

    def admits(self, alert: Alert) -> bool:
        return all(wanted is None or wanted == getattr(alert, name)
                   for name, wanted in self.model_dump().items())


def _stream_id(value: str | None, name: str) -> str | None:
    if value is not None and not STREAM_ID.match(value):
        raise ApiError(422, "invalid_parameters",
                       [{"field": name, "message": "expected a stream id like 1718000000000-0"}])
    return value


@serve.deployment(max_ongoing_requests=MAX_LIVE_CLIENTS + 64)
@serve.ingress(app)
class RetailPricingAPI(PricingRoutes, ReviewRoutes):
    def __init__(self, settings: Settings | None = None,
                 demand_model: DeploymentHandle | None = None) -> None:
        self.settings = settings or Settings.from_env()
        if not self.settings.redis_url:
            raise ValueError("the retail app needs REDIS_URL (alert feed, limits, cache)")
        self.protection = Protection(self.settings, "retail")
        self.setup_pricing(self.settings, demand_model)
        self.redis = redis.Redis.from_url(self.settings.redis_url)
        self.alert_stream = load_config(
            "alerts", AlertsConfig, self.settings.configs_dir).redis_stream.key
        self._live_readers = ThreadPoolExecutor(MAX_LIVE_CLIENTS, thread_name_prefix="alerts-live")

    @app.get("/alerts", summary="Alerts, newest first; filter and page with next_cursor")
    async def alerts(self, _: AnyRetailRole,
                     query: Annotated[AlertQuery, Query()]) -> AlertPage:
        _stream_id(query.cursor, "cursor")
        return await asyncio.to_thread(read_alerts, self.redis, query, self.alert_stream)

    @app.get(
        "/alerts/live",
        summary="Server-sent events: every new alert matching the filters",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def live_alerts(
        self, request: Request, _: AnyRetailRole,
        filters: Annotated[AlertFilter, Query()],
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        after = _stream_id(last_event_id, "Last-Event-ID") or "$"
        if after == "$":  # pin "now" to an id, so nothing added between reads is skipped
            newest = self.redis.xrevrange(self.alert_stream, count=1)
            after = newest[0][0].decode() if newest else "0-0"
        return StreamingResponse(
            self._events(request, filters, after), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self, request: Request, filters: AlertFilter,
                      after: str) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        quiet_s = 0.0
        yield ": following the alert stream\n\n"
        while not await request.is_disconnected():
            found = await loop.run_in_executor(
                self._live_readers, follow_alerts, self.redis, after, self.alert_stream,
                LIVE_BLOCK_MS)
            for entry_id, alert in found:
                after = entry_id
                if filters.admits(alert):
                    yield f"id: {entry_id}\nevent: alert\ndata: {alert.model_dump_json()}\n\n"
            quiet_s = 0.0 if found else quiet_s + LIVE_BLOCK_MS / 1000
            if quiet_s >= KEEPALIVE_EVERY_S:
                quiet_s = 0.0
                yield ": keep-alive\n\n"

    @app.get("/health", summary="Liveness, and whether Redis answers")
    async def health(self) -> dict[str, Any]:
        return {"status": "ok", **self.protection.health()}


def build_app(args: dict[str, str] | None = None) -> serve.Application:
    """Application builder named by cluster/cluster.yaml (settings come from the env)."""
    return RetailPricingAPI.bind(demand_model=DemandModel.bind())
