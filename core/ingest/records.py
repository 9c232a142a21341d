"""The price-point record as clients send it, and as the lake and the DLQ store it."""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa
from pydantic import BaseModel, Field


class PricePoint(BaseModel):
    """One price observation from a store, as a client sends it (documents the API)."""

    record_id: str = Field(description="Client-supplied id; a record id lands at most once")
    product_id: str
    sku: str
    category_path: str = Field(description="e.g. 'grocery/canned/tuna' or 'Grocery > Canned'")
    description: str | None = None
    price: float = Field(gt=0, description="Shelf price in `currency`")
    cost: float = Field(gt=0, description="Unit cost in `currency`")
    margin: float | None = Field(None, description="(price - cost) / price; checked if given")
    discount_pct: float = Field(0.0, ge=0, lt=100)
    currency: str = Field("USD", description="ISO 4217 code from configs/currency.yaml")
    store_id: str
    region: str
    city: str
    postal_code: str
    timestamp: str = Field(description="ISO 8601 with zone, e.g. 2026-11-25T10:00:00-05:00")
    units_sold: int = Field(ge=0)
    revenue: float | None = None
    inventory_level: int = Field(ge=0)
    competitor_prices: dict[str, float] | None = Field(
        None, description="Competitor name -> their price, in `currency`"
    )


REQUIRED_FIELDS: tuple[str, ...] = tuple(
    name for name, info in PricePoint.model_fields.items() if info.is_required()
)
STRING_FIELDS = ("record_id", "product_id", "sku", "category_path", "description", "currency",
                 "store_id", "region", "city", "postal_code", "timestamp")
FLOAT_FIELDS = ("price", "cost", "margin", "discount_pct", "revenue")
INT_FIELDS = ("units_sold", "inventory_level")


class Reason(StrEnum):
    """Machine-readable reason a record went to the dead-letter queue."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_TYPE = "invalid_type"
    INVALID_TIMESTAMP = "invalid_timestamp"
    MISSING_TIMEZONE = "missing_timezone"
    UNKNOWN_REGION = "unknown_region"
    UNKNOWN_CITY = "unknown_city"
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_CURRENCY = "unknown_currency"
    PRICE_NOT_ABOVE_COST = "price_not_above_cost"
    DISCOUNT_OUT_OF_RANGE = "discount_out_of_range"
    MARGIN_INCONSISTENT = "margin_inconsistent"
    NEGATIVE_QUANTITY = "negative_quantity"
    OUTLIER_PRICE = "outlier_price"
    DUPLICATE_RECORD_ID = "duplicate_record_id"


COMPETITOR_PRICES_TYPE = pa.map_(pa.string(), pa.float64())

# What the lake keeps under raw/price_points/region=/date=/ (region and date are partitions).
LAKE_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("product_id", pa.string()),
        ("sku", pa.string()),
        ("category_path", pa.string()),
        ("category", pa.string()),
        ("subcategory", pa.string()),
        ("description", pa.string()),
        ("price", pa.float64()),
        ("cost", pa.float64()),
        ("margin", pa.float64()),
        ("discount_pct", pa.float64()),
        ("currency_original", pa.string()),
        ("fx_rate_to_usd", pa.float64()),
        ("store_id", pa.string()),
        ("city", pa.string()),
        ("postal_code", pa.string()),
        ("urban", pa.bool_()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("units_sold", pa.int64()),
        ("revenue", pa.float64()),
        ("inventory_level", pa.int64()),
        ("competitor_prices", COMPETITOR_PRICES_TYPE),
        ("competitor_min_price", pa.float64()),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
        ("region", pa.string()),
        ("date", pa.string()),
    ]
)
PARTITION_COLUMNS = ("region", "date")

# What the DLQ keeps under dlq/price_points/date=/ (date of receipt).
DLQ_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("region", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("payload", pa.string()),
        ("source", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("date", pa.string()),
    ]
)
