"""Sudden price move: a product-location's price moves more than X% within a sliding window."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.alerts import AlertKind
from core.monitor.config import PriceMoveConfig
from core.monitor.rows import (
    MICROS_PER_SECOND,
    Description,
    Finding,
    KeyIndex,
    Rows,
    group_starts,
    severity_for,
)


def earlier_pairs(group_start: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(target number, position) for every position before each target within its key group."""
    counts = targets - group_start[targets]
    target_of_pair = np.repeat(np.arange(len(targets)), counts)
    first_pair = np.cumsum(counts) - counts
    positions = group_start[targets][target_of_pair] + (
        np.arange(counts.sum()) - first_pair[target_of_pair])
    return target_of_pair, positions


class PriceMoveRule:
    """Compares each price with the lowest and highest price of the same product-location
    observed before it within `window_minutes` of it (either side, so slightly late rows count
    too). History is one flat array of (key, ts, price) kept sorted by key in arrival order."""

    def __init__(self, config: PriceMoveConfig, keys: KeyIndex) -> None:
        self.config = config
        self.keys = keys
        self.window_us = int(config.window_minutes * 60 * MICROS_PER_SECOND)
        self.key = np.empty(0, np.int64)
        self.ts = np.empty(0, np.int64)
        self.price = np.empty(0, np.float64)

    def observe(self, rows: Rows) -> list[Finding]:
        by_key = np.argsort(rows.key, kind="stable")  # per key, in time order
        batch_key = rows.key[by_key]
        held = self._history_of(np.unique(batch_key))
        # the batch's keys only: their history, then the batch's rows, grouped by key
        merge = np.argsort(np.concatenate([self.key[held], batch_key]), kind="stable")
        key = np.concatenate([self.key[held], batch_key])[merge]
        ts = np.concatenate([self.ts[held], rows.ts[by_key]])[merge]
        price = np.concatenate([self.price[held], rows.price[by_key]])[merge]
        at = np.searchsorted(self.key, batch_key, "right")
        self.key = np.insert(self.key, at, batch_key)
        self.ts = np.insert(self.ts, at, rows.ts[by_key])
        self.price = np.insert(self.price, at, rows.price[by_key])

        targets = np.flatnonzero(merge >= len(held))  # each batch row, after its history
        row_of_target = by_key[merge[targets] - len(held)]
        target_of_pair, earlier = earlier_pairs(group_starts(key), targets)
        near = np.abs(ts[earlier] - ts[targets][target_of_pair]) <= self.window_us
        target_of_pair, earlier = target_of_pair[near], earlier[near]
        if len(earlier) == 0:
            return []
        starts = np.flatnonzero(np.diff(target_of_pair, prepend=-1))
        judged = targets[target_of_pair[starts]]
        judged_rows = row_of_target[target_of_pair[starts]]
        prices = price[earlier]
        low = np.minimum.reduceat(prices, starts)
        high = np.maximum.reduceat(prices, starts)
        own = price[judged]
        rise_pct = (own / low - 1.0) * 100.0
        drop_pct = (1.0 - own / high) * 100.0
        hits = np.flatnonzero(np.maximum(rise_pct, drop_pct) > self.config.threshold_pct)
        if len(hits) == 0:
            return []
        rising = rise_pct[hits] >= drop_pct[hits]
        reference = np.where(rising, low[hits], high[hits])
        segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(prices))))
        reference_of_segment = np.full(len(starts), np.nan)
        reference_of_segment[hits] = reference
        # the first price (in arrival order) equal to the reference, as a row-by-row scan finds
        is_reference = prices == reference_of_segment[segment]
        first = np.minimum.reduceat(
            np.where(is_reference, np.arange(len(prices)), len(prices)), starts)[hits]
        ref_ts = ts[earlier[first]]
        change_pct = np.where(rising, rise_pct[hits], -drop_pct[hits])
        return [
            self._finding(rows, int(row), new_price, ref, change, minutes)
            for row, new_price, ref, change, minutes in zip(
                judged_rows[hits].tolist(), own[hits].tolist(), reference.tolist(),
                change_pct.tolist(),
                (np.abs(ts[judged[hits]] - ref_ts) / (60 * MICROS_PER_SECOND)).tolist(),
                strict=True)
        ]

    def _finding(self, rows: Rows, row: int, price: float, ref_price: float, change_pct: float,
                 minutes: float) -> Finding:
        direction = "up" if change_pct >= 0 else "down"
        return Finding(
            row, 0, AlertKind.PRICE_MOVE, severity_for(change_pct, self.config.critical_pct),
            f"price_move:{rows.product[row]}:{rows.store[row]}:{direction}", self,
            (direction, price, ref_price, change_pct, minutes))

    def describe(self, finding: Finding) -> Description:
        direction, price, ref_price, change_pct, minutes = finding.facts
        return Description(
            evidence={
                "price": price,
                "reference_price": ref_price,
                "change_pct": round(change_pct, 4),
                "minutes_apart": round(minutes, 2),
                "threshold_pct": self.config.threshold_pct,
            },
            action=(
                f"Price went {direction} {abs(change_pct):.1f}% from {ref_price:.2f} to "
                f"{price:.2f} within {minutes:.0f} min: confirm the change is intended."
            ),
        )

    def _history_of(self, keys: np.ndarray) -> np.ndarray:
        """Positions of the held prices of `keys` (sorted, unique), grouped by key."""
        low = np.searchsorted(self.key, keys, "left")
        counts = np.searchsorted(self.key, keys, "right") - low
        return np.repeat(low - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())

    def prune(self, oldest_row_us: int) -> None:
        """Forget prices no row at or after `oldest_row_us` can be compared with."""
        keep = self.ts >= oldest_row_us - self.window_us
        self.key, self.ts, self.price = self.key[keep], self.ts[keep], self.price[keep]

    def state_table(self) -> pa.Table:
        names = [self.keys.names[k] for k in self.key.tolist()]
        return pa.table({
            "product_id": [n[0] for n in names], "store_id": [n[1] for n in names],
            "ts": self.ts, "price": self.price,
        })

    def load_state(self, table: pa.Table) -> None:
        keys = self.keys.lookup(zip(table["product_id"].to_pylist(),
                                    table["store_id"].to_pylist(), strict=True))
        order = np.argsort(keys, kind="stable")
        self.key = keys[order]
        self.ts = table["ts"].to_numpy()[order]
        self.price = table["price"].to_numpy()[order]
