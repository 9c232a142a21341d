"""Price recommendations, batch, analysis, what-if scenarios, current prices, aggregations
and search for the `retail` app, as a mixin of its FastAPI ingress, plus the `DemandModel`
deployment that scores candidate prices.

Wiring (serve_apps/retail.py):

    class RetailPricingAPI(PricingRoutes):
        def __init__(self, settings=None, demand_model: DeploymentHandle | None = None):
            ...                                            # self.settings, self.protection
            self.setup_pricing(self.settings, demand_model)  # sets self.pricing, self.demand_model
    include_pricing_routes(app)                           # before @serve.ingress(app) runs
    build_app: RetailPricingAPI.bind(demand_model=DemandModel.bind())

The ingress must set `self.protection` (serve_apps.protection.Protection) before calling
`setup_pricing`. `setup_pricing` loads the catalog (lake positions + the model's features),
starts a thread following `price-updated` events (cache invalidation, current prices) and a
thread picking up newly promoted model versions.
"""

import asyncio
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import redis
from fastapi import APIRouter, Body, FastAPI, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve.handle import DeploymentHandle
from ray.util import metrics

from core.api_keys import RETAIL_ROLES, Principal
from core.cache import MISS, Cache, product_location_tag
from core.config_files import load_config
from core.events import PRICE_UPDATED_CHANNEL, decode_price_updated
from core.ingest.reference import LocationsConfig
from core.lake import Lake
from core.redis_guard import RedisDown
from core.retail.analysis import product_analysis
from core.retail.demand_model import DemandModel as FittedDemandModel
from core.retail.demand_model import IncompatibleModel
from core.retail.feature_store import FeatureStore
from core.retail.pricing import Objective, Recommendation, Versions, decide
from core.retail.pricing_catalog import PricingCatalog, UnknownItem
from core.retail.queries import AggregateQuery, CurrentPrices, LakeQueries
from core.retail.registry import ModelRegistry
from core.retail.rules import PricingRulesConfig
from core.retail.scenarios import Scenario, scenario_inputs, scenario_results
from core.retail.search import Kind, SearchIndex
from core.settings import Settings
from serve_apps.errors import ApiError
from serve_apps.protection import Protection
from serve_apps.route_mixins import bind_to_replica, include_routes

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every error answer (serve_apps.errors): a code and what went wrong."""

    error: str
    detail: Any


router = APIRouter(responses={status: {"model": ErrorBody} for status in (
    401, 403, 404, 409, 413, 422, 429, 503)})
MAX_BATCH = 1000
CACHE_TTL_S = 300
Managers = Annotated[Principal, Protection.require("pricing-manager", "admin")]
AnyRole = Annotated[Principal, Protection.require(*RETAIL_ROLES)]
ProductId = Annotated[str, Path(min_length=1, max_length=64)]
_cache_requests = metrics.Counter(
    "dynaprice_retail_cache_requests", "Retail pricing cache lookups by result",
    tag_keys=("result",))


class RuleOverrides(BaseModel):
    """Rules of this request on top of the configured (per-category) ones."""

    model_config = ConfigDict(extra="forbid")

    min_margin: float | None = Field(None, ge=0, lt=1)
    max_discount: float | None = Field(None, ge=0, lt=1)
    max_premium: float | None = Field(None, ge=0, le=5)
    competitor_band: float | None = Field(None, ge=0, lt=1)
    price_endings: list[float] | None = Field(None, max_length=10,
                                              description="cents, e.g. 0.99")

    def as_override(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class RecommendQuery(RuleOverrides):
    target_date: date | None = Field(None, description="default: today (UTC)")
    objective: Objective = "revenue"


class PairItem(BaseModel):
    product_id: str = Field(min_length=1, max_length=64)
    location_id: str = Field(min_length=1, max_length=64)


class BatchRequest(BaseModel):
    items: list[PairItem] = Field(description=f"at most {MAX_BATCH} pairs (413 beyond)")
    target_date: date | None = None
    objective: Objective = "revenue"
    rules: RuleOverrides = RuleOverrides()


class BatchAnswer(BaseModel):
    count: int
    results: list[Recommendation]
    not_found: list[PairItem]


class ScenarioQuery(Scenario):
    product_id: str = Field(min_length=1, max_length=64)
    location_id: str | None = Field(None, min_length=1, max_length=64,
                                    description="default: every location of the product")
    target_date: date | None = None


class SearchQuery(BaseModel):
    q: str = Field(min_length=1, max_length=100)
    kind: Kind | None = None
    limit: int = Field(10, ge=1, le=100)


class CurrentQuery(BaseModel):
    region: str | None = Field(None, max_length=64)
    city: str | None = Field(None, max_length=64)
    category: str | None = Field(None, max_length=64)
    location_id: str | None = Field(None, max_length=64)
    product_id: str | None = Field(None, max_length=64)
    limit: int = Field(1000, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


def include_pricing_routes(app: FastAPI) -> None:
    include_routes(app, router)


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_parameters", [{"field": field, "message": message}])


def _day(value: date | None) -> np.datetime64:
    return np.datetime64(value or datetime.now(UTC).date(), "D")


def _json(content: Any, response: Response, **headers: str) -> JSONResponse:
    """`content` as JSON, keeping the headers dependencies set (RateLimit-*)."""
    return JSONResponse(content, headers={**dict(response.headers), **headers})


@dataclass(frozen=True)
class OneItem:
    """One product-location's recommendation request."""

    pair: tuple[str, str]
    day: np.datetime64
    objective: Objective
    override: dict[str, Any]


