"""A batch of lake rows as the rules read it (numpy columns in time order), and their verdicts."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.alerts import AlertKind, Severity
from core.ingest.records import COMPETITOR_PRICES_TYPE

MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = 3600 * MICROS_PER_SECOND
ABSENT_TS = np.iinfo(np.int64).min  # "never seen" in per-key timestamp arrays

REQUIRED_COLUMNS = (
    "product_id", "store_id", "category", "region", "city", "postal_code", "ts", "price",
    "units_sold", "inventory_level",
)


class KeyIndex:
    """Dense integer ids for hashable keys, so per-key state can live in numpy arrays."""

    def __init__(self) -> None:
        self.ids: dict[Hashable, int] = {}
        self.names: list[Hashable] = []

    def __len__(self) -> int:
        return len(self.names)

    def lookup(self, keys: Iterable[Hashable]) -> np.ndarray:
        """The id of each key, giving new keys the next free ids."""
        keys = list(keys)
        found = list(map(self.ids.get, keys))
        if None in found:
            for i, key_id in enumerate(found):
                if key_id is None:
                    found[i] = self.ids.setdefault(keys[i], len(self.names))
                    if found[i] == len(self.names):
                        self.names.append(keys[i])
        return np.array(found, dtype=np.int64)


def grown(values: np.ndarray, size: int, fill: float | int) -> np.ndarray:
    """`values` extended with `fill` to at least `size` entries (doubling, to amortise)."""
    if len(values) >= size:
        return values
    extra = np.full(max(size, 2 * len(values)) - len(values), fill, dtype=values.dtype)
    return np.concatenate([values, extra])


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """For each position of a sorted key array, the first position holding the same key."""
    return np.searchsorted(sorted_keys, sorted_keys, side="left")


@dataclass(frozen=True)
class Rows:
    """Accepted price points in event-time order; `key` is the product-location id."""

    product: list[str]
    store: list[str]
    category: list[str | None]
    region: list[str | None]
    city: list[str | None]
    postal_code: list[str | None]
    ts: np.ndarray
    price: np.ndarray
    units: np.ndarray
    inventory: np.ndarray
    has_stock_figures: np.ndarray
    competitor_prices: pa.MapArray
    key: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.ts)


def rows_from_table(table: pa.Table, keys: KeyIndex, not_before_us: int | None = None) -> Rows:
    """The rows of a LAKE_SCHEMA table in time order, leaving out rows without the needed fields
    and rows older than `not_before_us`; product-locations get ids from `keys`."""
    table = table.select(list(REQUIRED_COLUMNS)).append_column(
        "competitor_prices",
        table["competitor_prices"] if "competitor_prices" in table.column_names
        else pa.nulls(table.num_rows, COMPETITOR_PRICES_TYPE),
    )
    ts_us = pc.cast(table["ts"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    table = table.set_column(table.schema.get_field_index("ts"), "ts", ts_us)
    keep = functools.reduce(
        pc.and_, [pc.is_valid(table[name]) for name in ("product_id", "store_id", "ts", "price")]
    )
    if not_before_us is not None:
        keep = pc.and_(keep, pc.greater_equal(table["ts"], not_before_us))
    table = table.filter(keep).sort_by("ts")
    text = {name: table[name].to_pylist() for name in
            ("product_id", "store_id", "category", "region", "city", "postal_code")}
    stock = pc.and_(pc.is_valid(table["units_sold"]), pc.is_valid(table["inventory_level"]))
    return Rows(
        product=text["product_id"], store=text["store_id"], category=text["category"],
        region=text["region"], city=text["city"], postal_code=text["postal_code"],
        ts=table["ts"].to_numpy(), price=table["price"].to_numpy(),
        units=pc.fill_null(table["units_sold"], 0).to_numpy(),
        inventory=pc.fill_null(table["inventory_level"], 0).to_numpy(),
        has_stock_figures=stock.to_numpy(zero_copy_only=False),
        competitor_prices=table["competitor_prices"].combine_chunks(),
        key=keys.lookup(zip(text["product_id"], text["store_id"], strict=True)),
    )


class Finding(NamedTuple):
    """A rule's verdict on row `row` of a batch, before cool-down. `rank` orders the findings of
    one row (rules, then competitors) as a row-by-row pass would. `facts` are the rule's numbers;
    `rule.describe` turns them into evidence and advice only for findings past the cool-down."""

    row: int
    rank: int
    kind: AlertKind
    severity: Severity
    dedup_key: str
    rule: Rule
    facts: tuple


class Description(NamedTuple):
    evidence: dict[str, float]
    action: str
    suggested_price: float | None = None


class Rule(Protocol):
    def describe(self, finding: Finding) -> Description: ...


def severity_for(pct: float, critical_pct: float) -> Severity:
    """Critical beyond `critical_pct` (either sign), else warning."""
    return Severity.CRITICAL if abs(pct) > critical_pct else Severity.WARNING
