"""Flash-sale opportunity: many days of supply on hand while demand runs above its average."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from core.alerts import AlertKind, Severity
from core.monitor.config import FlashSaleConfig
from core.monitor.expiry import pop_expired, touch
from core.monitor.observations import MICROS_PER_HOUR, Finding, Observation

Key = tuple[str, str]


class FlashSaleRule:
    """Keeps units sold per product-location in hourly buckets. The recent window is the last
    `recent_hours` hours including the current one; the trailing window is the hours before it
    (up to `trailing_days`, from the first hour seen), empty hours counting as zero sales."""

    def __init__(self, config: FlashSaleConfig) -> None:
        self.config = config
        self.reach_hours = config.trailing_days * 24 + config.recent_hours
        self.units_by_hour: OrderedDict[Key, dict[int, int]] = OrderedDict()
        self.first_hour: dict[Key, int] = {}
        self.dead_before_hour: int | None = None

    def observe(self, obs: Observation) -> Finding | None:
        if obs.units_sold is None or obs.inventory_level is None:
            return None
        key = (obs.product_id, obs.store_id)
        hour = obs.ts_us // MICROS_PER_HOUR
        buckets = self.units_by_hour.get(key, {})
        buckets[hour] = buckets.get(hour, 0) + obs.units_sold
        touch(self.units_by_hour, key, buckets)
        first = self.first_hour[key] = min(self.first_hour.get(key, hour), hour)

        cfg = self.config
        recent_start = hour - cfg.recent_hours + 1
        trailing_start = max(first, recent_start - cfg.trailing_days * 24)
        trailing_hours = recent_start - trailing_start
        if trailing_hours < cfg.min_history_hours:
            return None
        trailing_units = recent_units = 0
        dead = []
        for bucket_hour, units in buckets.items():
            if trailing_start <= bucket_hour < recent_start:
                trailing_units += units
            elif recent_start <= bucket_hour <= hour:
                recent_units += units
            elif self.dead_before_hour is not None and bucket_hour < self.dead_before_hour:
                dead.append(bucket_hour)
        for bucket_hour in dead:
            del buckets[bucket_hour]
        if trailing_units <= 0 or obs.inventory_level <= 0:
            return None
        trailing_rate = trailing_units / trailing_hours
        recent_rate = recent_units / cfg.recent_hours
        days_of_supply = obs.inventory_level / (trailing_rate * 24)
        if days_of_supply <= cfg.min_days_of_supply:
            return None
        if recent_rate <= trailing_rate * cfg.demand_ratio:
            return None
        markdown = cfg.suggested_markdown_pct
        return Finding(
            kind=AlertKind.FLASH_SALE,
            severity=Severity.INFO,
            dedup_key=f"flash_sale:{obs.product_id}:{obs.store_id}",
            observation=obs,
            evidence={
                "inventory_level": float(obs.inventory_level),
                "days_of_supply": round(days_of_supply, 2),
                "recent_units_per_hour": round(recent_rate, 4),
                "trailing_units_per_hour": round(trailing_rate, 4),
                "price": obs.price,
            },
            action=(
                f"{days_of_supply:.0f} days of supply while demand runs "
                f"{recent_rate / trailing_rate:.1f}x its average: run a {markdown:.0f}% flash sale."
            ),
            suggested_price=round(obs.price * (1 - markdown / 100), 2) if markdown else None,
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget hours outside every window of a row at or after `oldest_row_us` (old hours of
        product-locations still seen are dropped when they are next judged)."""
        self.dead_before_hour = oldest_row_us // MICROS_PER_HOUR - self.reach_hours
        for key, _ in pop_expired(self.units_by_hour, self.dead_before_hour, max):
            del self.first_hour[key]

    def state_dict(self) -> list[Any]:
        return [
            [*key, self.first_hour[key], [[hour, units] for hour, units in buckets.items()]]
            for key, buckets in self.units_by_hour.items()
        ]

    def load_state(self, state: list[Any]) -> None:
        self.units_by_hour = OrderedDict(
            ((product, store), {int(hour): int(units) for hour, units in buckets})
            for product, store, _first, buckets in state
        )
        self.first_hour = {(product, store): int(first) for product, store, first, _ in state}
