"""Lake queries keep their listing until the lake changes: positions merge only the new files
(and match a full read), the lake version moves with the files, aggregations name it."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from core.ingest.records import LAKE_SCHEMA, PARTITION_COLUMNS
from core.lake import PRICE_POINTS, Lake
from core.retail.queries import AggregateQuery, LakeQueries


def _write(lake: Lake, day: str, prices: dict[tuple[str, str], float]) -> None:
    n = len(prices)
    columns = {field.name: pa.nulls(n, field.type) for field in LAKE_SCHEMA}
    columns.update({
        "product_id": [p for p, _ in prices], "store_id": [s for _, s in prices],
        "region": ["west"] * n, "date": [day] * n, "price": list(prices.values()),
        "ts": pa.array([datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)] * n,
                       LAKE_SCHEMA.field("ts").type)})
    lake.write_partitioned(pa.table(columns, schema=LAKE_SCHEMA), PRICE_POINTS,
                           PARTITION_COLUMNS)


def _prices(positions: pa.Table) -> dict[tuple[str, str], float]:
    return {(r["product_id"], r["store_id"]): r["price"] for r in positions.to_pylist()}


def test_listing_positions_and_version_follow_lake_changes(tmp_path):
    lake = Lake.open(str(tmp_path / "lake"))
    queries = LakeQueries(lake, relist_s=0.0)
    assert queries.positions().num_rows == 0 and queries.version == "empty"
    _write(lake, "2025-03-01", {("P1", "S1"): 10.0, ("P2", "S1"): 20.0})
    queries.mark_changed()
    assert _prices(queries.positions()) == {("P1", "S1"): 10.0, ("P2", "S1"): 20.0}
    first = queries.version

    _write(lake, "2025-03-02", {("P1", "S1"): 11.0, ("P3", "S2"): 5.0})
    assert queries.positions().num_rows == 2 and queries.version == first  # not told yet
    queries.mark_changed()
    merged = queries.positions()
    assert _prices(merged) == {("P1", "S1"): 11.0, ("P2", "S1"): 20.0, ("P3", "S2"): 5.0}
    assert merged.equals(LakeQueries(lake).positions())  # the same as reading every file
    assert queries.version not in ("empty", first)

    groups, version = queries.aggregate(AggregateQuery(group_by=["product_id"]))
    assert version == queries.version
    assert {g["product_id"]: g["count"] for g in groups} == {"P1": 2, "P2": 1, "P3": 1}
