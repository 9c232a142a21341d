"""What the rules read from a batch of lake rows, and what they report back."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from core.alerts import AlertKind, Severity
from core.ingest.records import COMPETITOR_PRICES_TYPE

MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = 3600 * MICROS_PER_SECOND

REQUIRED_COLUMNS = (
    "product_id", "store_id", "category", "region", "city", "postal_code", "ts", "price",
    "units_sold", "inventory_level",
)


class Observation(NamedTuple):
    """One accepted price point, reduced to what the rules need (`ts_us`: UTC epoch micros)."""

    product_id: str
    store_id: str
    category: str
    region: str
    city: str
    postal_code: str
    ts_us: int
    price: float
    units_sold: int
    inventory_level: int
    competitor_prices: list[tuple[str, float | None]] | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's verdict on one observation, before cool-down and before it becomes an Alert."""

    kind: AlertKind
    severity: Severity
    dedup_key: str
    observation: Observation
    evidence: dict[str, float] = field(default_factory=dict)
    action: str = ""
    suggested_price: float | None = None


def severity_for(pct: float, critical_pct: float) -> Severity:
    """Critical beyond `critical_pct` (either sign), else warning."""
    return Severity.CRITICAL if abs(pct) > critical_pct else Severity.WARNING


def observations_from_table(table: pa.Table, not_before_us: int | None = None) -> list[Observation]:
    """Rows of a LAKE_SCHEMA table in time order, leaving out rows without the needed fields
    and rows older than `not_before_us`."""
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
    columns = [table[name].to_pylist() for name in REQUIRED_COLUMNS]
    columns.append(_pairs_per_row(table["competitor_prices"].combine_chunks()))
    return [Observation._make(values) for values in zip(*columns, strict=True)]


def _pairs_per_row(prices: pa.MapArray) -> list[list[tuple[str, float | None]] | None]:
    """A map column as Python (key, value) lists, flattened once rather than row by row."""
    pairs = list(zip(prices.keys.to_pylist(), prices.items.to_pylist(), strict=True))
    offsets = prices.offsets.to_pylist()
    valid = prices.is_valid().to_pylist()
    return [
        pairs[offsets[i]:offsets[i + 1]] if valid[i] else None for i in range(len(prices))
    ]