class PricingState:
    """One per ingress replica: catalog, search index, cache, current prices, versions."""

    def __init__(self, settings: Settings, protection: Protection,
                 demand_model: DeploymentHandle | None, refresh_s: float) -> None:
        self.settings = settings
        self.lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
        self.queries = LakeQueries(self.lake)
        self.rules = PricingRulesConfig.load(settings.configs_dir)
        self.rules_digest = hashlib.sha256(self.rules.model_dump_json().encode()).hexdigest()[:12]
        self.demand_model = demand_model
        self.cache = Cache(protection.guard, namespace="retail-pricing", ttl_s=CACHE_TTL_S)
        self.aggregate_cache = Cache(protection.guard, namespace="retail-aggregate",
                                     ttl_s=CACHE_TTL_S)
        regions = load_config("locations", LocationsConfig, settings.configs_dir).regions
        self.current = CurrentPrices(protection.guard, sorted(regions))
        self.refresh_s = refresh_s
        self._aggregating: dict[str, asyncio.Future] = {}
        self.features: pa.Table | None = None
        self.stores: pa.Table | None = None
        self.catalog = self._catalog(self.queries.positions(), self._model_info())
        self.search_index = SearchIndex.from_positions(self.catalog.positions)
        self.current.seed(self.catalog.positions)
        self._stop = threading.Event()
        for target in (self._follow_events, self._follow_versions):
            threading.Thread(target=target, daemon=True, name=target.__name__).start()

    def _model_info(self) -> dict[str, Any]:
        """The production model's version and feature version, from the registry (the
        DemandModel deployment follows the same pointer; answers name the one it used)."""
        registry = ModelRegistry(self.lake, "demand")
        version = registry.production() if self.demand_model is not None else None
        card = (registry.card(version) or {}) if version else {}
        return {"version": version, "feature_version": card.get("feature_version")}

    def _catalog(self, positions: pa.Table, info: dict[str, Any]) -> PricingCatalog:
        feature_version = info.get("feature_version")
        features = stores = None
        if feature_version:
            store = FeatureStore(self.lake)
            features = store.read(feature_version)
            stores = store.read(feature_version, "stores")
        self.features, self.stores = features, stores
        return PricingCatalog.build(positions, features, self.rules,
                                    Versions(info.get("version"), feature_version))

    def _follow_versions(self) -> None:
        """Rebuild the catalog when the model serves a new version, or when the lake has new
        positions (checked every 5 minutes); list the lake again when it changed
        (aggregations read the new listing)."""
        checked = time.monotonic()
        while not self._stop.wait(self.refresh_s):
            try:
                self.queries.listing()
                info = self._model_info()
                due = time.monotonic() - checked > CACHE_TTL_S
                positions = self.queries.positions() if due else self.catalog.positions
                moved = positions is not self.catalog.positions  # the same table: no news
                if info.get("version") != self.catalog.versions.model or moved:
                    self.catalog = self._catalog(positions, info)
                    if moved:
                        self.search_index = SearchIndex.from_positions(positions)
                if due:
                    checked = time.monotonic()
            except Exception:  # keep following; the next round retries
                log.exception("refreshing the pricing catalog failed")

    def _follow_events(self) -> None:
        """Each `price-updated` event: drop cached answers of its product-locations, keep the
        current prices (Redis and the catalog)."""
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.settings.redis_url)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(PRICE_UPDATED_CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.queries.mark_changed()
                        self.on_price_updates(decode_price_updated(message["data"])["updates"])
            except (redis.RedisError, OSError):
                self._stop.wait(2.0)
            except Exception:
                log.exception("a price-updated event could not be applied")

    def on_price_updates(self, updates: list[dict[str, Any]]) -> None:
        self.cache.invalidate(*(product_location_tag(u["product_id"], u["location_id"])
                                for u in updates))
        self.current.apply(updates)
        self.catalog = self.catalog.with_prices(updates)

    def stop(self) -> None:
        self._stop.set()

    async def recommend(self, pairs: list[tuple[str, str]], day: np.datetime64 | np.ndarray,
                        objective: Objective | list[Objective], override: dict[str, Any]
                        ) -> tuple[list[dict], list[int]]:
        """Recommendations of the known pairs (one model call) and the unknown positions;
        `day` and `objective` are one for all pairs or one per pair."""
        catalog = self.catalog
        have_model = catalog.versions.model is not None and self.demand_model is not None
        try:
            plan, missing = catalog.plan(pairs, day, objective, override, have_model)
        except ValueError as exc:
            raise ApiError(422, "invalid_parameters", _rule_errors(exc)) from exc
        versions = catalog.versions
        quantiles = None
        if have_model and plan.modelled.any():
            version, *quantiles = await self.demand_model.score.remote(plan.rows,
                                                                       plan.model_prices)
            if version is None:  # the model went away: rules only
                plan, _ = catalog.plan(pairs, day, objective, override, False)
                quantiles = None
            versions = Versions(version, versions.features)
        return decide(plan, quantiles, versions), missing

    def aggregate(self, key: str, query: AggregateQuery) -> asyncio.Future:
        """The aggregate answer of `query`, computed once at a time per key and cached."""
        running = self._aggregating.get(key)
        if running is None:
            running = asyncio.ensure_future(self._aggregate(key, query))
            self._aggregating[key] = running
            running.add_done_callback(lambda done: self._aggregated(key, done))
        return running

    async def _aggregate(self, key: str, query: AggregateQuery) -> dict[str, Any]:
        groups, version = await asyncio.to_thread(self.queries.aggregate, query)
        answer = {"query": query.model_dump(mode="json"), "lake_version": version,
                  "groups": groups}
        await asyncio.to_thread(self.aggregate_cache.store, key, answer)
        return answer

    def _aggregated(self, key: str, done: asyncio.Future) -> None:
        self._aggregating.pop(key, None)
        if not done.cancelled() and done.exception() is not None:
            log.error("aggregating %s failed", key, exc_info=done.exception())

    def check_rules(self, product_id: str, location_id: str, override: dict[str, Any]) -> None:
        """ApiError 422 naming the rule when `override` is invalid for this item."""
        rows, _ = self.catalog.rows_of([(product_id, location_id)])
        try:
            self.catalog.rule_sets(rows, override)
        except ValueError as exc:
            raise ApiError(422, "invalid_parameters", _rule_errors(exc)) from exc

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def recommend_one(self, items: list[OneItem]) -> list[dict]:
        """Concurrent single recommendations together: one plan, model call and decision
        per distinct rule override (items are known and their overrides valid)."""
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(json.dumps(item.override, sort_keys=True), []).append(i)
        answers: list[dict] = [{}] * len(items)
        found = await asyncio.gather(*(self.recommend(
            [items[i].pair for i in members], np.array([items[i].day for i in members]),
            [items[i].objective for i in members], items[members[0]].override)
            for members in groups.values()))
        for members, (group_answers, _) in zip(groups.values(), found, strict=True):
            for i, answer in zip(members, group_answers, strict=True):
                answers[i] = answer
        return answers


def _rule_errors(exc: ValueError) -> list[dict[str, str]]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in errors()]
    return [{"field": "rules", "message": str(exc)}]


