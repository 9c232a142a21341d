"""Flash-sale opportunity: many days of supply on hand while demand runs above its average."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.alerts import AlertKind, Severity
from core.monitor.config import FlashSaleConfig
from core.monitor.rows import (
    MICROS_PER_HOUR,
    Description,
    Finding,
    KeyIndex,
    Rows,
    group_starts,
    grown,
)

NO_HOUR = np.iinfo(np.int64).max
HOUR_BITS = 32  # a bucket's code is key << HOUR_BITS | hour: sorted by key, then hour


def bucket_code(key: np.ndarray, hour: np.ndarray) -> np.ndarray:
    return (key << HOUR_BITS) | hour


class FlashSaleRule:
    """Keeps units sold per product-location in hourly buckets. The recent window is the last
    `recent_hours` hours including the current one; the trailing window is the hours before it
    (up to `trailing_days`, from the first hour seen), empty hours counting as zero sales.
    Buckets are one sorted array of codes with running unit totals, so a window's units are
    two binary searches."""

    def __init__(self, config: FlashSaleConfig, keys: KeyIndex) -> None:
        self.config = config
        self.keys = keys
        self.reach_hours = config.trailing_days * 24 + config.recent_hours
        self.code = np.empty(0, np.int64)
        self.units = np.empty(0, np.int64)
        self.first_hour = np.empty(0, np.int64)

    def observe(self, rows: Rows) -> list[Finding]:
        cfg = self.config
        mine = np.flatnonzero(rows.has_stock_figures)
        if len(mine) == 0:
            return []
        self.first_hour = grown(self.first_hour, len(self.keys), NO_HOUR)
        order = mine[np.argsort(rows.key[mine], kind="stable")]  # per key, in time order
        key, hour, units = rows.key[order], rows.ts[order] // MICROS_PER_HOUR, rows.units[order]
        code = bucket_code(key, hour)  # sorted: hours only rise within a key
        group_first = group_starts(key)
        first = np.minimum(self.first_hour[key], hour[group_first])
        recent_start = hour - cfg.recent_hours + 1
        trailing_start = np.maximum(first, recent_start - cfg.trailing_days * 24)
        trailing_hours = recent_start - trailing_start
        upto = np.arange(len(key)) + 1  # a row counts the earlier rows of the batch and itself
        trailing_units = self._units(key, trailing_start, recent_start - 1, code, units, upto)
        recent_units = self._units(key, recent_start, hour, code, units, upto)
        self._merge(key, hour, code, units, group_first)

        inventory = rows.inventory[order]
        judged = (trailing_hours >= cfg.min_history_hours) & (trailing_units > 0) & (
            inventory > 0)
        trailing_rate = trailing_units / np.where(judged, trailing_hours, 1)
        recent_rate = recent_units / cfg.recent_hours
        days_of_supply = inventory / np.where(judged, trailing_rate * 24, 1.0)
        hits = np.flatnonzero(judged & (days_of_supply > cfg.min_days_of_supply)
                              & (recent_rate > trailing_rate * cfg.demand_ratio))
        return [
            self._finding(rows, row, supply, recent, trailing)
            for row, supply, recent, trailing in zip(
                order[hits].tolist(), days_of_supply[hits].tolist(), recent_rate[hits].tolist(),
                trailing_rate[hits].tolist(), strict=True)
        ]

    def _units(self, key: np.ndarray, start: np.ndarray, end: np.ndarray, code: np.ndarray,
               units: np.ndarray, upto: np.ndarray) -> np.ndarray:
        """Units sold per row in hours [start, end] of its key: the held buckets plus the
        batch's rows up to `upto` (exclusive position)."""
        low, high = bucket_code(key, start), bucket_code(key, np.maximum(end, start - 1))
        held = np.concatenate([[0], np.cumsum(self.units)])
        total = (held[np.searchsorted(self.code, high, "right")]
                 - held[np.searchsorted(self.code, low, "left")])
        batch = np.concatenate([[0], np.cumsum(units)])
        first = np.searchsorted(code, low, "left")
        last = np.minimum(np.searchsorted(code, high, "right"), upto)
        return total + np.where(last > first, batch[last] - batch[np.minimum(first, last)], 0)

    def _merge(self, key: np.ndarray, hour: np.ndarray, code: np.ndarray, units: np.ndarray,
               group_first: np.ndarray) -> None:
        """Add the batch's units to the buckets and note each key's first hour."""
        new_code, first_of_code = np.unique(code, return_index=True)
        new_units = np.add.reduceat(units, first_of_code)
        at = np.searchsorted(self.code, new_code)
        held = at < len(self.code)
        held[held] = self.code[at[held]] == new_code[held]
        self.units[at[held]] += new_units[held]
        self.code = np.insert(self.code, at[~held], new_code[~held])
        self.units = np.insert(self.units, at[~held], new_units[~held])
        starts = np.unique(group_first)
        self.first_hour[key[starts]] = np.minimum(self.first_hour[key[starts]], hour[starts])

    def _finding(self, rows: Rows, row: int, days_of_supply: float, recent_rate: float,
                 trailing_rate: float) -> Finding:
        return Finding(
            row, 1_000_000, AlertKind.FLASH_SALE, Severity.INFO,
            f"flash_sale:{rows.product[row]}:{rows.store[row]}", self,
            (float(rows.inventory[row]), float(rows.price[row]), days_of_supply, recent_rate,
             trailing_rate))

    def describe(self, finding: Finding) -> Description:
        inventory, price, days_of_supply, recent_rate, trailing_rate = finding.facts
        markdown = self.config.suggested_markdown_pct
        return Description(
            evidence={
                "inventory_level": inventory,
                "days_of_supply": round(days_of_supply, 2),
                "recent_units_per_hour": round(recent_rate, 4),
                "trailing_units_per_hour": round(trailing_rate, 4),
                "price": price,
            },
            action=(
                f"{days_of_supply:.0f} days of supply while demand runs "
                f"{recent_rate / trailing_rate:.1f}x its average: run a {markdown:.0f}% flash sale."
            ),
            suggested_price=round(price * (1 - markdown / 100), 2) if markdown else None,
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget hours outside every window of a row at or after `oldest_row_us`."""
        dead_before_hour = oldest_row_us // MICROS_PER_HOUR - self.reach_hours
        keep = (self.code & ((1 << HOUR_BITS) - 1)) >= dead_before_hour
        self.code, self.units = self.code[keep], self.units[keep]
        alive = np.zeros(len(self.first_hour), dtype=bool)
        alive[self.code >> HOUR_BITS] = True
        self.first_hour[~alive] = NO_HOUR

    def state_table(self) -> pa.Table:
        names = [self.keys.names[k] for k in (self.code >> HOUR_BITS).tolist()]
        return pa.table({
            "product_id": pa.array([n[0] for n in names], pa.string()),
            "store_id": pa.array([n[1] for n in names], pa.string()),
            "first_hour": self.first_hour[self.code >> HOUR_BITS],
            "hour": self.code & ((1 << HOUR_BITS) - 1), "units": self.units,
        })

    def load_state(self, table: pa.Table) -> None:
        key = self.keys.lookup(zip(table["product_id"].to_pylist(),
                                   table["store_id"].to_pylist(), strict=True))
        self.first_hour = grown(np.empty(0, np.int64), len(self.keys), NO_HOUR)
        self.first_hour[key] = table["first_hour"].to_numpy()
        code = bucket_code(key, table["hour"].to_numpy().astype(np.int64))
        order = np.argsort(code)
        self.code, self.units = code[order], table["units"].to_numpy().astype(np.int64)[order]
