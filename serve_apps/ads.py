"""The `ads` application at /api/ads: slot prices, budget plans, forecasts, bookings and
advertiser notifications, behind API keys (advertiser / sales / admin) and rate limits.

Prices come from the latest `forecasts/audience/` run through the rate card; the replica
reprices every 15 minutes (price drops notify matching advertisers) and slot answers are
cached in Redis for 15 minutes (cache-aside, keyed by the forecast version).
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import redis
from fastapi import FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ray import serve

from core import cache as cache_aside
from core.ads.audience_history import AGE_BANDS, GENDERS, location_timezones
from core.ads.bookings import (
    BookedSlot,
    Booking,
    BookingNotFound,
    BookingStore,
    IdempotencyMismatch,
    SlotsTaken,
)
from core.ads.campaign_results import campaign_results, delivered_audience
from core.ads.notifications import (
    AdNotification,
    NotificationOutbox,
    Preference,
    PreferenceStore,
    SlotOffer,
    freed_slot_notifications,
    price_drop_notifications,
)
from core.ads.operations import attention_by_hour, camera_statuses, newest_alerts
from core.ads.pricing_week import location_rows, location_summaries, week_grid
from core.ads.ratecard import load_rate_card
from core.ads.slot_catalog import (
    candidates,
    parse_time_slot,
    price_catalogue,
    slot_id,
    slot_quote,
    target_share,
)
from core.ads.slot_optimizer import NoSlotFits, OptimisedPlan, SlotPlan, optimise_slots
from core.api_keys import Principal
from core.lake import ADVERTISING_METRICS, AUDIENCE_FORECASTS, Lake
from core.redis_text import as_text
from core.settings import Settings
from core.vision.cameras import CAMERA_ALERT_STREAM, camera_key, load_fleet
from serve_apps.errors import ApiError, install_error_handlers
from serve_apps.portal import mount_portal
from serve_apps.protection import Protection

FORECAST_FILE = "latest.parquet"
REPRICE_EVERY_S = 900
SLOT_CACHE_TTL_S = 900
MAX_PLAN_DAYS = 14
LOCATION = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
STAFF = ("sales", "admin")
LIVE_POLL_S = 1.0
KEEPALIVE_EVERY_S = 15.0

app = FastAPI(
    title="dynaprice ads",
    description="Out-of-home ad slots: prices from forecast audiences, budget plans, "
                "bookings and notifications. Send an API key in X-API-Key.",
    docs_url="/docs", openapi_url="/openapi.json",
)
install_error_handlers(app)
mount_portal(app, "ads")
AnyAdsRole = Annotated[Principal, Protection.require("advertiser", "sales", "admin")]
StaffRole = Annotated[Principal, Protection.require(*STAFF)]
EVENT_STREAM = {"response_class": StreamingResponse,
                "responses": {200: {"content": {"text/event-stream": {}}}}}


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget: float = Field(gt=0, le=1e9, description="currency of the rate card")
    target: str = Field("broad", max_length=64, description="rate-card demographic target")
    age_bands: list[str] | None = Field(None, max_length=7, description="targeted age bands; "
                                        "default: the target's")
    genders: list[str] | None = Field(None, max_length=2)
    start_date: date
    end_date: date = Field(description="last day included")
    locations: list[str] | None = Field(None, max_length=500)
    slot_caps: dict[str, int] | None = Field(None, description="max slots per location")
    max_slots_per_location: int | None = Field(None, ge=0, le=10_000)

    @model_validator(mode="after")
    def _range(self) -> "PlanRequest":
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if (self.end_date - self.start_date).days >= MAX_PLAN_DAYS:
            raise ValueError(f"plan at most {MAX_PLAN_DAYS} days at once")
        if any(cap < 0 for cap in (self.slot_caps or {}).values()):
            raise ValueError("slot caps must be >= 0")
        return self


class SlotRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    time_slot: str = Field(max_length=32, description="local start hour, e.g. 2026-11-30T08")


class BookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slots: list[SlotRef] = Field(min_length=1, max_length=168)
    target: str = Field("broad", max_length=64)
    advertiser_id: str | None = Field(None, max_length=64, description="staff book for an "
                                      "advertiser; advertisers only for themselves")


def _plan_json(plan: SlotPlan) -> dict[str, Any]:
    rows = plan.slots.select(["slot_id", "location_id", "start_time", "price",
                              "targeted_audience"]).to_pylist()
    for row in rows:
        row["start_time"] = row["start_time"].isoformat()
        row["price"] = round(row["price"], 2)
        row["targeted_audience"] = round(row["targeted_audience"], 1)
    return {"slots": rows, "total_cost": round(plan.total_cost, 2),
            "total_targeted_audience": round(plan.total_audience, 1),
            "cpm": round(plan.cost_per_thousand, 2)}


def _is_stream_id(text: str) -> bool:
    head, _, tail = text.partition("-")
    return head.isdigit() and tail.isdigit() and len(head) <= 19 and len(tail) <= 19


def _event(event_id: str, kind: str, data: Any) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _event_stream(request: Request, events: AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events until the client leaves, with a keep-alive comment when quiet."""

    async def body() -> AsyncIterator[str]:
        quiet_since = time.monotonic()
        yield ": connected\n\n"
        async for chunk in events:
            if await request.is_disconnected():
                return
            if chunk:
                quiet_since = time.monotonic()
                yield chunk
            elif time.monotonic() - quiet_since >= KEEPALIVE_EVERY_S:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@serve.deployment(max_ongoing_requests=64)