class PricingRoutes:
    """Endpoints of the pricing service; needs `self.protection`, then `setup_pricing`."""

    pricing: PricingState

    def setup_pricing(self, settings: Settings, demand_model: DeploymentHandle | None,
                      refresh_s: float = 5.0) -> None:
        self.demand_model = demand_model
        self.pricing = PricingState(settings, self.protection, demand_model, refresh_s)

    def _check(self, product_id: str, location_id: str | None = None) -> None:
        try:
            self.pricing.catalog.check(product_id, location_id)
        except UnknownItem as exc:
            raise ApiError(404, "not_found", str(exc)) from exc

    @router.get("/pricing/recommend/{product_id}/{location_id}", response_model=Recommendation,
                summary="The optimal price of one product at one location, under the rules")
    async def recommend(self, product_id: ProductId, location_id: ProductId,
                        params: Annotated[RecommendQuery, Query()], response: Response,
                        _: Managers) -> Any:
        self._check(product_id, location_id)
        state = self.pricing
        day = _day(params.target_date)
        versions = state.catalog.versions
        key = state.cache.key(f"{product_id}:{location_id}",
                              params.model_dump(mode="json") | {
                                  "day": str(day), "rules": state.rules_digest,
                                  "features": versions.features}, versions.model)
        cached = await asyncio.to_thread(state.cache.lookup, key)  # the loop keeps serving
        _cache_requests.inc(tags={"result": "miss" if cached is MISS else "hit"})
        if cached is not MISS:
            return _json(cached, response, **{"X-Cache": "hit"})
        override = params.model_dump(exclude_none=True,
                                     exclude={"target_date", "objective"})
        state.check_rules(product_id, location_id, override)
        answer = await state.recommend_one(OneItem((product_id, location_id), day,
                                                   params.objective, override))
        if answer["model_version"] == versions.model:  # not mid-swap
            await asyncio.to_thread(state.cache.store, key, answer,
                                    [product_location_tag(product_id, location_id)])
        return _json(answer, response, **{"X-Cache": "miss"})

    @router.post("/pricing/batch-recommend", response_model=BatchAnswer,
                 summary=f"Recommendations of up to {MAX_BATCH} product-locations at once",
                 responses={413: {"description": f"more than {MAX_BATCH} items"}})
    async def batch_recommend(self, request: Annotated[BatchRequest, Body()],
                              response: Response, _: Managers) -> Any:
        if len(request.items) > MAX_BATCH:
            raise ApiError(413, "payload_too_large",
                           f"{len(request.items)} items; at most {MAX_BATCH} per call")
        pairs = [(i.product_id, i.location_id) for i in request.items]
        answers, missing = await self.pricing.recommend(
            pairs, _day(request.target_date), request.objective, request.rules.as_override())
        return _json({"count": len(answers), "results": answers,
                      "not_found": [request.items[i].model_dump() for i in missing]}, response)

    @router.get("/pricing/analysis/{product_id}",
                summary="Historical price performance of a product at each location")
    async def analysis(self, product_id: ProductId, _: AnyRole) -> dict[str, Any]:
        self._check(product_id)
        state = self.pricing
        if state.features is None:
            return {"product_id": product_id, "feature_version": None, "locations": []}
        locations = await asyncio.to_thread(product_analysis, product_id, state.features,
                                            state.stores)
        return {"product_id": product_id,
                "feature_version": state.catalog.versions.features, "locations": locations}

    @router.get("/pricing/scenarios",
                summary="What-if: units, revenue and margin of a price change vs status quo")
    async def scenarios(self, params: Annotated[ScenarioQuery, Query()],
                        _: AnyRole) -> dict[str, Any]:
        self._check(params.product_id, params.location_id)
        state = self.pricing
        catalog = state.catalog
        if catalog.versions.model is None or state.demand_model is None:
            raise ApiError(409, "no_model", "no production demand model yet: train one first")
        locations = [params.location_id] if params.location_id else \
            catalog.locations_of(params.product_id)
        rows, _ = catalog.rows_of([(params.product_id, loc) for loc in locations])
        contexts = catalog.contexts.take(pa.array(rows))
        try:
            model_input, prices, new = scenario_inputs(contexts, params,
                                                       _day(params.target_date))
        except ValueError as exc:
            raise _invalid("price_change", str(exc)) from exc
        version, _, p50, _ = await state.demand_model.score.remote(model_input, prices)
        if version is None:
            raise ApiError(409, "no_model", "no production demand model yet: train one first")
        results = scenario_results(contexts, new, p50, catalog.rule_sets(rows, None))
        return {"product_id": params.product_id, "model_version": version,
                "scenario": params.model_dump(mode="json", exclude={"product_id"}),
                "locations": results}

    @router.get("/prices/current", summary="The latest price of each product-location")
    async def current_prices(self, params: Annotated[CurrentQuery, Query()],
                             _: AnyRole) -> dict[str, Any]:
        state = self.pricing
        filters = params.model_dump(exclude={"limit", "offset"})
        try:
            found = await asyncio.to_thread(state.current.query, **filters)
            source = "price-updated events"
        except RedisDown:
            found = _positions_as_prices(state.catalog.positions, filters)
            source = "lake snapshot (Redis unavailable)"
        page = found[params.offset:params.offset + params.limit]
        return {"count": len(found), "source": source, "prices": page}

    @router.get("/prices/aggregate",
                summary="Price statistics grouped by geography, category, time and season")
    async def aggregate(self, params: Annotated[AggregateQuery, Query()], response: Response,
                        _: AnyRole) -> Any:
        """Cached per query; an answer of an older lake version is served (within the cache
        TTL) while the new one is computed in the background."""
        state = self.pricing
        key = state.aggregate_cache.key("aggregate", params.model_dump(mode="json"))
        cached = await asyncio.to_thread(state.aggregate_cache.lookup, key)
        if cached is MISS:
            answer = await asyncio.shield(state.aggregate(key, params))  # shared by waiters
            return _json(answer, response, **{"X-Cache": "miss"})
        fresh = cached.get("lake_version") == state.queries.version
        if not fresh:
            state.aggregate(key, params)
        return _json(cached, response, **{"X-Cache": "hit" if fresh else "stale"})

    @router.get("/search", summary="Typo-tolerant lookup of products and locations")
    async def search(self, params: Annotated[SearchQuery, Query()],
                     _: AnyRole) -> dict[str, Any]:
        hits = self.pricing.search_index.search(params.q, params.limit, params.kind)
        return {"query": params.q, "hits": [
            {"kind": h.kind, "id": h.id, "score": h.score, "matched_field": h.matched_field,
             **h.document} for h in hits]}

    @router.get("/pricing/status", summary="Model and feature versions, cache hit rate")
    async def pricing_status(self, _: AnyRole) -> dict[str, Any]:
        state = self.pricing
        stats = state.cache.stats
        return {"model_version": state.catalog.versions.model,
                "feature_version": state.catalog.versions.features,
                "product_locations": state.catalog.contexts.num_rows,
                "cache": {"hits": stats.hits, "misses": stats.misses,
                          "hit_ratio": round(stats.hit_ratio, 4),
                          "invalidated": stats.invalidated}}


