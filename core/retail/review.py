"""The recommendation review queue: items from the nightly catalogue batch and from alerts with
a suggested price wait for a pricing manager to approve, reject or override them.

State lives in Redis so every replica agrees. Each item is a hash `PREFIX:item:ID` (`doc`:
the item as JSON, `status`, `decision`); sorted sets `PREFIX:status:STATUS` (and
`PREFIX:order` for all items) hold ids by creation time; `PREFIX:pair:PRODUCT|LOCATION`
names the newest item of a product-location. Adding and deciding are Lua scripts, so:

- adding is idempotent (an id is added once; a replayed batch or alert changes nothing),
  and a newer item for the same product-location supersedes a pending older one;
- an item is decided exactly once: a second decision, by anyone, is `AlreadyDecided` (409).

    queue = ReviewQueue(redis_client)
    queue.add([item_from_recommendation(doc, now)])
    queue.decide(item_id, Decision(action="approve", by="ann", role="pricing-manager", ...))
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.alerts import Alert, WebhookConfig
from core.config_files import load_config
from core.redis_text import as_text
from core.retail.price_endings import has_ending
from core.retail.rules import EPS, RuleSet, price_bounds

Status = Literal["pending", "approved", "rejected", "overridden", "superseded"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "rejected", "overridden", "superseded")
Action = Literal["approve", "reject", "override"]
STATUS_OF: dict[Action, Status] = {"approve": "approved", "reject": "rejected",
                                   "override": "overridden"}
DEFAULT_PREFIX = "dynaprice:review"
_ITEM_NAMESPACE = uuid.UUID("0b6f3f1e-5d1e-4c3a-9a51-6f0c2d9e7a21")
MAX_SCAN = 20_000  # newest items a filtered page looks through


class Measures(BaseModel):
    """Expected (P50) daily units, revenue and margin at one price."""

    units: float
    revenue: float
    margin: float


class Decision(BaseModel):
    """What a pricing manager decided about an item."""

    action: Action
    by: str
    role: str
    at: datetime
    price_before: float = Field(description="the store's price when the decision was taken")
    price: float | None = Field(None, description="the published price (approve, override)")
    reason: str | None = None
    expected: Measures | None = Field(None, description="predicted daily figures at `price`")


class ReviewItem(BaseModel):
    """One recommendation waiting for (or having had) a decision."""

    id: str
    source: Literal["batch", "alert"]
    status: Status = "pending"
    product_id: str
    location_id: str
    region: str
    category: str
    current_price: float
    recommended_price: float
    target_date: date = Field(description="the day the predictions are for")
    expected: Measures | None = Field(None, description="predicted at the recommended price")
    status_quo: Measures | None = Field(None, description="predicted at the current price")
    method: str
    note: str | None = None
    severity: str | None = None
    alert_id: str | None = None
    model_version: str | None = None
    feature_version: str | None = None
    created_at: datetime
    superseded_by: str | None = None
    decision: Decision | None = None


class QueueFilter(BaseModel):
    """Which items a page holds (unset = any)."""

    status: Status | None = "pending"
    source: Literal["batch", "alert"] | None = None
    region: str | None = Field(None, max_length=64)
    category: str | None = Field(None, max_length=64)
    product_id: str | None = Field(None, max_length=64)
    location_id: str | None = Field(None, max_length=64)
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class QueuePage(BaseModel):
    count: int = Field(description="items matching the filter (of the newest scanned)")
    items: list[ReviewItem]


class PublishedStream(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = "dynaprice:prices:published"
    maxlen: int = Field(100_000, gt=0)


class ReviewConfig(BaseModel):
    """configs/review.yaml."""

    model_config = ConfigDict(extra="forbid")

    queue_prefix: str = DEFAULT_PREFIX
    min_change_pct: float = Field(1.0, ge=0, description="smaller batch moves are not queued")
    alert_group: str = Field("review-queue", description="consumer group on the alert stream")
    published_stream: PublishedStream = PublishedStream()
    webhook: WebhookConfig | None = None

    @classmethod
    def load(cls, configs_dir: Any = None) -> ReviewConfig:
        return load_config("review", cls, configs_dir)


class ItemNotFound(LookupError):
    pass


class AlreadyDecided(RuntimeError):
    def __init__(self, item: ReviewItem) -> None:
        super().__init__(f"item {item.id} is {item.status} already")
        self.item = item


def item_id(*parts: object) -> str:
    """The same parts always give the same id (so replays add nothing)."""
    return uuid.uuid5(_ITEM_NAMESPACE, "|".join(map(str, parts))).hex


def _measures(outcome: dict[str, Any] | None) -> Measures | None:
    """Measures of a pricing Outcome document (its P50s)."""
    if not outcome:
        return None
    return Measures(**{k: outcome[k]["p50"] for k in ("units", "revenue", "margin")})


def item_from_recommendation(doc: dict[str, Any], region: str, created_at: datetime
                             ) -> ReviewItem:
    """A batch item from a Recommendation document (core.retail.pricing)."""
    return ReviewItem(
        id=item_id("batch", doc["product_id"], doc["location_id"], doc["target_date"],
                   doc["model_version"], doc["objective"]),
        source="batch", product_id=doc["product_id"], location_id=doc["location_id"],
        region=region, category=doc["rules"]["category"],
        current_price=doc["current_price"], recommended_price=doc["price"],
        target_date=date.fromisoformat(doc["target_date"]),
        expected=_measures(doc.get("expected")), status_quo=_measures(doc.get("status_quo")),
        method=doc["method"], note=doc.get("risk") or doc.get("fallback_reason"),
        model_version=doc.get("model_version"), feature_version=doc.get("feature_version"),
        created_at=created_at)


def worth_reviewing(doc: dict[str, Any], min_change_pct: float) -> bool:
    """A recommendation moving the price by at least `min_change_pct` percent."""
    return abs(doc["price"] / doc["current_price"] - 1) * 100 >= min_change_pct - EPS


def item_from_alert(alert: Alert, current_price: float, valuation: dict[str, Any] | None,
                    versions: tuple[str | None, str | None], created_at: datetime
                    ) -> ReviewItem:
    """An alert item; `valuation` is a scenario result (core.retail.scenarios) at the
    suggested price, when a model could value it."""
    assert alert.suggested_action.price is not None
    expected = status_quo = None
    if valuation is not None:
        keep = ("units", "revenue", "margin")
        status_quo = Measures(**{k: valuation["status_quo"][k] for k in keep})
        expected = Measures(**{k: valuation["scenario"][k] for k in keep})
    return ReviewItem(
        id=item_id("alert", alert.id), source="alert", product_id=alert.product_id,
        location_id=alert.location, region=alert.region or "", category=alert.category or "",
        current_price=current_price, recommended_price=alert.suggested_action.price,
        target_date=alert.source_ts.date(), expected=expected, status_quo=status_quo,
        method=f"alert:{alert.kind}",
        note=alert.suggested_action.text, severity=alert.severity, alert_id=alert.id,
        model_version=versions[0], feature_version=versions[1], created_at=created_at)


def price_problems(price: float, rules: RuleSet, cost: float, reference: float,
                   competitor: float) -> list[str]:
    """Why `price` breaks the rules of a product-location (empty: it keeps them all)."""
    bounds = price_bounds([rules], np.array([cost]), np.array([reference]),
                          np.array([competitor], dtype=float))
    low, high = float(bounds.low[0]), float(bounds.high[0])
    problems = []
    if price < low - EPS:
        problems.append(f"{price:.2f} is below the lowest allowed price {low:.2f} (set by "
                        f"{', '.join(bounds.low_set_by[0])}; cost {cost:.2f}, min_margin "
                        f"{rules.min_margin:.0%})")
    if price > high + EPS:
        problems.append(f"{price:.2f} is above the highest allowed price {high:.2f} (set by "
                        f"{', '.join(bounds.high_set_by[0])})")
    if abs(round(price, 2) - price) > EPS:
        problems.append(f"{price} is not a whole number of cents")
    elif rules.price_endings and not has_ending(np.array([price]), rules.price_endings)[0]:
        endings = ", ".join(f"{e:.2f}" for e in rules.price_endings)
        problems.append(f"{price:.2f} does not end in one of the price endings {endings}")
    return problems


# Adds an item unless its id exists; supersedes a pending older item of the same pair.
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local previous = redis.call('GET', KEYS[3])
if previous then
  local old = ARGV[4] .. ':item:' .. previous
  local old_created = tonumber(redis.call('ZSCORE', KEYS[2], previous) or '0')
  if old_created > tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'status', 'superseded', 'superseded_by', previous)
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    redis.call('ZADD', ARGV[4] .. ':status:superseded', ARGV[3], ARGV[1])
    return 1
  end
  if redis.call('HGET', old, 'status') == 'pending' then
    redis.call('HSET', old, 'status', 'superseded', 'superseded_by', ARGV[1])
    redis.call('ZREM', ARGV[4] .. ':status:pending', previous)
    redis.call('ZADD', ARGV[4] .. ':status:superseded', old_created, previous)
  end
end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'status', 'pending')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', ARGV[4] .. ':status:pending', ARGV[3], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""
# Moves a pending item to ARGV[1] with decision ARGV[2]; {0} absent, {2, status} decided.
_DECIDE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if status ~= 'pending' then return {2, status} end
local created = redis.call('ZSCORE', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'decision', ARGV[2])
redis.call('ZREM', ARGV[4] .. ':status:pending', ARGV[3])
redis.call('ZADD', ARGV[4] .. ':status:' .. ARGV[1], created, ARGV[3])
return {1, status}
"""
# Undoes a decision (its audit entry could not be written): back to pending.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'decision') ~= ARGV[2] then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
local created = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'pending')
redis.call('HDEL', KEYS[1], 'decision')
redis.call('ZREM', ARGV[3] .. ':status:' .. status, ARGV[1])
redis.call('ZADD', ARGV[3] .. ':status:pending', created, ARGV[1])
return 1
"""



class ReviewQueue:
    """The queue in Redis (any client; bytes or decoded responses)."""

    def __init__(self, client: Any, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._add = client.register_script(_ADD)
        self._decide = client.register_script(_DECIDE)
        self._release = client.register_script(_RELEASE)

    def _item_key(self, item_id: str) -> str:
        return f"{self.prefix}:item:{item_id}"

    @property
    def _order(self) -> str:
        return f"{self.prefix}:order"

    def add(self, items: Iterable[ReviewItem]) -> int:
        """Add items not seen before (by id); how many were new."""
        pipe = self.client.pipeline(transaction=False)
        count = 0
        for item in items:
            doc = item.model_dump_json(exclude={"status", "decision", "superseded_by"})
            self._add(keys=[self._item_key(item.id), self._order,
                            f"{self.prefix}:pair:{item.product_id}|{item.location_id}"],
                      args=[item.id, doc, int(item.created_at.timestamp() * 1000),
                            self.prefix], client=pipe)
            count += 1
        return sum(int(added) for added in pipe.execute()) if count else 0

    def _items(self, ids: Sequence[str]) -> list[ReviewItem]:
        pipe = self.client.pipeline(transaction=False)
        for one in ids:
            pipe.hmget(self._item_key(one), "doc", "status", "decision", "superseded_by")
        found = []
        for doc, status, decision, superseded_by in pipe.execute():
            if doc is None:
                continue
            item = ReviewItem.model_validate_json(doc)
            item.status = as_text(status)  # type: ignore[assignment]
            item.superseded_by = as_text(superseded_by)
            if decision is not None:
                item.decision = Decision.model_validate_json(decision)
            found.append(item)
        return found

    def get(self, item_id: str) -> ReviewItem:
        found = self._items([item_id])
        if not found:
            raise ItemNotFound(f"no review item {item_id!r}")
        return found[0]

    def page(self, query: QueueFilter) -> QueuePage:
        """Matching items, newest first (filters on status use an index; the others look
        through the newest MAX_SCAN items of that status)."""
        index = f"{self.prefix}:status:{query.status}" if query.status else self._order
        ids = [as_text(i) for i in self.client.zrevrange(index, 0, MAX_SCAN - 1)]
        wanted = {k: v for k, v in query.model_dump(
            include={"source", "region", "category", "product_id", "location_id"}).items()
            if v is not None}
        if not wanted:
            return QueuePage(count=len(ids), items=self._items(
                ids[query.offset:query.offset + query.limit]))
        matching = [item for item in self._items(ids)
                    if all(getattr(item, k) == v for k, v in wanted.items())]
        return QueuePage(count=len(matching),
                         items=matching[query.offset:query.offset + query.limit])

    def counts(self) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for status in STATUSES:
            pipe.zcard(f"{self.prefix}:status:{status}")
        return dict(zip(STATUSES, pipe.execute(), strict=True))

    def decide(self, item_id: str, decision: Decision) -> ReviewItem:
        """Record `decision` on a pending item, atomically; ItemNotFound or AlreadyDecided."""
        outcome, _ = self._decide(keys=[self._item_key(item_id), self._order],
                                  args=[STATUS_OF[decision.action],
                                        decision.model_dump_json(), item_id, self.prefix])
        if int(outcome) == 0:
            raise ItemNotFound(f"no review item {item_id!r}")
        item = self.get(item_id)
        if int(outcome) == 2:
            raise AlreadyDecided(item)
        return item

    def release(self, item_id: str, decision: Decision) -> bool:
        """Put a decided item back to pending (only while it holds this very decision)."""
        return bool(self._release(keys=[self._item_key(item_id), self._order],
                                  args=[item_id, decision.model_dump_json(), self.prefix]))
