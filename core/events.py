"""Events on Redis pub/sub: the `price-updated` message ingestion publishes after each write."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

PRICE_UPDATED_CHANNEL = "dynaprice:price-updated"


def price_updates(accepted: pa.Table) -> list[dict[str, Any]]:
    """The latest price per product-location in a written batch."""
    if accepted.num_rows == 0:
        return []
    latest = (
        accepted.select(["product_id", "store_id", "region", "city", "category", "price", "ts"])
        .sort_by([("ts", "ascending")])
        .group_by(["product_id", "store_id"], use_threads=False)
        .aggregate([(c, "last") for c in ("region", "city", "category", "price", "ts")])
    )
    ts_text = pc.strftime(latest["ts_last"], format="%Y-%m-%dT%H:%M:%S%z")
    return [
        {"product_id": p, "location_id": s, "region": r, "city": c, "category": k,
         "price": round(v, 4), "ts": t}
        for p, s, r, c, k, v, t in zip(
            latest["product_id"].to_pylist(), latest["store_id"].to_pylist(),
            latest["region_last"].to_pylist(), latest["city_last"].to_pylist(),
            latest["category_last"].to_pylist(), latest["price_last"].to_pylist(),
            ts_text.to_pylist(), strict=True,
        )
    ]


def encode_price_updated(region: str, updates: list[dict[str, Any]]) -> bytes:
    return json.dumps({"event": "price-updated", "region": region, "updates": updates}).encode()


def decode_price_updated(message: bytes | str) -> dict[str, Any]:
    return json.loads(message)
