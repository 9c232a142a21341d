from collections.abc import Callable
from typing import Any

import pytest

from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.reference import Reference

GOOD = {
    "record_id": "r-1", "product_id": "p-1", "sku": "SKU-1",
    "category_path": "Grocery > Canned > Tuna", "description": "Tuna 5oz", "price": 2.5,
    "cost": 1.5, "discount_pct": 10, "currency": "USD", "store_id": "s-1", "region": "NE",
    "city": "boston", "postal_code": "021 34", "timestamp": "2026-11-25T10:00:00-05:00",
    "units_sold": 3, "inventory_level": 40, "competitor_prices": {"acme": 2.4},
}


@pytest.fixture
def record() -> Callable[..., dict[str, Any]]:
    """A valid price point with overrides; `drop=` removes fields."""
    def make(drop: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
        data = {**GOOD, **overrides}
        for name in drop:
            data.pop(name)
        return data
    return make


@pytest.fixture(scope="session")
def reference() -> Reference:
    return Reference.load()


@pytest.fixture
def pipeline(reference: Reference) -> IngestPipeline:
    return IngestPipeline(reference, IngestConfig(outlier_min_count=5))
