"""Ray Data retail features against DuckDB on the same Parquet lake, in one run.

    python benchmarks/features.py [--quick] [--records N] [--lake DIR]

1. A lake of `--records` price points (10 million; `--quick` 300 thousand): the simulator's
   good records (`PriceFeed.tables`) turned into lake rows by `lake_rows`, a vectorised copy
   of what ingestion normalises for clean records (the real `IngestPipeline.process` runs on
   the first 20 thousand records and must write exactly the same rows, `ingested_at`
   aside), then `Lake.write_partitioned` (region=/date=/ files, as the ingestors write).
2. `data_jobs.price_features.compute_features` over the whole lake on a local Ray with
   2 CPUs (Ray already started; its time excludes start-up), while a thread samples the
   summed RSS of the driver and every process it started (GCS, raylet, Ray workers). The
   JSON figure is the first run (fresh workers); a second run with warm workers is shown.
3. DuckDB (2 threads) computing the same per-product-location statistics from the same
   files in one query: price mean, std, min, max, exact percentiles, price-volume
   correlation, and the sums of the elasticity regression (log(1 + units) on log price,
   log competitor price, promotion) whose 3x3 solve is the same vectorised
   `core.retail.features.elasticities` the Ray job uses.
4. Both results agree on a sample of product-locations (season "all"); the figures print.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import ray
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.ingest.pipeline import IngestConfig, IngestPipeline  # noqa: E402
from core.ingest.records import LAKE_SCHEMA, PARTITION_COLUMNS  # noqa: E402
from core.ingest.reference import Reference  # noqa: E402
from core.lake import PRICE_POINTS, Lake  # noqa: E402
from core.market.feed import PriceFeed  # noqa: E402
from core.market.simulator import Market, MarketSpec  # noqa: E402
from core.retail.features import ALL_SEASONS, PERCENTILES, elasticities  # noqa: E402
from data_jobs.price_features import compute_features  # noqa: E402

SPEC = MarketSpec(seed=11, products=200, stores_per_city=8)  # 25,600 product-locations
CHECKED_RECORDS = 20_000
SAMPLE = 500
_UTC = pa.timestamp("us", tz="UTC")
_OLS_TERMS = ("lp", "lc", "promo", "y")
STATISTICS = ("price_mean", "price_std", "price_min", "price_max", "price_units_corr",
              "elasticity", "elasticity_se",
              *(f"price_p{q:02d}" for q in PERCENTILES if q != 50), "price_median")


def lake_rows(feed: pa.Table, reference: Reference, received_at: datetime) -> pa.Table:
    """Lake rows of clean feed records, as validation normalises them (USD prices, UTC
    instants, canonical names); only for records that pass every check."""
    feed = pa.concat_batches(feed.to_batches())  # arrays: the reference lookups take them
    fx = reference.fx_to_usd(feed["currency"])
    region = reference.regions(feed["region"])
    city = reference.cities(region, feed["city"])
    path, category, subcategory = reference.category_paths(feed["category_path"])
    ts = pc.strptime(feed["timestamp"], format="%Y-%m-%dT%H:%M:%S%z", unit="us").cast(_UTC)
    maps = feed["competitor_prices"]
    bounds = np.asarray(maps.offsets)  # a sliced map array's offsets point into all its items
    offsets = (bounds - bounds[0]).astype(np.int32)
    keys, items = (part.slice(bounds[0], bounds[-1] - bounds[0]) for part in (maps.keys,
                                                                              maps.items))
    parents = np.repeat(np.arange(feed.num_rows), np.diff(offsets))
    scaled = items.to_numpy(zero_copy_only=False) * fx.to_numpy(zero_copy_only=False)[parents]
    price = feed["price"]
    return pa.table({
        "record_id": feed["record_id"], "product_id": feed["product_id"], "sku": feed["sku"],
        "category_path": path, "category": category, "subcategory": subcategory,
        "description": feed["description"],
        "price": pc.multiply(price, fx), "cost": pc.multiply(feed["cost"], fx),
        "margin": pc.divide(pc.subtract(price, feed["cost"]), price),
        "discount_pct": pc.fill_null(feed["discount_pct"], 0.0),
        "currency_original": pc.utf8_upper(feed["currency"]), "fx_rate_to_usd": fx,
        "store_id": feed["store_id"], "city": city,
        "postal_code": Reference.postal_codes(feed["postal_code"]),
        "urban": reference.urban(city), "ts": ts, "units_sold": feed["units_sold"],
        "revenue": pc.multiply(feed["revenue"], fx),
        "inventory_level": feed["inventory_level"],
        "competitor_prices": pa.MapArray.from_arrays(offsets, keys, pa.array(scaled)),
        "competitor_min_price": np.minimum.reduceat(scaled, offsets[:-1]),
        "ingested_at": pa.array([received_at] * feed.num_rows, _UTC),
        "region": region, "date": pc.strftime(ts, format="%Y-%m-%d"),
    }, schema=LAKE_SCHEMA)


def check_against_ingestion(feed: pa.Table, reference: Reference) -> None:
    """The real pipeline accepts every record and writes the rows `lake_rows` writes."""
    received_at = datetime.now(UTC)
    records = feed.to_pylist()
    for record in records:
        record["competitor_prices"] = dict(record["competitor_prices"])
    result = IngestPipeline(reference, IngestConfig()).process(records, received_at)
    if result.rejections:
        raise AssertionError(f"ingestion rejected {len(result.rejections)} clean records")
    mine = lake_rows(feed, reference, received_at)
    if not result.valid.drop_columns(["ingested_at"]).equals(mine.drop_columns(["ingested_at"])):
        raise AssertionError("lake_rows differs from what ingestion writes")


def generate(lake: Lake, records: int) -> tuple[int, int, float]:
    """Write about `records` price points; returns (records, files, seconds)."""
    started = time.perf_counter()
    market = Market(SPEC)
    reference = Reference.load()
    days = -(-records // market.n_product_locations)
    feed = PriceFeed(market, bad_fraction=0.0, run_id="bench-features")
    written, files, checked = 0, 0, False
    for table in feed.tables(days=days, batch_size=200_000):
        if not checked:
            check_against_ingestion(table.slice(0, CHECKED_RECORDS), reference)
            checked = True
        rows = lake_rows(table, reference, datetime.now(UTC))
        files += len(lake.write_partitioned(rows, PRICE_POINTS, PARTITION_COLUMNS))
        written += rows.num_rows
    return written, files, time.perf_counter() - started


class MemorySampler:
    """Peak summed RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s = every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        me = psutil.Process()
        total = 0
        for process in [me, *me.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a worker that just exited
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(self.every_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def duckdb_statistics(lake: Lake) -> pa.Table:
    """Per product-location statistics of the whole lake by DuckDB, named as the features."""
    pairs = [(a, b) for i, a in enumerate(_OLS_TERMS) for b in _OLS_TERMS[i:]]
    quantiles = ", ".join(f"{q / 100}" for q in PERCENTILES)
    sql = f"""
        WITH rows AS (
            SELECT product_id, store_id, price, units_sold::DOUBLE AS units,
                   ln(price) AS lp,
                   coalesce(CASE WHEN competitor_min_price > 0
                                 THEN ln(competitor_min_price) END, 0.0) AS lc,
                   (discount_pct > 0)::DOUBLE AS promo, ln(1 + units_sold) AS y
            FROM read_parquet('{lake.path(PRICE_POINTS)}/**/*.parquet', hive_partitioning = true)
        )
        SELECT product_id, store_id, count(*)::DOUBLE AS n, sum(units) AS units,
               avg(price) AS price_mean, stddev_pop(price) AS price_std,
               min(price) AS price_min, max(price) AS price_max,
               quantile_disc(price, [{quantiles}]) AS quantiles,
               corr(price, units) AS price_units_corr,
               {", ".join(f"sum({t}) AS {t}" for t in _OLS_TERMS)},
               {", ".join(f'sum({a} * {b}) AS "{a}*{b}"' for a, b in pairs)}
        FROM rows GROUP BY product_id, store_id
    """
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    stats = connection.sql(sql).to_arrow_table()
    quantile_values = np.array(stats["quantiles"].to_pylist())
    out = stats.drop_columns(["quantiles"])
    for j, q in enumerate(PERCENTILES):
        name = "price_median" if q == 50 else f"price_p{q:02d}"
        out = out.append_column(name, pa.array(quantile_values[:, j]))
    for name, values in elasticities(out).items():
        out = out.append_column(name, pa.array(values))
    return out


def disagreements(ray_rows: pa.Table, duck_rows: pa.Table, sample: int) -> dict[str, int]:
    """Per statistic, how many of `sample` random product-locations differ beyond 1e-6."""
    keys = ["product_id", "store_id"]
    ours = ray_rows.filter(pc.equal(ray_rows["season"], ALL_SEASONS)).select(
        [*keys, *STATISTICS])
    rng = np.random.default_rng(0)
    picked = ours.take(pa.array(np.sort(rng.choice(ours.num_rows, min(sample, ours.num_rows),
                                                   replace=False))))
    joined = picked.join(duck_rows.select([*keys, *STATISTICS]), keys, right_suffix="_duck")
    if joined.num_rows != picked.num_rows:
        raise AssertionError(f"{picked.num_rows - joined.num_rows} product-locations missing")
    out = {}
    for name in STATISTICS:
        a = joined[name].to_numpy(zero_copy_only=False).astype(float)
        b = joined[f"{name}_duck"].to_numpy(zero_copy_only=False).astype(float)
        same = np.isclose(a, b, rtol=1e-6, atol=1e-9) | (np.isnan(a) & np.isnan(b))
        out[name] = int((~same).sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 thousand records")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--lake", default=None, help="lake folder (default: a temp dir)")
    args = parser.parse_args()
    records = args.records or (300_000 if args.quick else 10_000_000)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="dynaprice-bench-features-") as scratch:
        lake = Lake.open(args.lake or scratch)
        if not lake.exists(PRICE_POINTS):
            written, files, generate_s = generate(lake, records)
            console.print(f"lake: {written:,} records in {files:,} files, "
                          f"{lake.size_bytes(PRICE_POINTS) / 1e6:,.0f} MB, {generate_s:.1f} s")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        idle_gb = MemorySampler.current() / 1e9
        with MemorySampler() as memory:
            started = time.perf_counter()
            features, window = compute_features(lake)
            ray_s = time.perf_counter() - started
            started = time.perf_counter()  # again, with warm workers and Ray Data's actors
            compute_features(lake)
            warm_s = time.perf_counter() - started
        ray.shutdown()
        started = time.perf_counter()
        duck = duckdb_statistics(lake)
        duck_s = time.perf_counter() - started
        differ = disagreements(features.product_locations, duck, SAMPLE)
    if any(differ.values()):
        raise AssertionError(f"Ray Data and DuckDB disagree: {differ}")
    figures = {"ray_data_s": round(ray_s, 2), "duckdb_s": round(duck_s, 2),
               "ray_vs_duckdb": round(ray_s / duck_s, 2),
               "peak_memory_gb": round(memory.peak / 1e9, 2)}
    table = Table(title=f"retail features over {window.records_read:,} price points")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("Ray Data compute_features (2 CPUs), first run", f"{ray_s:.2f} s")
    table.add_row("  second run (warm workers; not in the JSON)", f"{warm_s:.2f} s")
    table.add_row("DuckDB same statistics (2 threads)", f"{duck_s:.2f} s")
    table.add_row("Ray Data / DuckDB", f"{ray_s / duck_s:.2f}x")
    table.add_row("peak RSS, driver + Ray processes", f"{memory.peak / 1e9:.2f} GB")
    table.add_row("RSS of idle Ray before the job", f"{idle_gb:.2f} GB")
    table.add_row("product-locations (DuckDB)", f"{duck.num_rows:,}")
    table.add_row(f"statistics checked on {SAMPLE} product-locations",
                  f"{len(STATISTICS)} agree")
    console.print(table)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
