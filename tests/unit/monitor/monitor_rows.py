"""Crafted price-point batches in the lake's schema for the monitor's rule tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from core.ingest.records import LAKE_SCHEMA
from core.monitor import Monitor, MonitorConfig

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def price_point(minutes: float = 0.0, **overrides: Any) -> dict[str, Any]:
    """One accepted row `minutes` after T0; defaults give a quiet, well-stocked product."""
    row: dict[str, Any] = {
        "record_id": None, "product_id": "P1", "sku": "SKU1", "category_path": "grocery/tuna",
        "category": "grocery", "subcategory": "tuna", "description": None, "price": 10.0,
        "cost": 6.0, "margin": 0.4, "discount_pct": 0.0, "currency_original": "USD",
        "fx_rate_to_usd": 1.0, "store_id": "S1", "city": "Chicago", "postal_code": "60601",
        "urban": True, "ts": T0 + timedelta(minutes=minutes), "units_sold": 1, "revenue": 10.0,
        "inventory_level": 20, "competitor_prices": None, "competitor_min_price": None,
        "ingested_at": None, "region": "midwest", "date": None,
    }
    row.update(overrides)
    row["date"] = row["ts"].date().isoformat()
    return row


def batch(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=LAKE_SCHEMA)


def make_monitor(**sections: Any) -> Monitor:
    """A monitor on the default thresholds, with some config sections overridden."""
    return Monitor(MonitorConfig.model_validate(sections))
