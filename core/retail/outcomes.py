"""How a published price fared: units, revenue and margin the lake's price points show after
the decision, against what the model predicted at that price and against the same number
of days before the decision."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pydantic import BaseModel

from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake
from core.retail.review import Measures, ReviewItem

BEFORE_MIN_DAYS = 7
AT_PRICE_TOLERANCE = 0.005  # USD: a record "at the published price"


class Period(BaseModel):
    """Sales in a period: totals and per observed day."""

    days: int
    records: int
    total: Measures
    per_day: Measures | None


class Outcome(BaseModel):
    recommendation_id: str
    status: str
    published_price: float
    decided_at: datetime
    after: Period
    before: Period
    adoption: float | None  # share of records after the decision at the published price
    predicted_per_day: Measures | None
    predicted_total: Measures | None  # predicted per day x days observed after
    actual_vs_predicted_pct: dict[str, float | None] | None


def _period(rows: pa.Table) -> Period:
    price, cost = rows["price"], rows["cost"]
    units = pc.cast(rows["units_sold"], pa.float64())
    total = Measures(units=pc.sum(units).as_py() or 0.0,
                     revenue=pc.sum(pc.multiply(price, units)).as_py() or 0.0,
                     margin=pc.sum(pc.multiply(pc.subtract(price, cost), units)).as_py() or 0.0)
    days = len(pc.unique(pc.cast(rows["ts"], pa.date32()))) if rows.num_rows else 0
    per_day = Measures(**{k: v / days for k, v in total.model_dump().items()}) if days else None
    return Period(days=days, records=rows.num_rows, total=total, per_day=per_day)


def measure_outcome(lake: Lake, item: ReviewItem, now: datetime) -> Outcome:
    """The outcome of a published (approved or overridden) item up to `now`."""
    decision = item.decision
    assert decision is not None and decision.price is not None
    at = decision.at
    window = max((now - at).days + 1, BEFORE_MIN_DAYS)
    first = (at - timedelta(days=window)).date().isoformat()
    where = ((ds.field("product_id") == item.product_id)
             & (ds.field("store_id") == item.location_id) & (ds.field("date") >= first))
    rows = lake.read(PRICE_POINTS, ["ts", "price", "cost", "units_sold"], where, LAKE_SCHEMA)
    after_rows = rows.filter(pc.greater_equal(rows["ts"], pa.scalar(at, rows["ts"].type)))
    after = _period(after_rows)
    before_start = at - timedelta(days=max(after.days, BEFORE_MIN_DAYS))
    before = _period(rows.filter(pc.and_(
        pc.less(rows["ts"], pa.scalar(at, rows["ts"].type)),
        pc.greater_equal(rows["ts"], pa.scalar(before_start, rows["ts"].type)))))
    adoption = None
    if after_rows.num_rows:
        near = pc.less_equal(pc.abs(pc.subtract(after_rows["price"], decision.price)),
                             AT_PRICE_TOLERANCE)
        adoption = round(pc.mean(pc.cast(near, pa.float64())).as_py(), 4)
    predicted = decision.expected
    predicted_total = compared = None
    if predicted is not None:
        predicted_total = Measures(**{k: v * after.days
                                      for k, v in predicted.model_dump().items()})
        compared = {k: round(100 * (getattr(after.total, k) / v - 1), 2) if v else None
                    for k, v in predicted_total.model_dump().items()} if after.days else None
    return Outcome(recommendation_id=item.id, status=item.status,
                   published_price=decision.price, decided_at=at, after=after, before=before,
                   adoption=adoption, predicted_per_day=predicted,
                   predicted_total=predicted_total, actual_vs_predicted_pct=compared)
