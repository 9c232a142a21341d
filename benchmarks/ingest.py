"""Ingestion throughput: raw Parquet writes vs dynaprice's core path vs the full HTTP+actor path.

(a) `pyarrow.parquet.write_to_dataset` of the already-valid, already-normalised rows (the
floor; records/s counts those rows), (b) the core path in this process, from the bytes a
client sends to durable files: parse the NDJSON bodies, route by region, then validate +
transform + dedupe + write (lake and DLQ, fsync'd) in micro-batches as the actors run it,
(c) the whole path: the same NDJSON bodies over HTTP to the Serve ingress, routed to one
RegionIngestor actor per region, written to the lake. (b) and (c) count every record sent,
bad ones included. One run, same machine, same generated records (3% bad); encoding the
bodies is the client's work and is not timed.

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
from core.ingest.body import parse_body
from core.ingest.dead_letters import write_dead_letters
from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.received import ReceivedBatch
from core.ingest.reference import Reference
from core.lake import PRICE_POINTS, Lake
from core.market.feed import PriceFeed
from core.market.simulator import Market, MarketSpec
from core.settings import Settings

console = Console()
NDJSON = "application/x-ndjson"


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


def ndjson_bodies(records: list[dict], chunk: int) -> list[bytes]:
    """The records as a client sends them: NDJSON bodies of `chunk` records."""
    return ["\n".join(map(json.dumps, records[i:i + chunk])).encode()
            for i in range(0, len(records), chunk)]


def core_path(bodies: list[bytes], lake: Lake, batch: int) -> tuple[float, float, pa.Table]:
    """Seconds for the whole core path, seconds of it spent parsing, and the accepted rows."""
    config = load_config("ingest", IngestConfig)
    reference = Reference.load()
    pipelines = {region: IngestPipeline(reference, config) for region in reference.region_names}
    accepted = []
    started = time.perf_counter()
    received = ReceivedBatch.concat(parse_body(body, NDJSON) for body in bodies)
    parse_s = time.perf_counter() - started
    for region, rows in received.rows_by_region(reference).items():
        for start in range(0, len(rows), batch):
            now = datetime.now(UTC)
            result = pipelines[region].process(received.take(rows[start:start + batch]), now)
            lake.write_partitioned(result.valid, PRICE_POINTS, ["region", "date"])
            write_dead_letters(lake, result.rejections, "bench", now)
            accepted.append(result.valid)
    return time.perf_counter() - started, parse_s, pa.concat_tables(accepted)


def raw_path(valid: pa.Table, root: Path) -> float:
    started = time.perf_counter()
    pq.write_to_dataset(valid, str(root), partition_cols=["region", "date"],
                        existing_data_behavior="overwrite_or_ignore")
    return time.perf_counter() - started


def full_path(bodies: list[bytes], lake_uri: str, concurrency: int) -> float:
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

    async def send() -> None:
        queue = list(reversed(bodies))
        async with httpx.AsyncClient(timeout=300) as client:
            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    response = await client.post(url, content=body,
                                                 headers={"content-type": NDJSON})
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
        bodies = ndjson_bodies(records, 10_000)
        n = len(records)
        del records  # the client's objects: kept, every full GC pass of the paths timed walks them
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        with console.status("(b) core parse+validate+transform+write"):
            core_s, parse_s, valid = core_path(bodies, Lake.open(str(work / "core")), 20_000)
        with console.status("(a) raw write_to_dataset"):
            raw_s = raw_path(valid, work / "raw")
        with console.status("(c) HTTP -> Serve -> region actors -> lake"):
            full_s = full_path(bodies, str(work / "full"), concurrency=4)
        landed = Lake.open(str(work / "full")).read(PRICE_POINTS, ["record_id"]).num_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_rate = valid.num_rows / raw_s
    core_rate, full_rate = n / core_s, n / full_s
    table = Table(title=f"ingestion of {n:,} records ({valid.num_rows:,} valid)")
    for column in ("path", "seconds", "records/s", "vs raw"):
        table.add_column(column, justify="right")
    table.add_row("(a) raw write_to_dataset", f"{raw_s:.2f}", f"{raw_rate:,.0f}", "1.00")
    table.add_row("(b) core parse+validate+write", f"{core_s:.2f}", f"{core_rate:,.0f}",
                  f"{core_rate / raw_rate:.2f}")
    checked_rate = n / (core_s - parse_s)
    table.add_row("    of which parsing NDJSON", f"{parse_s:.2f}", "", "")
    table.add_row("    (b) without the parse", f"{core_s - parse_s:.2f}", f"{checked_rate:,.0f}",
                  f"{checked_rate / raw_rate:.2f}")
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
