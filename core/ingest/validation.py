"""Stateless, vectorised validation and normalisation of one batch of raw price points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.ingest import columns
from core.ingest.received import CELL_FIELDS, IS_OBJECT, ReceivedBatch
from core.ingest.records import LAKE_SCHEMA, REQUIRED_FIELDS, Reason
from core.ingest.reference import Reference, on_distinct

_ZONE = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_ZONE_CHARS = 6  # the longest zone _ZONE matches, "+05:00"
_REASONS = list(Reason)
_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Rejection:
    """A record that goes to the DLQ, with its position in the batch and why."""

    index: int
    record_id: str | None
    region: str | None
    reason: Reason
    message: str
    payload: str  # the record as received, as JSON text


@dataclass
class BatchResult:
    """Valid rows (lake schema) with their batch positions, and the rejections."""

    valid: pa.Table
    valid_index: np.ndarray
    rejections: list[Rejection] = field(default_factory=list)


class Verdicts:
    """First failing check wins: one reason code and message per record."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, dtype=np.int16)  # 0 = fine, else 1 + index in _REASONS
        self.messages: dict[int, str] = {}

    @property
    def ok(self) -> np.ndarray:
        return self.code == 0

    def fail(self, mask: np.ndarray | pa.Array, reason: Reason,
             message: str | Callable[[int], str]) -> None:
        if isinstance(mask, pa.Array | pa.ChunkedArray):
            mask = np.asarray(pc.fill_null(mask, False))
        new = np.flatnonzero(mask & self.ok)
        self.code[new] = _REASONS.index(reason) + 1
        for i in new.tolist():
            self.messages[i] = message(i) if callable(message) else message

    def result(self, table: pa.Table, received: ReceivedBatch) -> BatchResult:
        """The rows of `table` every check passed, and a rejection for each of the others."""
        ok = self.ok
        rejected = np.flatnonzero(~ok)
        rejections = [
            Rejection(index=i, record_id=record_id, region=region,
                      reason=_REASONS[code - 1], message=self.messages[i],
                      payload=received.payload_json(i))
            for i, record_id, region, code in zip(
                rejected.tolist(), table["record_id"].take(rejected).to_pylist(),
                table["region"].take(rejected).to_pylist(), self.code[rejected].tolist(),
                strict=True)
        ]
        return BatchResult(valid=table.filter(ok), valid_index=np.flatnonzero(ok),
                           rejections=rejections)


def _parse_instants(values: pa.Array) -> pa.Array:
    """Cast ISO 8601 strings to UTC; a chunk Arrow refuses is halved until bad cells are null."""
    try:
        return pc.cast(values, _UTC)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return pa.nulls(1, _UTC)
        middle = len(values) // 2
        return pa.concat_arrays([_parse_instants(values.slice(0, middle)),
                                 _parse_instants(values.slice(middle))])