bind_to_replica(router)


def _positions_as_prices(positions: pa.Table, filters: dict[str, Any]) -> list[dict]:
    rows = [{"product_id": r["product_id"], "location_id": r["store_id"], "region": r["region"],
             "city": r["city"], "category": r["category"], "price": r["price"],
             "ts": r["ts"].isoformat()} for r in positions.to_pylist()]
    return [r for r in rows if all(v is None or r[k] == v for k, v in filters.items())]


@serve.deployment(max_ongoing_requests=128, user_config={"name": "demand", "version": None,
                                                         "poll_s": 10.0})
class DemandModel:
    """The production demand model; concurrent requests are scored in one batch. A new
    production version (polled, or pinned through user_config) is swapped in between
    batches: requests in flight finish on the model they started with."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.lake = Lake.open(self.settings.lake_uri, self.settings.aws_endpoint_url)
        self.config: dict[str, Any] = {"name": "demand", "version": None, "poll_s": 10.0}
        self.loaded: tuple[str | None, str | None, FittedDemandModel | None] = (None, None, None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._load()
        threading.Thread(target=self._poll, daemon=True, name="model-poll").start()

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """{"name", "version" (None: follow production), "poll_s"}: load what it names."""
        self.config = {**self.config, **user_config}
        self._load()

    def _load(self) -> None:
        registry = ModelRegistry(self.lake, self.config["name"])
        version = self.config.get("version") or registry.production()
        with self._lock:
            if version == self.loaded[0]:
                return
            if version is None:
                self.loaded = (None, None, None)
                return
            card = registry.card(version) or {}
            try:
                model = FittedDemandModel.load(registry, version)
            except IncompatibleModel:  # trained by older code: rules only until retrained
                log.error("demand model %s does not fit this code's features; answers are "
                          "rule-based until a new one is trained (dynaprice submit demand)",
                          version)
                self.loaded = (version, None, None)
                return
            self.loaded = (version, card.get("feature_version"), model)  # one swap
        log.info("demand model %s loaded", version)

    def _poll(self) -> None:
        while not self._stop.wait(float(self.config.get("poll_s") or 10.0)):
            try:
                self._load()
            except Exception:
                log.exception("loading the production demand model failed")

    async def info(self) -> dict[str, Any]:
        version, feature_version, _ = self.loaded
        return {"version": version, "feature_version": feature_version}

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def score(self, rows: list[pa.Table], prices: list[np.ndarray]) -> list[tuple]:
        """(version, P10, P50, P90 of units) per request; each request's prices are
        [n rows, k candidates]; every request of the batch goes through one model call."""
        version, _, model = self.loaded
        if model is None:
            return [(None, None, None, None)] * len(rows)
        return await asyncio.to_thread(_score_together, model, version, rows, prices)


def _score_together(model: FittedDemandModel, version: str, rows: list[pa.Table],
                    prices: list[np.ndarray]) -> list[tuple]:
    """Every request's candidates in one model call (each request's [n, k] prices padded to
    the widest k; a missing price scores at 1.0 and is never read back)."""
    wide = [np.nan_to_num(np.asarray(p, dtype=float).reshape(r.num_rows, -1), nan=1.0)
            for r, p in zip(rows, prices, strict=True)]
    k = max(w.shape[1] for w in wide)
    padded = np.vstack([np.pad(w, ((0, 0), (0, k - w.shape[1])), constant_values=1.0)
                        for w in wide])
    quantiles = model.predict_units(pa.concat_tables(rows), padded)
    out, start = [], 0
    for w in wide:
        end = start + len(w)
        out.append((version, *(q[start:end, :w.shape[1]] for q in quantiles)))
        start = end
    return out