@serve.ingress(app)
class AdPricingAPI:
    def __init__(self, settings: Settings | None = None, namespace: str = "ads",
                 camera_alert_stream: str = CAMERA_ALERT_STREAM) -> None:
        """`namespace` keeps this app's Redis keys (bookings, limits, cache) apart."""
        self.settings = settings or Settings.from_env()
        self.protection = Protection(self.settings, namespace)
        self.card = load_rate_card(self.settings.configs_dir / "ratecard.yaml")
        self.lake = Lake.open(self.settings.lake_uri, self.settings.aws_endpoint_url)
        client = redis.Redis.from_url(self.settings.redis_url or "redis://127.0.0.1:6379/0")
        self.bookings = BookingStore(client, prefix=f"dynaprice:{namespace}:")
        self.preferences = PreferenceStore(client, key=f"dynaprice:{namespace}:preferences")
        self.outbox = NotificationOutbox(client, stream_key=f"dynaprice:alerts:{namespace}")
        self.redis = client
        self.alert_streams = {"cameras": camera_alert_stream, "ads": self.outbox.stream_key}
        fleet = load_fleet(self.settings.configs_dir)
        self.cameras, self.demo_cameras = fleet.cameras, fleet.demo
        self.zones = location_timezones([*fleet.cameras, *fleet.demo])
        self.cache = cache_aside.Cache(self.protection.guard, namespace=f"{namespace}-slots",
                           ttl_s=SLOT_CACHE_TTL_S)
        self.catalogue: dict[str, pa.Table] = {}
        self.index: dict[str, dict[str, int]] = {}
        self.version: str | None = None
        self.priced_at = 0.0
        self._refresher: asyncio.Task | None = None
        self.reprice()

    # ---- prices ------------------------------------------------------------------------------

    def reprice(self) -> int:
        """Reload the latest forecast, price the next 7 days; notify matching price drops."""
        forecast = self.lake.read(AUDIENCE_FORECASTS)
        if forecast.num_rows == 0:
            return 0
        previous = self.catalogue
        self.catalogue = price_catalogue(forecast, self.card)
        self.index = {target: {sid: i for i, sid in enumerate(table["slot_id"].to_pylist())}
                      for target, table in self.catalogue.items()}
        self.version = forecast["model_version"][0].as_py()
        self.priced_at = time.time()
        return self.outbox.publish(self._price_drops(previous)) if previous else 0

    def _offers(self, target: str, rows: pa.Table,
                previous: dict[str, float] | None = None) -> list[SlotOffer]:
        shares = target_share(rows, target)
        return [SlotOffer(slot_id=sid, location_id=loc, start=start, target=target, price=price,
                          target_share=float(share),
                          previous_price=(previous or {}).get(sid))
                for sid, loc, start, price, share in zip(
                    rows["slot_id"].to_pylist(), rows["location"].to_pylist(),
                    rows["slot_start"].to_pylist(), rows["price_p50"].to_pylist(), shares,
                    strict=True)]

    def _price_drops(self, previous: dict[str, pa.Table]) -> list[AdNotification]:
        preferences = self.preferences.all()
        if not preferences:
            return []
        booked = self.bookings.booked_slot_ids()
        notes = []
        for target, table in self.catalogue.items():
            if target not in previous:
                continue
            old = dict(zip(previous[target]["slot_id"].to_pylist(),
                           previous[target]["price_p50"].to_pylist(), strict=True))
            free = table.filter(pc.invert(pc.is_in(table["slot_id"], pa.array(list(booked),
                                                                                 pa.string()))))
            notes += price_drop_notifications(self._offers(target, free, old), preferences)
        return notes

    async def _ensure_fresh(self) -> None:
        if self._refresher is None:
            self._refresher = asyncio.get_running_loop().create_task(self._reprice_forever())
        if not self.catalogue:
            await asyncio.to_thread(self.reprice)
        if not self.catalogue:
            raise ApiError(503, "unavailable", "no audience forecast yet: run "
                           "`python -m tuning.audience_forecast`", {"Retry-After": "60"})

    async def _reprice_forever(self) -> None:
        while True:
            await asyncio.sleep(REPRICE_EVERY_S)
            try:
                await asyncio.to_thread(self.reprice)
            except Exception:  # keep serving the last prices; the next round retries
                pass

    def _table(self, target: str) -> pa.Table:
        if target not in self.catalogue:
            raise ApiError(422, "invalid_parameters",
                           f"unknown target {target!r}; one of {sorted(self.catalogue)}")
        return self.catalogue[target]

    def _row(self, target: str, sid: str) -> dict[str, Any]:
        position = self.index[target].get(sid)
        if position is None:
            raise ApiError(404, "not_found", f"no forecast slot {sid!r} (the next 7 days of "
                           "known locations are priced)")
        return self.catalogue[target].slice(position, 1).to_pylist()[0]

    def _slot_id(self, location_id: str, time_slot: str) -> str:
        try:
            return slot_id(location_id, parse_time_slot(time_slot))
        except ValueError as exc:
            raise ApiError(422, "invalid_parameters", str(exc)) from exc

    @app.get("/pricing/slot/{location_id}/{time_slot}",
             summary="Price of one hour slot, its expected audience and the factors applied")
    async def slot_price(
        self, principal: AnyAdsRole,
        location_id: Annotated[str, LOCATION],
        time_slot: Annotated[str, Path(max_length=32, description="local hour: 2026-11-30T08")],
        target: Annotated[str, Query(max_length=64)] = "broad",
    ) -> dict[str, Any]:
        await self._ensure_fresh()
        sid = self._slot_id(location_id, time_slot)
        self._table(target)
        key = self.cache.key(sid, {"target": target}, self.version)
        quote = self.cache.lookup(key)
        if quote is cache_aside.MISS:  # by module: a pickled copy of MISS is not MISS
            quote = slot_quote(self._row(target, sid), self.card.currency)
            self.cache.store(key, quote, tags=[f"loc:{location_id}"])
        booked = self.bookings.is_booked(sid)
        return {**quote, "available": not booked, "priced_at": self.priced_at}

    @app.post("/pricing/optimize",
              summary="The free slots that maximise targeted attentive audience within budget")
    async def optimize(self, principal: AnyAdsRole, request: PlanRequest) -> dict[str, Any]:
        await self._ensure_fresh()
        table = self._table(request.target)
        start = datetime.combine(request.start_date, datetime.min.time())
        end = datetime.combine(request.end_date + timedelta(days=1), datetime.min.time())
        try:
            pool = candidates(table, request.target, start, end, request.locations,
                              request.age_bands, request.genders)
        except ValueError as exc:
            raise ApiError(422, "invalid_parameters", str(exc)) from exc
        caps = dict(request.slot_caps or {})
        if request.max_slots_per_location is not None:
            for location in set(pool["location_id"].to_pylist()):
                caps.setdefault(location, request.max_slots_per_location)
        booked = self.bookings.booked_slot_ids()
        try:
            plan: OptimisedPlan = await asyncio.to_thread(
                optimise_slots, pool, request.budget, caps, booked)
        except NoSlotFits as exc:
            raise ApiError(422, exc.reason, exc.detail) from exc
        return {"currency": self.card.currency, "target": request.target,
                "budget": request.budget, "best": _plan_json(plan.best),
                "runner_up": _plan_json(plan.runner_up) if plan.runner_up else None,
                "optimality_gap": plan.optimality_gap,
                "candidates_considered": plan.candidates_considered,
                "forecast_version": self.version}

    @app.get("/pricing/forecast/{location_id}",
             summary="Next 7 days hour by hour: prices and audience with P10/P50/P90")
    async def forecast(
        self, principal: AnyAdsRole, location_id: Annotated[str, LOCATION],
        target: Annotated[str, Query(max_length=64)] = "broad",
    ) -> dict[str, Any]:
        await self._ensure_fresh()
        table = self._table(target)
        rows = table.filter(pc.equal(table["location"], location_id))
        if rows.num_rows == 0:
            raise ApiError(404, "not_found", f"no forecast for location {location_id!r}")
        hours = [slot_quote(row, self.card.currency) for row in rows.to_pylist()]
        return {"location_id": location_id, "target": target, "currency": self.card.currency,
                "forecast_version": self.version, "hours": hours}

    # ---- bookings ----------------------------------------------------------------------------

    def _acting_for(self, principal: Principal, advertiser_id: str | None) -> str:
        if principal.has_any(STAFF):
            if not advertiser_id:
                raise ApiError(422, "invalid_parameters", "staff must name the advertiser_id")
            return advertiser_id
        if advertiser_id and advertiser_id != principal.advertiser_id:
            raise ApiError(403, "forbidden", "advertisers book only for themselves")
        return str(principal.advertiser_id)

    def _owner_filter(self, principal: Principal) -> str | None:
        """None for staff (every booking); the advertiser's own id otherwise."""
        return None if principal.has_any(STAFF) else str(principal.advertiser_id)

    @app.post("/bookings", status_code=201,
              summary="Reserve slots atomically (all or none); Idempotency-Key makes retries "
                      "safe; 409 when any slot is taken")
    async def book(
        self, principal: AnyAdsRole, request: BookingRequest, response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    ) -> Booking:
        await self._ensure_fresh()
        advertiser = self._acting_for(principal, request.advertiser_id)
        self._table(request.target)
        slots = []
        for ref in request.slots:
            sid = self._slot_id(ref.location_id, ref.time_slot)
            row = self._row(request.target, sid)
            slots.append(BookedSlot(slot_id=sid, location_id=ref.location_id,
                                    start=row["slot_start"], price=round(row["price_p50"], 2),
                                    **{f"attentive_{q}": row[f"attentive_{q}"]
                                       for q in ("p10", "p50", "p90")}))
        if len({s.slot_id for s in slots}) != len(slots):
            raise ApiError(422, "invalid_parameters", "the same slot is listed twice")
        try:
            booking, replayed = self.bookings.book(advertiser, slots, self.card.currency,
                                                   idempotency_key)
        except SlotsTaken as exc:
            raise ApiError(409, "conflict", {"message": "slots already booked",
                                             "slot_ids": exc.slot_ids}) from exc
        except IdempotencyMismatch as exc:
            raise ApiError(422, "idempotency_key_reused", str(exc)) from exc
        if replayed:
            response.status_code = 200
            response.headers["Idempotent-Replay"] = "true"
        return booking

    @app.get("/bookings", summary="Your bookings (staff: everyone's, or one advertiser's)")
    async def list_bookings(
        self, principal: AnyAdsRole,
        advertiser_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[Booking]:
        owner = self._owner_filter(principal)
        if owner is not None and advertiser_id not in (None, owner):
            raise ApiError(403, "forbidden", "advertisers see only their own bookings")
        return self.bookings.list(owner or advertiser_id)

    @app.get("/bookings/{booking_id}", summary="One of your bookings")
    async def get_booking(self, principal: AnyAdsRole,
                          booking_id: Annotated[str, Path(max_length=64)]) -> Booking:
        try:
            return self.bookings.get(booking_id, self._owner_filter(principal))
        except BookingNotFound as exc:
            raise ApiError(404, "not_found", f"no booking {booking_id!r}") from exc

    @app.delete("/bookings/{booking_id}",
                summary="Cancel one of your bookings; its slots become free again")
    async def cancel_booking(self, principal: AnyAdsRole,
                             booking_id: Annotated[str, Path(max_length=64)]) -> Booking:
        try:
            booking, changed = self.bookings.cancel(booking_id, self._owner_filter(principal))
        except BookingNotFound as exc:
            raise ApiError(404, "not_found", f"no booking {booking_id!r}") from exc
        if changed:
            self._notify_freed(booking)
        return booking

    def _notify_freed(self, booking: Booking) -> None:
        preferences = self.preferences.all()
        if not preferences or not self.catalogue:
            return
        freed = {s.slot_id for s in booking.slots}
        for target, table in self.catalogue.items():
            rows = table.filter(pc.is_in(table["slot_id"], pa.array(sorted(freed))))
            self.outbox.publish(freed_slot_notifications(
                self._offers(target, rows), preferences, except_advertiser=booking.advertiser_id))

    # ---- preferences and notifications -----------------------------------------------------

    def _advertiser(self, principal: Principal) -> str:
        if not principal.advertiser_id:
            raise ApiError(403, "forbidden", "only advertiser keys keep preferences")
        return principal.advertiser_id

    @app.put("/preferences", summary="Save which slots you want to hear about")
    async def put_preferences(self, principal: AnyAdsRole,
                              preference: Preference) -> Preference:
        if preference.target not in self.card.demographic_targets:
            raise ApiError(422, "invalid_parameters", f"unknown target {preference.target!r}")
        self.preferences.put(self._advertiser(principal), preference)
        return preference

    @app.get("/preferences", summary="Your saved notification preferences")
    async def get_preferences(self, principal: AnyAdsRole) -> Preference:
        preference = self.preferences.get(self._advertiser(principal))
        if preference is None:
            raise ApiError(404, "not_found", "no preferences saved")
        return preference

    @app.get("/notifications", summary="Your newest price-drop and slot-freed notifications")
    async def notifications(self, principal: AnyAdsRole,
                            limit: Annotated[int, Query(ge=1, le=500)] = 50,
                            ) -> list[AdNotification]:
        return self.outbox.read(self._advertiser(principal), limit)

    @app.get("/health")
    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "forecast_version": self.version,
                "priced_slots": sum(t.num_rows for t in self.catalogue.values()),
                **self.protection.health()}

    # ---- portal views: explorer, campaign results, operations -------------------------------

    @app.get("/pricing/locations",
             summary="Every priced location with its coming week at a glance, and the rate "
                     "card's targets, age bands and genders")
    async def locations(self, principal: AnyAdsRole,
                        target: Annotated[str, Query(max_length=64)] = "broad",
                        ) -> dict[str, Any]:
        await self._ensure_fresh()
        return {"currency": self.card.currency, "target": target,
                "targets": sorted(self.catalogue), "age_bands": list(AGE_BANDS),
                "genders": list(GENDERS), "forecast_version": self.version,
                "locations": location_summaries(self._table(target))}

    @app.get("/pricing/week/{location_id}",
             summary="A location's coming week as day x hour matrices: prices and expected "
                     "attentive audience with P10/P50/P90, and which hours are booked")
    async def pricing_week(self, principal: AnyAdsRole, location_id: Annotated[str, LOCATION],
                           target: Annotated[str, Query(max_length=64)] = "broad",
                           ) -> dict[str, Any]:
        await self._ensure_fresh()
        rows = location_rows(self._table(target), location_id)
        if rows.num_rows == 0:
            raise ApiError(404, "not_found", f"no forecast for location {location_id!r}")
        return {"location_id": location_id, "location_type": rows["location_type"][0].as_py(),
                "target": target, "currency": self.card.currency,
                "forecast_version": self.version,
                **week_grid(rows, self.bookings.booked_slot_ids())}

    def _visible_booking(self, principal: Principal, booking_id: str) -> Booking:
        try:
            return self.bookings.get(booking_id, self._owner_filter(principal))
        except BookingNotFound as exc:
            raise ApiError(404, "not_found", f"no booking {booking_id!r}") from exc

    def _results(self, booking: Booking) -> dict[str, Any]:
        """Delivered vs forecast attentive audience of one booking, as of now."""
        locations = {slot.location_id for slot in booking.slots}
        days = [slot.start.date() for slot in booking.slots]
        now = {loc: datetime.now(ZoneInfo(self.zones.get(loc, "UTC"))).replace(tzinfo=None)
               for loc in locations}
        delivered = delivered_audience(self.lake, locations, min(days), max(days), self.zones)
        return {**campaign_results(booking, delivered, now), "as_of": time.time()}

    @app.get("/bookings/{booking_id}/results",
             summary="Attentive audience each booked slot delivered (camera data in the "
                     "lake) against its forecast when booked")
    async def booking_results(self, principal: AnyAdsRole,
                              booking_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        return await asyncio.to_thread(self._results, self._visible_booking(principal, booking_id))

    @app.get("/bookings/{booking_id}/results/live", **EVENT_STREAM,
             summary="Server-sent events: the booking's results again whenever they change")
    async def live_booking_results(
        self, request: Request, principal: AnyAdsRole,
        booking_id: Annotated[str, Path(max_length=64)],
        every_s: Annotated[float, Query(ge=1, le=300)] = 10.0,
    ) -> StreamingResponse:
        booking = self._visible_booking(principal, booking_id)

        async def changes() -> AsyncIterator[str]:
            sent = None
            while True:
                results = await asyncio.to_thread(self._results, booking)
                body = json.dumps({k: v for k, v in results.items() if k != "as_of"})
                if body != sent:
                    sent = body
                    yield _event(str(int(results["as_of"] * 1000)), "results", results)
                await asyncio.sleep(every_s)
                yield ""  # a quiet tick

        return _event_stream(request, changes())

    @app.get("/operations/cameras",
             summary="Staff: each camera's status and its last 15-minute window")
    async def camera_status(self, principal: StaffRole) -> list[dict[str, Any]]:
        demo_keys = [camera_key(c.id, "window") for c in self.demo_cameras]
        demo_live = self.redis.mget(demo_keys) if demo_keys else []
        cameras = [*self.cameras, *(c for c, raw in zip(self.demo_cameras, demo_live,
                                                         strict=True) if raw)]
        live = self.redis.mget([camera_key(c.id, "window") for c in cameras]) if cameras else []
        return camera_statuses(cameras, live, time.time())

    @app.get("/operations/attention",
             summary="Staff: attention rate by location and hour of day (advertising mart)")
    async def attention(self, principal: StaffRole,
                        days: Annotated[int, Query(ge=1, le=366)] = 28) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            metrics = self.lake.read(ADVERTISING_METRICS,
                                     columns=["location", "date", "hour", "crowd", "attentive"])
            if metrics.num_rows:
                last = date.fromisoformat(pc.max(metrics["date"]).as_py())
                since = (last - timedelta(days=days - 1)).isoformat()
                metrics = metrics.filter(pc.greater_equal(metrics["date"], since))
            return {"days": days, **attention_by_hour(metrics)}

        return await asyncio.to_thread(read)

    @app.get("/operations/alerts",
             summary="Staff: newest camera alerts and ad notifications, one list")
    async def operations_alerts(self, principal: StaffRole,
                                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                                ) -> list[dict[str, Any]]:
        found = {source: self.redis.xrevrange(key, count=limit)
                 for source, key in self.alert_streams.items()}
        return newest_alerts(found, limit)

    @app.get("/operations/alerts/live", **EVENT_STREAM,
             summary="Staff: server-sent events of new camera alerts and ad notifications; "
                     "the event id resumes both streams (Last-Event-ID)")
    async def live_operations_alerts(
        self, request: Request, principal: StaffRole,
        last_event_id: Annotated[str | None, Header(max_length=80)] = None,
    ) -> StreamingResponse:
        after = self._stream_positions(last_event_id)
        source_of = {key: source for source, key in self.alert_streams.items()}

        async def arrivals() -> AsyncIterator[str]:
            while True:
                found = await asyncio.to_thread(
                    self.redis.xread, {self.alert_streams[s]: after[s] for s in after})
                by_source = {source: [] for source in after}
                for key, entries in found or []:
                    by_source[source_of[as_text(key)]] = entries
                rows = newest_alerts(by_source, sum(map(len, by_source.values())))
                for row in reversed(rows):
                    after[row["source"]] = row["id"]
                    yield _event(",".join(after[s] for s in sorted(after)), "alert", row)
                if not rows:
                    await asyncio.sleep(LIVE_POLL_S)
                    yield ""  # a quiet tick

        return _event_stream(request, arrivals())

    def _stream_positions(self, last_event_id: str | None) -> dict[str, str]:
        """Where each alert stream resumes: the Last-Event-ID (ids joined by commas, sources
        in name order) or each stream's newest entry."""
        sources = sorted(self.alert_streams)
        if last_event_id is None:
            newest = {s: self.redis.xrevrange(self.alert_streams[s], count=1) for s in sources}
            return {s: (e[0][0].decode() if e else "0-0") for s, e in newest.items()}
        ids = last_event_id.split(",")
        if len(ids) != len(sources) or not all(map(_is_stream_id, ids)):
            raise ApiError(422, "invalid_parameters", [{
                "field": "Last-Event-ID",
                "message": f"expected {len(sources)} stream ids joined by commas"}])
        return dict(zip(sources, ids, strict=True))


def build_app(args: dict[str, str] | None = None) -> serve.Application:
    """Application builder named by cluster/cluster.yaml (settings come from the env)."""
    return AdPricingAPI.bind()
