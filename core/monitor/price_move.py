"""Sudden price move: a product-location's price moves more than X% within a sliding window."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from core.alerts import AlertKind
from core.monitor.config import PriceMoveConfig
from core.monitor.expiry import pop_expired, touch
from core.monitor.observations import MICROS_PER_SECOND, Finding, Observation, severity_for

Key = tuple[str, str]
History = list[tuple[int, float]]


def _newest(history: History) -> int:
    return max(ts_us for ts_us, _ in history)


class PriceMoveRule:
    """Compares each price with the lowest and highest price of the same product-location
    observed within `window_minutes` of it (either side, so slightly late rows count too)."""

    def __init__(self, config: PriceMoveConfig) -> None:
        self.config = config
        self.window_us = int(config.window_minutes * 60 * MICROS_PER_SECOND)
        self.history: OrderedDict[Key, History] = OrderedDict()
        self.dead_before_us: int | None = None

    def observe(self, obs: Observation) -> Finding | None:
        key = (obs.product_id, obs.store_id)
        history = self.history.get(key, [])
        if history and self.dead_before_us is not None and history[0][0] < self.dead_before_us:
            history = [entry for entry in history if entry[0] >= self.dead_before_us]
        low = high = None
        for ts_us, price in history:
            if abs(obs.ts_us - ts_us) <= self.window_us:
                if low is None or price < low[1]:
                    low = (ts_us, price)
                if high is None or price > high[1]:
                    high = (ts_us, price)
        history.append((obs.ts_us, obs.price))
        touch(self.history, key, history)
        if low is None or high is None:
            return None
        rise_pct = (obs.price / low[1] - 1.0) * 100.0
        drop_pct = (1.0 - obs.price / high[1]) * 100.0
        if max(rise_pct, drop_pct) <= self.config.threshold_pct:
            return None
        rising = rise_pct >= drop_pct
        ref_ts, ref_price = low if rising else high
        change_pct = rise_pct if rising else -drop_pct
        direction = "up" if rising else "down"
        minutes = abs(obs.ts_us - ref_ts) / (60 * MICROS_PER_SECOND)
        return Finding(
            kind=AlertKind.PRICE_MOVE,
            severity=severity_for(change_pct, self.config.critical_pct),
            dedup_key=f"price_move:{obs.product_id}:{obs.store_id}:{direction}",
            observation=obs,
            evidence={
                "price": obs.price,
                "reference_price": ref_price,
                "change_pct": round(change_pct, 4),
                "minutes_apart": round(minutes, 2),
                "threshold_pct": self.config.threshold_pct,
            },
            action=(
                f"Price went {direction} {abs(change_pct):.1f}% from {ref_price:.2f} to "
                f"{obs.price:.2f} within {minutes:.0f} min: confirm the change is intended."
            ),
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget prices no row at or after `oldest_row_us` can be compared with (old prices of
        product-locations still seen are dropped when they are next observed)."""
        self.dead_before_us = oldest_row_us - self.window_us
        pop_expired(self.history, self.dead_before_us, _newest)

    def state_dict(self) -> list[Any]:
        return [[*key, [list(entry) for entry in history]] for key, history in self.history.items()]

    def load_state(self, state: list[Any]) -> None:
        self.history = OrderedDict(
            ((product, store), [(int(ts), float(price)) for ts, price in history])
            for product, store, history in state
        )
