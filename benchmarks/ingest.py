"""Ingestion throughput: raw Parquet writes vs dynaprice's core path vs the full HTTP+actor path.

(a) `pyarrow.parquet.write_to_dataset` of the already-valid rows (the floor), (b) the core
validate+transform+dedupe+write path in this process, in micro-batches as the actors run it,
(c) the whole path: JSON over HTTP to the Serve ingress, routed to one RegionIngestor actor
per region, written to the lake. One run, same machine, same generated records (3% bad).

    python benchmarks/ingest.py            # 1,000,000 records
    python benchmarks/ingest.py --quick    # 60,000 records
"""

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from cluster.local_services import free_port, redis_answers
from core.config_files import load_config
from core.ingest.dead_letters import write_dead_letters
from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.reference import Reference
from core.lake import PRICE_POINTS, Lake
from core.market.feed import PriceFeed
from core.market.simulator import Market, MarketSpec
from core.settings import Settings

console = Console()


def generate(n_records: int) -> list[dict]:
    """About `n_records` price points (3% bad, non-objects left out: HTTP answers those 422)."""
    market = Market(MarketSpec(seed=1, stores_per_city=8, products=100))
    per_day = len(market.stores) * len(market.products)
    feed = PriceFeed(market, bad_fraction=0.03, run_id="bench")
    records: list[dict] = []
    for batch in feed.history(days=-(-n_records // per_day), start=date(2026, 6, 1),
                              batch_size=20_000):
        records += [r for r in batch.records if isinstance(r, dict)]
        if len(records) >= n_records:
            break
    return records[:n_records]


def core_path(records: list[dict], lake: Lake, batch: int) -> tuple[float, pa.Table]:
    config = load_config("ingest", IngestConfig)
    pipelines: dict[str, IngestPipeline] = {}
    reference = Reference.load()
    by_region: dict[str, list[dict]] = {}
    for record in records:
        region = reference.region_of(record.get("region")) or reference.region_names[0]
        by_region.setdefault(region, []).append(record)
    accepted = []
    started = time.perf_counter()
    for region, rows in by_region.items():
        pipeline = pipelines.setdefault(region, IngestPipeline(reference, config))
        for start in range(0, len(rows), batch):
            now = datetime.now(UTC)
            result = pipeline.process(rows[start:start + batch], now)
            lake.write_partitioned(result.valid, PRICE_POINTS, ["region", "date"])
            write_dead_letters(lake, result.rejections, "bench", now)
            accepted.append(result.valid)
    return time.perf_counter() - started, pa.concat_tables(accepted)


def raw_path(valid: pa.Table, root: Path) -> float:
    started = time.perf_counter()
    pq.write_to_dataset(valid, str(root), partition_cols=["region", "date"],
                        existing_data_behavior="overwrite_or_ignore")
    return time.perf_counter() - started


def full_path(records: list[dict], lake_uri: str, chunk: int, concurrency: int) -> float:
    import ray
    from ray import serve

    from serve_apps.ingest import IngestAPI

    redis_url = os.environ.get("REDIS_URL") or (
        "redis://127.0.0.1:6379/0" if redis_answers("redis://127.0.0.1:6379/0") else None)
    settings = Settings(lake_uri=lake_uri, redis_url=redis_url, namespace="bench-ingest")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", runtime_env={"env_vars": settings.as_env()})
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(IngestAPI.options(num_replicas=2).bind(settings), name="ingest",
              route_prefix="/api/ingest")
    url = f"http://127.0.0.1:{port}/api/ingest/price-points"
    bodies = [json.dumps(records[i:i + chunk]).encode() for i in range(0, len(records), chunk)]

    async def send() -> None:
        queue = list(reversed(bodies))
        async with httpx.AsyncClient(timeout=300) as client:
            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    response = await client.post(
                        url, content=body, headers={"content-type": "application/json"})
                    response.raise_for_status()
            await asyncio.gather(*(worker() for _ in range(concurrency)))

    try:
        started = time.perf_counter()
        asyncio.run(send())
        return time.perf_counter() - started
    finally:
        ray.shutdown()  # takes Serve with it (serve.shutdown() waits a minute for drains)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60k records, under a minute")
    parser.add_argument("--records", type=int, default=None)
    args = parser.parse_args()
    n = args.records or (60_000 if args.quick else 1_000_000)
    with console.status(f"generating {n:,} records"):
        records = generate(n)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        with console.status("(b) core validate+transform+write"):
            core_s, valid = core_path(records, Lake.open(str(work / "core")), 20_000)
        with console.status("(a) raw write_to_dataset"):
            raw_s = raw_path(valid, work / "raw")
        with console.status("(c) HTTP -> Serve -> region actors -> lake"):
            full_s = full_path(records, str(work / "full"), chunk=10_000, concurrency=4)
        landed = Lake.open(str(work / "full")).read(PRICE_POINTS, ["record_id"]).num_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_rate = valid.num_rows / raw_s
    core_rate, full_rate = len(records) / core_s, len(records) / full_s
    table = Table(title=f"ingestion of {len(records):,} records ({valid.num_rows:,} valid)")
    for column in ("path", "seconds", "records/s", "vs raw"):
        table.add_column(column, justify="right")
    table.add_row("(a) raw write_to_dataset", f"{raw_s:.2f}", f"{raw_rate:,.0f}", "1.00")
    table.add_row("(b) core validate+write", f"{core_s:.2f}", f"{core_rate:,.0f}",
                  f"{core_rate / raw_rate:.2f}")
    table.add_row("(c) HTTP + actors", f"{full_s:.2f}", f"{full_rate:,.0f}",
                  f"{full_rate / raw_rate:.2f}")
    console.print(table)
    console.print(f"rows in the lake after (c): {landed:,} (valid in (b): {valid.num_rows:,}); "
                  f"2M records/day take {2e6 / full_rate:.0f} s through (c)")
    print(json.dumps({
        "raw_records_per_s": round(raw_rate), "core_records_per_s": round(core_rate),
        "full_records_per_s": round(full_rate), "core_vs_raw": round(core_rate / raw_rate, 3),
        "full_vs_raw": round(full_rate / raw_rate, 3),
    }))


if __name__ == "__main__":
    main()
