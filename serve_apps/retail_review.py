"""The pricing managers' workflow on the `retail` app, as a mixin of its ingress: the review
queue (approve / reject / override, audit log, outcome), A/B experiments, live prices and
the chart data of the portal (price curve, price history).

Wiring (serve_apps/retail.py): `class RetailPricingAPI(PricingRoutes, ReviewRoutes)` and
`include_review_routes(app)` before `@serve.ingress(app)`. The mixin needs `self.settings`
and `self.pricing` (serve_apps.retail_pricing) and builds its own state on first use.

Alerts with a suggested price enter the queue when the queue is read (a consumer group on the
alert stream hands each alert to one replica) and in the nightly `recommend_catalog` job.
"""

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import redis
from fastapi import APIRouter, Body, FastAPI, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from core.alerts import AlertsConfig
from core.api_keys import RETAIL_ROLES, Principal
from core.config_files import load_config
from core.events import PRICE_UPDATED_CHANNEL, decode_price_updated
from core.lake import Lake
from core.retail.alert_intake import AlertIntake, AlertValuation
from core.retail.audit import AuditEntry, AuditLog, AuditQuery
from core.retail.curves import curve_document, curve_grid
from core.retail.decisions import ReviewDesk
from core.retail.experiments import (
    Experiment,
    ExperimentReport,
    ExperimentSpec,
    ExperimentStore,
    analyse,
    create_experiment,
    experiment_price_points,
    experiment_units,
)
from core.retail.history import price_history
from core.retail.outcomes import Outcome, measure_outcome
from core.retail.pricing import model_rows
from core.retail.publication import PricePublisher
from core.retail.review import (
    AlreadyDecided,
    Decision,
    ItemNotFound,
    Measures,
    QueueFilter,
    QueuePage,
    ReviewConfig,
    ReviewItem,
    ReviewQueue,
    price_problems,
)
from core.retail.scenarios import priced_inputs
from core.settings import Settings
from serve_apps.errors import ApiError
from serve_apps.protection import Protection
from serve_apps.retail_pricing import ErrorBody, PricingState
from serve_apps.route_mixins import bind_to_replica, include_routes

router = APIRouter(responses={status: {"model": ErrorBody} for status in (
    401, 403, 404, 409, 422, 429, 503)})
Managers = Annotated[Principal, Protection.require("pricing-manager", "admin")]
AnyRole = Annotated[Principal, Protection.require(*RETAIL_ROLES)]
ItemId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ExperimentId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]
Id = Annotated[str, Path(min_length=1, max_length=64)]
LIVE_BLOCK_S = 1.0
KEEPALIVE_EVERY_S = 15
MAX_LIVE_CLIENTS = 32


class Approval(BaseModel):
    reason: str | None = Field(None, max_length=500, description="optional note")


