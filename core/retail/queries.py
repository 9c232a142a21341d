"""Queries over the Parquet lake with DuckDB (the latest position of every product-location,
multi-dimensional price aggregations) and the current prices kept in Redis from the
`price-updated` events.

DuckDB scans the lake's pyarrow dataset (local or S3) with partition pruning on `date` and
`region`. Listing a big lake costs seconds, so the listing is kept and redone only when the
lake may have changed (`mark_changed`, e.g. on a `price-updated` event) or has not been
listed for `max_age_s`; `version` names the files listed (answers cached under it go stale
with the lake); each thread keeps one DuckDB connection; `positions()` reads only the files
added since its last call.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from pydantic import BaseModel, Field

from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake
from core.redis_guard import RedisDown, RedisGuard

Dimension = Literal["region", "city", "store_id", "category", "subcategory", "product_id",
                    "time", "season"]
Bucket = Literal["day", "week", "month", "quarter", "year"]
Measure = Literal["price", "units_sold", "revenue", "discount_pct", "margin"]
STATISTICS = ("avg", "median", "p05", "p25", "p75", "p95", "min", "max", "count")
_SEASON = ("CASE WHEN month(ts) IN (12, 1, 2) THEN 'winter' WHEN month(ts) IN (3, 4, 5) "
           "THEN 'spring' WHEN month(ts) IN (6, 7, 8) THEN 'summer' ELSE 'autumn' END")
_POSITION_COLUMNS = ("product_id", "store_id", "region", "city", "postal_code", "urban",
                     "category", "subcategory", "sku", "description", "price", "cost",
                     "inventory_level", "competitor_min_price", "ts")


class AggregateQuery(BaseModel):
    """Group price points by any of geography x category x time bucket x season."""

    group_by: list[Dimension] = Field(default_factory=lambda: ["region", "category"],
                                      max_length=5)
    measure: Measure = "price"
    bucket: Bucket = "week"
    region: str | None = Field(None, max_length=64)
    city: str | None = Field(None, max_length=64)
    category: str | None = Field(None, max_length=64)
    store_id: str | None = Field(None, max_length=64)
    product_id: str | None = Field(None, max_length=64)
    date_from: date | None = None
    date_to: date | None = None
    limit: int = Field(1000, ge=1, le=10_000)


class LakeQueries:
    """DuckDB over the lake's price points."""

    def __init__(self, lake: Lake, relist_s: float = 5.0, max_age_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lake = lake
        self.relist_s = relist_s
        self.max_age_s = max_age_s
        self._clock = clock
        self._local = threading.local()
        self._listing = threading.Lock()
        self._current: tuple[ds.Dataset | None, str] = (None, "empty")
        self._listed_at = -math.inf
        self._changed = True
        self._positions: pa.Table | None = None
        self._position_files: frozenset[str] = frozenset()

    def mark_changed(self) -> None:
        """The lake may have new files: list it again (at most every `relist_s`)."""
        self._changed = True

    @property
    def version(self) -> str:
        """A digest of the files last listed ("empty": no price points)."""
        return self._current[1]

    def listing(self) -> tuple[ds.Dataset | None, str]:
        """The listed price points (None: empty lake) and their version, listed again when
        due; while one thread lists, the others keep using the previous listing."""
        since = self._clock() - self._listed_at
        due = (self._changed and since >= self.relist_s) or since >= self.max_age_s
        first = self._listed_at == -math.inf
        if due and self._listing.acquire(blocking=first):
            try:
                if self._listed_at == -math.inf or not first:
                    self._list()
            finally:
                self._listing.release()
        return self._current

    def _list(self) -> None:
        self._changed = False  # before listing: a change meanwhile lists again
        self._listed_at = self._clock()
        if not self.lake.exists(PRICE_POINTS):
            self._current = (None, "empty")
            return
        dataset = self.lake.dataset(PRICE_POINTS, LAKE_SCHEMA)
        digest = hashlib.sha256("\n".join(sorted(dataset.files)).encode()).hexdigest()
        self._current = (dataset, digest[:16])

    def _connection(self, source: ds.Dataset) -> duckdb.DuckDBPyConnection:
        """This thread's connection with `source` registered as `price_points`."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = duckdb.connect()
            con.execute("SET threads TO 2")
            self._local.con, self._local.source = con, None
        if self._local.source is not source:
            con.register("price_points", source)
            self._local.source = source
        return con

    def positions(self) -> pa.Table:
        """The latest record of every product-location (one row each)."""
        dataset, _ = self.listing()
        if dataset is None:
            return pa.schema([LAKE_SCHEMA.field(c) for c in _POSITION_COLUMNS]).empty_table()
        files = frozenset(dataset.files)
        known, previous = self._position_files, self._positions
        if previous is not None and files == known:
            return previous
        if previous is not None and known <= files:  # only new files: merge them in
            added = ds.dataset(sorted(files - known), filesystem=self.lake.fs, format="parquet",
                               partitioning="hive", schema=LAKE_SCHEMA,
                               partition_base_dir=self.lake.path(PRICE_POINTS))
            latest = _latest(pa.concat_tables([previous, _latest(added)]))
        else:
            latest = _latest(dataset)
        self._positions, self._position_files = latest, files
        return latest

    def aggregate(self, query: AggregateQuery) -> tuple[list[dict[str, Any]], str]:
        """One row per group with avg/median/percentiles/min/max/count of the measure, and
        the lake version it read."""
        dataset, version = self.listing()
        if dataset is None:
            return [], version
        con = self._connection(dataset)
        dims = {"time": f"CAST(date_trunc('{query.bucket}', ts) AS DATE)", "season": _SEASON}
        keys = [f"{dims.get(d, d)} AS {d}" for d in dict.fromkeys(query.group_by)]
        measure = "(price - cost)" if query.measure == "margin" else query.measure
        where, params = [], []
        for column in ("region", "city", "category", "store_id", "product_id"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.date_from:  # partitions are UTC dates: prune on them, then on ts
            where.append("date >= ? AND ts >= ?")
            params += [str(query.date_from), query.date_from]
        if query.date_to:
            where.append("date <= ? AND CAST(ts AS DATE) <= ?")
            params += [str(query.date_to), query.date_to]
        stats = (f"avg({measure}) AS avg, approx_quantile({measure}, 0.5) AS median, "
                 f"approx_quantile({measure}, 0.05) AS p05, "
                 f"approx_quantile({measure}, 0.25) AS p25, "
                 f"approx_quantile({measure}, 0.75) AS p75, "
                 f"approx_quantile({measure}, 0.95) AS p95, "
                 f"min({measure}) AS min, max({measure}) AS max, count(*) AS count")
        group = ", ".join(str(i + 1) for i in range(len(keys)))
        sql = (f"SELECT {', '.join([*keys, stats])} FROM price_points"
               + (f" WHERE {' AND '.join(where)}" if where else "")
               + (f" GROUP BY {group} ORDER BY {group}" if keys else "")
               + f" LIMIT {query.limit}")
        rows = con.execute(sql, params).fetchall()
        names = [*dict.fromkeys(query.group_by), *STATISTICS]
        return [{name: _plain(value) for name, value in zip(names, row, strict=True)}
                for row in rows], version


def _latest(source: ds.Dataset | pa.Table) -> pa.Table:
    """The latest row of each product-location in `source` (lake rows or positions)."""
    picks = ", ".join(f"arg_max({c}, ts) AS {c}" for c in _POSITION_COLUMNS
                      if c not in ("product_id", "store_id", "ts"))
    con = duckdb.connect()
    con.register("source", source)
    return con.sql(
        f"SELECT product_id, store_id, {picks}, max(ts) AS ts FROM source "
        "GROUP BY product_id, store_id ORDER BY product_id, store_id").to_arrow_table()


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value


class CurrentPrices:
    """The latest price of every product-location in Redis hashes, one per region:
    field "product_id|location_id" -> JSON of the latest `price-updated` update."""

    def __init__(self, guard: RedisGuard, regions: Iterable[str],
                 prefix: str = "dynaprice:prices:current") -> None:
        self.guard = guard
        self.regions = tuple(regions)
        self.prefix = prefix

    def _key(self, region: str) -> str:
        return f"{self.prefix}:{region}"

    def apply(self, updates: list[dict[str, Any]]) -> int:
        """Keep each update unless a newer one is stored already; how many were written."""
        if not updates:
            return 0

        def write(client: Any) -> int:
            pipe = client.pipeline(transaction=False)
            for u in updates:
                pipe.hget(self._key(u["region"]), f"{u['product_id']}|{u['location_id']}")
            stored = pipe.execute()
            fresher = [u for u, old in zip(updates, stored, strict=True)
                       if old is None or json.loads(old)["ts"] <= u["ts"]]
            for u in fresher:
                pipe.hset(self._key(u["region"]), f"{u['product_id']}|{u['location_id']}",
                          json.dumps(u))
            pipe.execute()
            return len(fresher)

        try:
            return self.guard.run(write)
        except RedisDown:
            return 0

    def seed(self, positions: pa.Table) -> int:
        """Fill empty region hashes from the lake's latest positions (first start)."""
        def empty(client: Any) -> bool:
            return not any(client.exists(self._key(r)) for r in self.regions)

        try:
            if not self.guard.run(empty):
                return 0
        except RedisDown:
            return 0
        updates = [{"product_id": r["product_id"], "location_id": r["store_id"],
                    "region": r["region"], "city": r["city"], "category": r["category"],
                    "price": r["price"], "ts": r["ts"].strftime("%Y-%m-%dT%H:%M:%S%z")}
                   for r in positions.to_pylist()]
        return self.apply(updates)

    def query(self, region: str | None = None, city: str | None = None,
              category: str | None = None, location_id: str | None = None,
              product_id: str | None = None) -> list[dict[str, Any]]:
        """Current prices matching every given filter, sorted by product then location."""
        regions = [region] if region else list(self.regions)

        def read(client: Any) -> list[dict[bytes, bytes]]:
            pipe = client.pipeline(transaction=False)
            for r in regions:
                pipe.hgetall(self._key(r))
            return pipe.execute()

        wanted = {"city": city, "category": category, "location_id": location_id,
                  "product_id": product_id}
        found = []
        for table in self.guard.run(read):
            for raw in table.values():
                entry = json.loads(raw)
                if all(v is None or entry.get(k) == v for k, v in wanted.items()):
                    found.append(entry)
        return sorted(found, key=lambda e: (e["product_id"], e["location_id"]))
