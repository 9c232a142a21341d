"""Alerts with a suggested price enter the review queue: a Redis consumer group on the alert
stream hands each alert to one reader (a `retail` replica refreshing the queue when it is
read, or the nightly `recommend_catalog` job), which values the suggested price with the
demand model, queues the item and acknowledges the alert. An alert a reader took but did
not acknowledge (it died) is claimed again after CLAIM_IDLE_MS.

    intake = AlertIntake(client, "dynaprice:alerts", "review-queue", consumer="replica-1")
    taken = intake.take()
    plan = AlertValuation.of([a for _, a in taken], catalog)
    units = model.predict_units(plan.rows, plan.prices.reshape(-1))[1]   # if any modelled
    queue.add(plan.items(units, now)); intake.ack([i for i, _ in taken])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import redis

from core.alerts import Alert
from core.redis_text import as_text
from core.retail.pricing_catalog import PricingCatalog
from core.retail.review import ReviewItem, item_from_alert
from core.retail.scenarios import priced_inputs, scenario_results

CLAIM_IDLE_MS = 60_000



class AlertIntake:
    """One consumer of the review group on the alert stream."""

    def __init__(self, client: Any, stream_key: str, group: str, consumer: str,
                 claim_idle_ms: int = CLAIM_IDLE_MS) -> None:
        self.client, self.stream_key = client, stream_key
        self.group, self.consumer = group, consumer
        self.claim_idle_ms = claim_idle_ms
        self._group_ready = False

    def _ensure_group(self) -> None:
        """The group starts at the stream's end: alerts from before it existed stay out."""
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.stream_key, self.group, id="$", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def take(self, count: int = 500) -> list[tuple[str, Alert]]:
        """Alerts abandoned by a dead reader, then new ones (at most `count` of each)."""
        self._ensure_group()
        _, reclaimed, *_ = self.client.xautoclaim(self.stream_key, self.group, self.consumer,
                                                  self.claim_idle_ms, "0-0", count=count)
        fresh = self.client.xreadgroup(self.group, self.consumer, {self.stream_key: ">"},
                                       count=count) or []
        entries = list(reclaimed) + [e for _, batch in fresh for e in batch]
        taken, unreadable = [], []
        for entry_id, fields in entries:
            raw = {as_text(k): as_text(v) for k, v in (fields or {}).items()}
            if "alert" in raw:
                taken.append((as_text(entry_id), Alert.model_validate_json(raw["alert"])))
            else:
                unreadable.append(as_text(entry_id))  # trimmed meanwhile: nothing to queue
        self.ack(unreadable)
        return taken

    def ack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.client.xack(self.stream_key, self.group, *entry_ids)


@dataclass(frozen=True)
class AlertValuation:
    """Alerts with a suggested price for a product-location the catalog knows, and the model
    inputs valuing that price against the status quo."""

    alerts: list[Alert]
    contexts: pa.Table
    new_prices: np.ndarray
    rows: pa.Table
    prices: np.ndarray  # [2n, 1]: status quo, then suggested
    catalog: PricingCatalog

    @classmethod
    def of(cls, alerts: Sequence[Alert], catalog: PricingCatalog) -> AlertValuation:
        """Valued on the day of the newest alert (alerts taken together are close in time)."""
        priced = [a for a in alerts if a.suggested_action.price is not None
                  and a.suggested_action.price > 0]
        rows, missing = catalog.rows_of([(a.product_id, a.location) for a in priced])
        known = [a for i, a in enumerate(priced) if i not in set(missing)]
        contexts = catalog.contexts.take(pa.array(rows, pa.int64()))
        new = np.array([a.suggested_action.price for a in known], dtype=float)
        day = max((a.source_ts.date() for a in known), default=None)
        model_rows, prices = priced_inputs(contexts, new, np.datetime64(day, "D"))
        return cls(known, contexts, new, model_rows, prices, catalog)

    def items(self, units: np.ndarray | None, now: datetime) -> list[ReviewItem]:
        """Review items; `units` are the model's P50 for `rows` (None: no model)."""
        valuations: list[dict[str, Any] | None] = [None] * len(self.alerts)
        if units is not None and self.alerts:
            rules = [self.catalog.rules.for_category(c)
                     for c in self.contexts["category"].to_pylist()]
            valuations = scenario_results(self.contexts, self.new_prices, units, rules)
        current = self.contexts["current_price"].to_pylist()
        versions = (self.catalog.versions.model, self.catalog.versions.features)
        return [item_from_alert(alert, price, valuation, versions, now)
                for alert, price, valuation in zip(self.alerts, current, valuations,
                                                   strict=True)]