class Rejection(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class Override(BaseModel):
    price: float = Field(gt=0, le=1e6, description="the manual price in USD")
    reason: str = Field(min_length=3, max_length=500)


class DecisionAnswer(BaseModel):
    item: ReviewItem
    audit: AuditEntry
    published_event: str | None = Field(description="entry id on the published-prices stream")


class AuditPage(BaseModel):
    entries: list[AuditEntry]


class LiveFilter(BaseModel):
    region: str | None = Field(None, max_length=64)
    category: str | None = Field(None, max_length=64)
    product_id: str | None = Field(None, max_length=64)

    def admits(self, update: dict[str, Any]) -> bool:
        return all(v is None or update.get(k) == v for k, v in self.model_dump().items())


class CurveQuery(BaseModel):
    target_date: date | None = None
    points: int = Field(41, ge=5, le=201)


class HistoryQuery(BaseModel):
    days: int = Field(90, ge=7, le=730)
    until: date | None = Field(None, description="default: today (UTC)")


class ReportQuery(BaseModel):
    target_lift: float | None = Field(None, gt=-1, le=10,
                                      description="lift to power for (default: observed)")


def include_review_routes(app: FastAPI) -> None:
    include_routes(app, router)


def _today() -> date:
    return datetime.now(UTC).date()


def _day(value: date | None) -> np.datetime64:
    return np.datetime64(value or _today(), "D")


class ReviewState:
    """One per ingress replica: the queue, audit log, publisher, experiments, live readers."""

    def __init__(self, settings: Settings) -> None:
        config = ReviewConfig.load(settings.configs_dir)
        self.config = config
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
        self.queue = ReviewQueue(self.redis, config.queue_prefix)
        self.audit = AuditLog(self.lake)
        self.publisher = PricePublisher(self.redis, config)
        self.desk = ReviewDesk(self.queue, self.audit, self.publisher)
        self.experiments = ExperimentStore(self.redis)
        alert_stream = load_config("alerts", AlertsConfig, settings.configs_dir).redis_stream.key
        self.intake = AlertIntake(self.redis, alert_stream, config.alert_group,
                                  consumer=f"retail-{uuid.uuid4().hex[:8]}")
        self.live_readers = ThreadPoolExecutor(MAX_LIVE_CLIENTS, thread_name_prefix="prices-live")


class ReviewRoutes:
    """Endpoints of the review workflow; needs `self.settings` and `self.pricing`."""

    settings: Settings
    pricing: PricingState
    _review: ReviewState | None = None
    _review_lock = threading.Lock()

    @property
    def review(self) -> ReviewState:
        with self._review_lock:
            if self._review is None:
                self._review = ReviewState(self.settings)
            return self._review

    async def _score(self, rows: pa.Table, prices: np.ndarray) -> np.ndarray | None:
        """The model's P50 units of `rows` at `prices` ([n, 1]); None without a model."""
        state = self.pricing
        if state.catalog.versions.model is None or state.demand_model is None:
            return None
        version, _, p50, _ = await state.demand_model.score.remote(rows, prices)
        return None if version is None else np.asarray(p50, dtype=float).reshape(-1)

    async def _take_alerts(self) -> None:
        """Queue the alerts with a suggested price that arrived since anyone last looked."""
        review = self.review
        taken = await asyncio.to_thread(review.intake.take)
        if not taken:
            return
        valuation = AlertValuation.of([a for _, a in taken], self.pricing.catalog)
        units = await self._score(valuation.rows, valuation.prices) if valuation.alerts \
            else None
        await asyncio.to_thread(review.queue.add,
                                valuation.items(units, datetime.now(UTC)))
        await asyncio.to_thread(review.intake.ack, [entry for entry, _ in taken])

    def _context(self, item: ReviewItem) -> dict[str, Any]:
        catalog = self.pricing.catalog
        rows, missing = catalog.rows_of([(item.product_id, item.location_id)])
        if missing:
            raise ApiError(409, "conflict", f"{item.product_id} at {item.location_id} is no "
                                            "longer in the catalogue")
        return {"row": int(rows[0]), **catalog.contexts.slice(int(rows[0]), 1).to_pylist()[0]}

    def _check_price(self, item: ReviewItem, price: float) -> dict[str, Any]:
        """The item's context; 422 naming every rule `price` breaks."""
        context = self._context(item)
        rules = self.pricing.catalog.rules.for_category(context["category"])
        competitor = context["competitor_price"]
        problems = price_problems(price, rules, context["cost"], context["reference_price"],
                                  np.nan if competitor is None else competitor)
        if problems:
            raise ApiError(422, "invalid_parameters",
                           [{"field": "price", "message": p} for p in problems])
        return context

    async def _expected_at(self, item: ReviewItem, context: dict[str, Any],
                           price: float) -> Measures | None:
        """Predicted daily figures at `price` on the item's target day."""
        contexts = self.pricing.catalog.contexts.slice(context["row"], 1)
        rows, prices = priced_inputs(contexts, np.array([price]), _day(item.target_date))
        units = await self._score(rows, prices)
        if units is None:
            return None
        sold = float(units[1])
        return Measures(units=round(sold, 4), revenue=round(price * sold, 4),
                        margin=round((price - context["cost"]) * sold, 4))

    def _pending(self, item_id: str) -> ReviewItem:
        try:
            item = self.review.queue.get(item_id)
        except ItemNotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        if item.status != "pending":
            raise ApiError(409, "conflict", {"message": f"item is {item.status} already",
                                             "decision": item.decision and
                                             item.decision.model_dump(mode="json")})
        return item

    async def _decide(self, item: ReviewItem, principal: Principal, action: str,
                      price: float | None, reason: str | None) -> DecisionAnswer:
        """Check the price against the rules, then decide, audit and publish."""
        expected = None
        price_before = item.current_price
        if price is not None:
            context = self._check_price(item, price)
            price_before = context["current_price"]
            expected = item.expected if action == "approve" else \
                await self._expected_at(item, context, price)
        decision = Decision(action=action, by=principal.name,
                            role=",".join(sorted(principal.roles)), at=datetime.now(UTC),
                            price_before=price_before, price=price, reason=reason,
                            expected=expected)
        try:
            decided = await asyncio.to_thread(self.review.desk.decide, item.id, decision)
        except ItemNotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        except AlreadyDecided as exc:
            raise ApiError(409, "conflict", {
                "message": f"item is {exc.item.status} already",
                "decision": exc.item.decision and exc.item.decision.model_dump(mode="json")
            }) from exc
        return DecisionAnswer(item=decided.item, audit=decided.audit,
                              published_event=decided.published)

    @router.get("/review/queue", response_model=QueuePage,
                summary="Recommendations to review (batch and alerts), newest first")
    async def review_queue(self, params: Annotated[QueueFilter, Query()],
                           _: AnyRole) -> QueuePage:
        await self._take_alerts()
        return await asyncio.to_thread(self.review.queue.page, params)

    @router.get("/review/counts", summary="Items per status")
    async def review_counts(self, _: AnyRole) -> dict[str, int]:
        return await asyncio.to_thread(self.review.queue.counts)

    @router.get("/review/audit", response_model=AuditPage,
                summary="Decisions from the append-only audit log, newest first")
    async def review_audit(self, params: Annotated[AuditQuery, Query()],
                           _: AnyRole) -> AuditPage:
        return AuditPage(entries=await asyncio.to_thread(self.review.audit.read, params))

    @router.get("/review/{item_id}", response_model=ReviewItem, summary="One review item")
    async def review_item(self, item_id: ItemId, _: AnyRole) -> ReviewItem:
        try:
            return await asyncio.to_thread(self.review.queue.get, item_id)
        except ItemNotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from exc

    @router.post("/review/{item_id}/approve", response_model=DecisionAnswer,
                 summary="Publish the recommended price")
    async def approve(self, item_id: ItemId, principal: Managers,
                      body: Annotated[Approval | None, Body()] = None) -> DecisionAnswer:
        item = self._pending(item_id)
        return await self._decide(item, principal, "approve", item.recommended_price,
                                  body.reason if body else None)

    @router.post("/review/{item_id}/reject", response_model=DecisionAnswer,
                 summary="Keep the current price (a reason is required)")
    async def reject(self, item_id: ItemId, principal: Managers,
                     body: Annotated[Rejection, Body()]) -> DecisionAnswer:
        return await self._decide(self._pending(item_id), principal, "reject", None,
                                  body.reason)

    @router.post("/review/{item_id}/override", response_model=DecisionAnswer,
                 summary="Publish a manual price instead (checked against the pricing rules)")
    async def override(self, item_id: ItemId, principal: Managers,
                       body: Annotated[Override, Body()]) -> DecisionAnswer:
        return await self._decide(self._pending(item_id), principal, "override",
                                  round(body.price, 2), body.reason)

    @router.get("/review/{item_id}/outcome", response_model=Outcome,
                summary="Sales since the published price, against the prediction")
    async def outcome(self, item_id: ItemId, _: AnyRole) -> Outcome:
        try:
            item = await asyncio.to_thread(self.review.queue.get, item_id)
        except ItemNotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
        if item.decision is None or item.decision.price is None:
            raise ApiError(409, "conflict", f"item is {item.status}: no price was published")
        return await asyncio.to_thread(measure_outcome, self.review.lake, item,
                                       datetime.now(UTC))

    @router.post("/experiments", response_model=Experiment, status_code=201,
                 summary="Create an A/B experiment (seeded assignment, balanced per region)")
    async def create_experiment(self, spec: Annotated[ExperimentSpec, Body()],
                                principal: Managers) -> Experiment:
        units = experiment_units(self.pricing.catalog.positions, spec)
        try:
            experiment = create_experiment(spec, units, principal.name)
        except ValueError as exc:
            raise ApiError(422, "invalid_parameters",
                           [{"field": "regions", "message": str(exc)}]) from exc
        if not await asyncio.to_thread(self.review.experiments.add, experiment):
            raise ApiError(409, "conflict", f"an experiment named {spec.name!r} exists")
        return experiment

    @router.get("/experiments", summary="Every experiment, newest first (no assignments)")
    async def experiments(self, _: AnyRole) -> dict[str, Any]:
        found = await asyncio.to_thread(self.review.experiments.all)
        return {"experiments": [e.model_dump(mode="json", exclude={"assignment"})
                                for e in found]}

    def _experiment(self, experiment_id: str) -> Experiment:
        experiment = self.review.experiments.get(experiment_id)
        if experiment is None:
            raise ApiError(404, "not_found", f"no experiment {experiment_id!r}")
        return experiment

    @router.get("/experiments/{experiment_id}", response_model=Experiment,
                summary="An experiment with its assignment of units to arms")
    async def experiment(self, experiment_id: ExperimentId, _: AnyRole) -> Experiment:
        return await asyncio.to_thread(self._experiment, experiment_id)

    @router.get("/experiments/{experiment_id}/report", response_model=ExperimentReport,
                summary="Per-arm revenue, units and margin; lift with CI; days needed")
    async def experiment_report(self, experiment_id: ExperimentId,
                                params: Annotated[ReportQuery, Query()],
                                _: AnyRole) -> ExperimentReport:
        experiment = await asyncio.to_thread(self._experiment, experiment_id)
        return await asyncio.to_thread(self._report, experiment, params.target_lift)

    def _report(self, experiment: Experiment, target_lift: float | None) -> ExperimentReport:
        points = experiment_price_points(self.review.lake, experiment)
        return analyse(experiment, points, _today(), target_lift)

    @router.get("/pricing/curve/{product_id}/{location_id}",
                summary="Units, revenue and margin over a price grid, with the chosen price")
    async def price_curve(self, product_id: Id, location_id: Id,
                          params: Annotated[CurveQuery, Query()],
                          _: AnyRole) -> dict[str, Any]:
        state = self.pricing
        self._check(product_id, location_id)  # PricingRoutes: 404 for unknown ids
        if state.catalog.versions.model is None or state.demand_model is None:
            raise ApiError(409, "no_model", "no production demand model yet: train one first")
        day = _day(params.target_date)
        answers, _ = await state.recommend([(product_id, location_id)], day, "revenue", {})
        chosen = answers[0]
        rows, _ = state.catalog.rows_of([(product_id, location_id)])
        context = state.catalog.contexts.take(pa.array(rows))
        row = context.to_pylist()[0]
        grid = curve_grid(row["reference_price"], chosen["rules"]["clearance_low"],
                          chosen["rules"]["high"], row["current_price"], params.points)
        version, p10, p50, p90 = await state.demand_model.score.remote(
            model_rows(context, np.array([day])), grid[None, :])
        if version is None:
            raise ApiError(409, "no_model", "no production demand model yet: train one first")
        return curve_document(row, chosen, version, grid, (p10, p50, p90))

    @router.get("/pricing/history/{product_id}/{location_id}",
                summary="Daily price against the lowest competitor, with 7-day rolling means")
    async def price_history(self, product_id: Id, location_id: Id,
                            params: Annotated[HistoryQuery, Query()],
                            _: AnyRole) -> dict[str, Any]:
        self._check(product_id, location_id)
        days = await asyncio.to_thread(price_history, self.review.lake, product_id,
                                       location_id, params.days, params.until or _today())
        return {"product_id": product_id, "location_id": location_id, "days": days}

    @router.get("/prices/live", response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}}},
                summary="Server-sent events: price-updated (ingested) and price-published "
                        "(approved) prices matching the filters")
    async def live_prices(self, request: Request, filters: Annotated[LiveFilter, Query()],
                          _: AnyRole) -> StreamingResponse:
        return StreamingResponse(self._price_events(request, filters),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    async def _price_events(self, request: Request, filters: LiveFilter
                            ) -> AsyncIterator[str]:
        review = self.review
        loop = asyncio.get_running_loop()
        subscription = review.redis.pubsub(ignore_subscribe_messages=True)
        await loop.run_in_executor(review.live_readers, subscription.subscribe,
                                   PRICE_UPDATED_CHANNEL)
        published_key = review.config.published_stream.key
        newest = review.redis.xrevrange(published_key, count=1)
        after = newest[0][0] if newest else b"0-0"
        quiet_s = 0.0
        try:
            yield ": following price-updated and price-published events\n\n"
            while not await request.is_disconnected():
                message, published = await loop.run_in_executor(
                    review.live_readers, _next_events, review.redis, subscription,
                    published_key, after)
                sent = False
                if message is not None:
                    event = decode_price_updated(message["data"])
                    updates = [u for u in event.get("updates", []) if filters.admits(u)]
                    if updates:
                        data = json.dumps({"region": event.get("region"), "updates": updates})
                        yield f"event: price-updated\ndata: {data}\n\n"
                        sent = True
                for entry_id, payload in published:
                    after = entry_id
                    if filters.admits(payload):
                        yield f"event: price-published\ndata: {json.dumps(payload)}\n\n"
                        sent = True
                quiet_s = 0.0 if sent else quiet_s + LIVE_BLOCK_S
                if quiet_s >= KEEPALIVE_EVERY_S:
                    quiet_s = 0.0
                    yield ": keep-alive\n\n"
        finally:
            await loop.run_in_executor(review.live_readers, subscription.close)


def _next_events(client: redis.Redis, subscription: Any, published_key: str,
                 after: bytes) -> tuple[dict | None, list[tuple[bytes, dict]]]:
    """The next price-updated message (waiting up to LIVE_BLOCK_S) and new publications."""
    message = subscription.get_message(timeout=LIVE_BLOCK_S)
    found = client.xread({published_key: after}, count=100) or []
    published = [(entry_id, json.loads(fields[b"event"]))
                 for _, entries in found for entry_id, fields in entries]
    return message, published


bind_to_replica(router)