def _is_calendar_day(days: pa.Array) -> pa.Array:
    """YYYY-MM-DD strings that name a real day (strptime alone rolls Feb 30 over to Mar 2)."""
    parsed = pc.strptime(days, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.equal(pc.cast(pc.cast(parsed, pa.date32()), pa.string()), days)


def _timestamps(values: pa.Array, verdicts: Verdicts) -> pa.Array:
    """Parse ISO 8601 strings with a zone to UTC; flag missing zones and unparseable values."""
    present = np.asarray(values.is_valid())
    zoned = on_distinct(pc.utf8_slice_codeunits(values, -_ZONE_CHARS),  # few distinct zones
                        lambda tails: pc.match_substring_regex(tails, _ZONE))
    zoned = np.asarray(pc.fill_null(zoned, False))
    verdicts.fail(present & ~zoned, Reason.MISSING_TIMEZONE,
                  "timestamp has no zone offset (expected e.g. 2026-11-25T10:00:00-05:00)")
    candidates = pc.if_else(pa.array(present & zoned), values, pa.scalar(None, pa.string()))
    parsed = pc.strptime(candidates, format="%Y-%m-%dT%H:%M:%S%z", unit="us",
                         error_is_null=True).cast(_UTC)
    real_day = pc.fill_null(
        on_distinct(pc.utf8_slice_codeunits(candidates, 0, 10), _is_calendar_day), False)
    parsed = pc.if_else(real_day, parsed, pa.scalar(None, _UTC))
    # fractional seconds and other ISO forms take Arrow's full parser (which wants a real
    # day first too, so the others are not tried)
    retry = np.asarray(pc.and_(real_day, parsed.is_null()))
    if not retry.any():
        return parsed
    return pc.replace_with_mask(parsed, pa.array(retry),
                                _parse_instants(candidates.filter(pa.array(retry))))


def _map_rows(maps: pa.MapArray) -> pa.Array:
    """The row each map entry belongs to (list_parent_indices aborts on MapArray itself)."""
    return pc.list_parent_indices(pa.ListArray.from_arrays(maps.offsets, maps.items))


def _convert_map_values(maps: pa.MapArray, factor: pa.Array) -> pa.MapArray:
    """Multiply every value of each row's map by that row's factor."""
    parents = _map_rows(maps)
    scaled = pc.multiply(maps.items, pc.take(factor, parents))
    return pa.MapArray.from_arrays(maps.offsets, maps.keys, scaled, mask=maps.is_null())


def _row_min_of_maps(maps: pa.MapArray) -> pa.Array:
    offsets = maps.offsets.to_numpy()
    filled = (np.diff(offsets) > 0) & np.asarray(maps.is_valid())
    out = np.full(len(maps), np.nan)
    if filled.any():
        out[filled] = np.minimum.reduceat(maps.items.to_numpy(zero_copy_only=False),
                                          offsets[:-1][filled])
    return pa.array(out, mask=np.isnan(out))


def check_batch(
    received: ReceivedBatch, reference: Reference, margin_tolerance: float, received_at: datetime
) -> tuple[pa.Table, Verdicts]:
    """Every received record normalised (lake schema, row for row) and its verdict; never
    raises on bad input."""
    n = len(received)
    verdicts = Verdicts(n)
    verdicts.fail(~received.cells[IS_OBJECT].to_numpy(zero_copy_only=False),
                  Reason.NOT_AN_OBJECT, "record is not a JSON object")
    cells = {name: columns.one_chunk(received.cells[name]) for name in CELL_FIELDS}
    invalid_by_field = {name: received.invalid(name) for name in CELL_FIELDS}
    for name in REQUIRED_FIELDS:
        verdicts.fail(np.asarray(cells[name].is_null()) & ~invalid_by_field[name],
                      Reason.MISSING_FIELD, f"missing required field '{name}'")
    for name, invalid in invalid_by_field.items():
        verdicts.fail(invalid, Reason.INVALID_TYPE, f"field '{name}' has the wrong type")

    def cell(name: str, i: int) -> Any:
        return cells[name][i].as_py()

    ts = _timestamps(cells["timestamp"], verdicts)
    verdicts.fail(np.asarray(ts.is_null()) & np.asarray(cells["timestamp"].is_valid()),
                  Reason.INVALID_TIMESTAMP, "timestamp is not a valid ISO 8601 instant")

    region = reference.regions(cells["region"])
    verdicts.fail(region.is_null(), Reason.UNKNOWN_REGION,
                  lambda i: f"unknown region {cell('region', i)!r}")
    city = reference.cities(region, cells["city"])
    verdicts.fail(city.is_null(), Reason.UNKNOWN_CITY,
                  lambda i: f"unknown city {cell('city', i)!r} in region "
                            f"{cell('region', i)!r}")
    category_path, category, subcategory = reference.category_paths(cells["category_path"])
    verdicts.fail(category.is_null(), Reason.UNKNOWN_CATEGORY,
                  lambda i: f"unknown top-level category in {cell('category_path', i)!r}")
    currency = pc.fill_null(cells["currency"], "USD")
    fx = reference.fx_to_usd(currency)
    verdicts.fail(fx.is_null(), Reason.UNKNOWN_CURRENCY,
                  lambda i: f"no USD rate for currency {cell('currency', i)!r}")

    price, cost = cells["price"], cells["cost"]
    competitors = cells["competitor_prices"]
    competitor_bad = np.zeros(n, dtype=bool)
    if len(competitors.items):
        bad_items = pc.less_equal(competitors.items, 0.0)
        competitor_bad[_map_rows(competitors).filter(bad_items).to_numpy()] = True
    verdicts.fail(pc.less_equal(cost, 0.0), Reason.NEGATIVE_QUANTITY, "cost must be positive")
    verdicts.fail(
        pc.or_(pc.less(cells["units_sold"], 0), pc.less(cells["inventory_level"], 0)),
        Reason.NEGATIVE_QUANTITY, "units_sold and inventory_level must not be negative")
    verdicts.fail(pc.less(cells["revenue"], 0.0), Reason.NEGATIVE_QUANTITY,
                  "revenue must not be negative")
    verdicts.fail(competitor_bad, Reason.NEGATIVE_QUANTITY, "competitor prices must be positive")
    verdicts.fail(pc.less_equal(price, cost), Reason.PRICE_NOT_ABOVE_COST,
                  lambda i: f"price {cell('price', i)} is not above cost {cell('cost', i)}")
    discount = pc.fill_null(cells["discount_pct"], 0.0)
    verdicts.fail(pc.or_(pc.less(discount, 0.0), pc.greater_equal(discount, 100.0)),
                  Reason.DISCOUNT_OUT_OF_RANGE, "discount_pct must be in [0, 100)")
    margin = pc.divide(pc.subtract(price, cost), price)
    verdicts.fail(
        pc.greater(pc.abs(pc.subtract(cells["margin"], margin)), margin_tolerance),
        Reason.MARGIN_INCONSISTENT,
        lambda i: f"margin {cell('margin', i)} disagrees with (price - cost) / price",
    )

    safe_fx = pc.fill_null(fx, 1.0)
    units = cells["units_sold"]
    price_usd = pc.multiply(price, safe_fx)
    revenue = pc.coalesce(pc.multiply(cells["revenue"], safe_fx),
                          pc.multiply(price_usd, pc.cast(units, pa.float64(), safe=False)))
    competitors_usd = _convert_map_values(competitors, safe_fx)
    table = pa.table(
        {
            "record_id": cells["record_id"],
            "product_id": cells["product_id"],
            "sku": cells["sku"],
            "category_path": category_path,
            "category": category,
            "subcategory": subcategory,
            "description": cells["description"],
            "price": price_usd,
            "cost": pc.multiply(cost, safe_fx),
            "margin": margin,
            "discount_pct": discount,
            "currency_original": pc.utf8_upper(currency),
            "fx_rate_to_usd": safe_fx,
            "store_id": cells["store_id"],
            "city": city,
            "postal_code": Reference.postal_codes(cells["postal_code"]),
            "urban": reference.urban(city),
            "ts": ts,
            "units_sold": units,
            "revenue": revenue,
            "inventory_level": cells["inventory_level"],
            "competitor_prices": competitors_usd,
            "competitor_min_price": _row_min_of_maps(competitors_usd),
            "ingested_at": pa.repeat(pa.scalar(received_at, _UTC), n),
            "region": region,
            "date": on_distinct(pc.cast(ts, pa.date32()), lambda days: pc.cast(days, pa.string())),
        },
        schema=LAKE_SCHEMA,
    )
    return table, verdicts
