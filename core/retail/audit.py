"""The append-only audit log of review decisions in the lake: `audit/retail/date=YYYY-MM-DD/`,
one Parquet file per appended batch (files are only ever added, never rewritten).

    log = AuditLog(lake)
    log.append([audit_entry(item, decision)])
    log.read(AuditQuery(product_id="P00001"))       # newest first
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pydantic import BaseModel, Field

from core.lake import RETAIL_AUDIT, Lake
from core.retail.review import Action, Decision, ReviewItem

AUDIT_SCHEMA = pa.schema([
    ("audit_id", pa.string()),
    ("at", pa.timestamp("us", tz="UTC")),
    ("who", pa.string()),
    ("role", pa.string()),
    ("action", pa.string()),
    ("recommendation_id", pa.string()),
    ("source", pa.string()),
    ("product_id", pa.string()),
    ("location_id", pa.string()),
    ("region", pa.string()),
    ("category", pa.string()),
    ("price_before", pa.float64()),
    ("recommended_price", pa.float64()),
    ("price_after", pa.float64()),
    ("reason", pa.string()),
    ("model_version", pa.string()),
    ("feature_version", pa.string()),
])
_PARTITIONED = pa.schema([*AUDIT_SCHEMA, ("date", pa.string())])


class AuditEntry(BaseModel):
    """One decision as the audit log keeps it (price_after: None when rejected)."""

    audit_id: str
    at: datetime
    who: str
    role: str
    action: Action
    recommendation_id: str
    source: str
    product_id: str
    location_id: str
    region: str
    category: str
    price_before: float
    recommended_price: float
    price_after: float | None
    reason: str | None
    model_version: str | None
    feature_version: str | None


class AuditQuery(BaseModel):
    date_from: date | None = None
    date_to: date | None = None
    product_id: str | None = Field(None, max_length=64)
    location_id: str | None = Field(None, max_length=64)
    who: str | None = Field(None, max_length=64)
    action: Action | None = None
    limit: int = Field(100, ge=1, le=5000)


def audit_entry(item: ReviewItem, decision: Decision) -> AuditEntry:
    """The audit row of `decision` on `item`."""
    return AuditEntry(
        audit_id=uuid.uuid4().hex, at=decision.at, who=decision.by, role=decision.role,
        action=decision.action, recommendation_id=item.id, source=item.source,
        product_id=item.product_id, location_id=item.location_id, region=item.region,
        category=item.category, price_before=decision.price_before,
        recommended_price=item.recommended_price, price_after=decision.price,
        reason=decision.reason, model_version=item.model_version,
        feature_version=item.feature_version)


class AuditLog:
    """Appends decisions to the lake and reads them back."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def append(self, entries: list[AuditEntry]) -> list[str]:
        """Write the entries (each file visible whole); the written paths."""
        table = pa.Table.from_pylist([e.model_dump() for e in entries], schema=AUDIT_SCHEMA)
        dates = pc.strftime(table["at"], format="%Y-%m-%d")
        return self.lake.write_partitioned(table.append_column("date", dates), RETAIL_AUDIT,
                                           ["date"])

    def read(self, query: AuditQuery) -> list[AuditEntry]:
        """Matching entries, newest first."""
        conditions = [ds.field(name) == value for name, value in query.model_dump(
            include={"product_id", "location_id", "who", "action"}).items()
            if value is not None]
        if query.date_from:
            conditions.append(ds.field("date") >= query.date_from.isoformat())
        if query.date_to:
            conditions.append(ds.field("date") <= query.date_to.isoformat())
        where = None
        for condition in conditions:
            where = condition if where is None else where & condition
        table = self.lake.read(RETAIL_AUDIT, filter=where, schema=_PARTITIONED)
        table = table.select(AUDIT_SCHEMA.names).sort_by([("at", "descending")])
        return [AuditEntry(**row) for row in table.slice(0, query.limit).to_pylist()]
