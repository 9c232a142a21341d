"""Price points and clean-up shared by the MQTT and Kinesis source tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import ray

from actors.routing import ensure_ingestors
from core.settings import Settings


def price_point(record_id: str, **overrides: Any) -> dict[str, Any]:
    """A price point that passes validation (region northeast unless overridden)."""
    record = {
        "record_id": record_id, "product_id": "p-tuna", "sku": "SKU-TUNA",
        "category_path": "grocery/canned", "price": 3.5, "cost": 2.0, "currency": "USD",
        "store_id": "s1", "region": "northeast", "city": "Boston", "postal_code": "02108",
        "timestamp": datetime.now(UTC).isoformat(), "units_sold": 3, "inventory_level": 10,
    }
    return record | overrides


def kill_ingestors(settings: Settings) -> None:
    """Kill the detached region ingestors of one test's namespace."""
    for handle in ensure_ingestors(settings).values():
        ray.kill(handle)
