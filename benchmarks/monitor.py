"""Price monitor: records/s it sustains, and the delay from ingest acknowledgement to the alert.

(a) `Monitor.process` in this process (the rules alone, the baseline), (b) the PriceMonitor
actor flooded with ready batches (rules + alert dispatch + Redis journal), (c) the whole path
at an offered rate: JSON over HTTP to the ingest app, RegionIngestors, one PriceMonitor per
region, alert stream. (b) runs twice: one monitor for every region, and one monitor per region
partition (each fed its region's rows), to show what splitting buys. Each chunk carries a
probe product whose price rises 21%; the delay is from the HTTP answer that acknowledged the
probe to its alert appearing in the Redis stream `GET /api/retail/alerts` reads. A probe the
ingestion rejected is counted apart: only an accepted probe without an alert is a lost alert.

    python benchmarks/monitor.py            # 300,000 records offered at 20,000/s
    python benchmarks/monitor.py --quick    # 60,000 records
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import redis
import yaml
from ingest import generate  # the ingestion benchmark's records (benchmarks/ is on sys.path)
from rich.console import Console
from rich.table import Table

from cluster.local_services import free_port, redis_answers
from core.alerts import Alert, AlertsConfig
from core.config_files import load_config
from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.reference import Reference
from core.monitor import Monitor, MonitorConfig
from core.monitor_journal import monitor_rows
from core.settings import REPO_ROOT, Settings

console = Console()
CHUNK = 2000


def event_time(record: dict) -> float:
    """The record's timestamp as epoch seconds (0 for the deliberately bad ones)."""
    try:
        return datetime.fromisoformat(record["timestamp"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def live_stream(records: list[dict], rate: float) -> list[dict]:
    """The records in event-time order, re-stamped as a live feed at `rate` records/s ending
    now (the generated feed packs a day into a few seconds: concurrent requests would then
    reorder event time by hours and the monitor would rightly skip most rows as late)."""
    ordered = sorted(records, key=event_time)
    start = datetime.now(UTC) - timedelta(seconds=len(ordered) / rate)
    return [{**r, "timestamp": (start + timedelta(seconds=i / rate)).isoformat()}
            if event_time(r) > 0 else r for i, r in enumerate(ordered)]


PROBE_MOVE = 1.1  # probes go from anchor / 1.1 to anchor * 1.1: a 21% rise


def with_probes(records: list[dict], accepted: set[str]) -> tuple[list[list[dict]], dict[str, int]]:
    """Chunks of records; each chunk also carries a probe: a product whose price rises
    21% one minute (event time) after its first price. A probe copies an accepted record of the
    chunk (the anchor) and prices itself around the anchor's price, so ingestion's category
    outlier check accepts it as it accepted the anchor. Returns chunks, probe -> chunk."""
    chunks, probes = [], {}
    for n, start in enumerate(range(0, len(records), CHUNK)):
        chunk = list(records[start:start + CHUNK])
        anchor = next((r for r in reversed(chunk) if r.get("record_id") in accepted
                       and r.get("region") in ("west", "midwest", "northeast", "south")), None)
        if anchor is not None:
            product = f"probe-{n}"
            jump_ts = datetime.fromisoformat(anchor["timestamp"]).astimezone(UTC)
            moves = ((jump_ts - timedelta(minutes=1), anchor["price"] / PROBE_MOVE),
                     (jump_ts, anchor["price"] * PROBE_MOVE))
            for i, (ts, price) in enumerate(moves):
                chunk.append({**anchor, "record_id": f"{product}-{i}", "product_id": product,
                              "sku": f"SKU-{product}", "price": round(price, 2),
                              "cost": round(price / 2, 2), "margin": None, "revenue": None,
                              "competitor_prices": None, "timestamp": ts.isoformat()})
            probes[product] = n
        chunks.append(chunk)
    return chunks, probes


def accepted_rows(records: list[dict]) -> tuple[list[pa.Table], set[str]]:
    """What ingestion accepts of `records` in CHUNK batches: monitor rows and record ids."""
    pipeline = IngestPipeline(Reference.load(), load_config("ingest", IngestConfig))
    batches, ids = [], set()
    for i in range(0, len(records), CHUNK):
        valid = pipeline.process(records[i:i + CHUNK], datetime.now(UTC)).valid
        batches.append(monitor_rows(valid))
        ids.update(valid["record_id"].to_pylist())
    return batches, ids


def core_rate(batches: list[pa.Table]) -> float:
    monitor = Monitor(load_config("monitor", MonitorConfig))
    started = time.perf_counter()
    for batch in batches:
        monitor.process(batch)
    return sum(b.num_rows for b in batches) / (time.perf_counter() - started)


def bench_settings(work: Path, redis_url: str, stream: str) -> Settings:
    configs = work / "configs"
    shutil.copytree(REPO_ROOT / "configs", configs)
    alerts = yaml.safe_load((configs / "alerts.yaml").read_text())
    alerts["redis_stream"]["key"] = stream
    (configs / "alerts.yaml").write_text(yaml.safe_dump(alerts))
    return Settings(lake_uri=str(work / "lake"), redis_url=redis_url, configs_dir=configs,
                    namespace=f"bench-monitor-{uuid.uuid4().hex[:6]}")


def actor_rate(work: Path, redis_url: str, stream: str, batches: list[pa.Table],
               regions: list[str] | None = None) -> float:
    """Records/s from submitting ready batches until every alert reached every sink: one
    monitor, or (with `regions`) one per region fed only its region's rows."""
    import ray

    from actors.price_monitor import PriceMonitor

    parts = regions or [None]
    monitors = {
        part: PriceMonitor.options(namespace=settings.namespace).remote(settings, part or "all")
        for part, settings in ((p, bench_settings(work / f"flood-{p or 'all'}", redis_url,
                                                  stream)) for p in parts)
    }
    ray.get([m.stats.remote() for m in monitors.values()])
    shares = [(monitors[part], ray.put(batch if part is None else
                                       batch.filter(pc.equal(batch["region"], part))))
              for batch in batches for part in parts]
    started = time.perf_counter()
    ray.get([monitor.observe.remote(uuid.uuid4().hex, ref) for monitor, ref in shares])
    ray.get([m.flush_alerts.remote(120) for m in monitors.values()])
    elapsed = time.perf_counter() - started
    for monitor in monitors.values():
        ray.kill(monitor)
    return sum(b.num_rows for b in batches) / elapsed


class StreamWatcher(threading.Thread):
    """Notes when each probe's price-move alert entered the stream: the entry id's wall-clock
    milliseconds, stamped by Redis on this machine at XADD (so this reader's own lag behind
    the stream does not count). Reads raw entries and parses only the probes'."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        super().__init__(daemon=True)
        self.client, self.stream = client, stream
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        after = "0-0"
        while not self.stop.is_set():
            for _stream, entries in self.client.xread({self.stream: after}, count=1000,
                                                      block=100) or []:
                for entry_id, fields in entries:
                    after = entry_id
                    if (fields[b"kind"] == b"price_move"
                            and b'"product_id":"probe-' in fields[b"alert"]):
                        alert = Alert.model_validate_json(fields[b"alert"])
                        added_ms = int(entry_id.split(b"-")[0])
                        self.seen.setdefault(alert.product_id, added_ms / 1000)


@dataclass
class PathResult:
    achieved_records_per_s: float
    delays_ms: list[float]
    rejected: set[str]  # probes the ingestion rejected (not the monitor's to alert on)
    lost: set[str]  # accepted probes that never alerted
    dropped: dict[str, int]  # alerts each sink dropped for being too far behind


def full_path(settings: Settings, chunks: list[list[dict]], probes: dict[str, int],
              rate: float, concurrency: int) -> PathResult:
    """Offer `rate` records/s of `chunks`; when each probe was acknowledged and alerted."""
    import ray
    from ray import serve

    from actors.price_monitor import ensure_price_monitors
    from serve_apps.ingest import IngestAPI

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    monitors = list(ensure_price_monitors(settings).values())
    serve.run(IngestAPI.options(num_replicas=2).bind(settings), name="ingest",
              route_prefix="/api/ingest")
    url = f"http://127.0.0.1:{port}/api/ingest/price-points"
    client = redis.Redis.from_url(settings.redis_url)
    watcher = StreamWatcher(client, load_config(
        "alerts", AlertsConfig, settings.configs_dir).redis_stream.key)
    watcher.start()
    acked: dict[int, float] = {}
    rejected: set[str] = set()
    bodies = [json.dumps(chunk).encode() for chunk in chunks]

    async def send() -> None:
        gate = asyncio.Semaphore(concurrency)
        interval = CHUNK / rate
        async with httpx.AsyncClient(timeout=300) as http:
            async def post(n: int, body: bytes) -> None:
                async with gate:
                    response = await http.post(
                        url, content=body, headers={"content-type": "application/json"})
                    response.raise_for_status()
                    acked[n] = time.time()  # the clock Redis stamps stream entries with
                    rejected.update(r["record_id"].rsplit("-", 1)[0]
                                    for r in response.json()["rejects"]
                                    if str(r["record_id"]).startswith("probe-"))
            tasks = []
            t0 = time.monotonic()
            for n, body in enumerate(bodies):
                await asyncio.sleep(max(0.0, t0 + n * interval - time.monotonic()))
                tasks.append(asyncio.create_task(post(n, body)))
            await asyncio.gather(*tasks)

    try:
        started = time.perf_counter()
        asyncio.run(send())
        elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 30
        while len(watcher.seen) < len(probes) - len(rejected) and time.monotonic() < deadline:
            time.sleep(0.1)
        watcher.stop.set()
        watcher.join()
        ray.get([monitor.flush_alerts.remote(30) for monitor in monitors])
        dropped: dict[str, int] = {}
        for stats in ray.get([monitor.stats.remote() for monitor in monitors]):
            for sink, counts in stats["sinks"].items():
                dropped[sink] = dropped.get(sink, 0) + counts["dropped"]
        for monitor in monitors:
            ray.kill(monitor)
        return PathResult(
            achieved_records_per_s=sum(len(c) for c in chunks) / elapsed,
            delays_ms=[max(0.0, watcher.seen[p] - acked[n]) * 1000
                       for p, n in probes.items() if p in watcher.seen],
            rejected=rejected, lost=set(probes) - rejected - set(watcher.seen), dropped=dropped)
    finally:
        serve.shutdown()


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60k records, about a minute")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--rate", type=float, default=20_000, help="records/s offered")
    args = parser.parse_args()
    n = args.records or (60_000 if args.quick else 300_000)
    import ray

    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not redis_answers(redis_url):
        raise SystemExit(f"no Redis at {redis_url} (set REDIS_URL)")
    with console.status(f"generating {n:,} records"):
        records = live_stream(generate(n), args.rate)
        batches, accepted = accepted_rows(records)
        chunks, probes = with_probes(records, accepted)
        regions = Reference.load().region_names
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    stream = f"bench:{uuid.uuid4().hex}:alerts"
    settings = bench_settings(work, redis_url, stream)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", runtime_env={"env_vars": settings.as_env()})
    client = redis.Redis.from_url(redis_url)
    try:
        with console.status("(a) Monitor.process in this process"):
            core = core_rate(batches)
        with console.status("(b) one PriceMonitor actor, flooded"):
            flood = actor_rate(work, redis_url, f"{stream}:flood", batches)
        with console.status(f"(b) {len(regions)} PriceMonitor actors (one per region), flooded"):
            split = actor_rate(work, redis_url, f"{stream}:split", batches, regions)
        with console.status(f"(c) HTTP -> ingest -> monitor -> stream at {args.rate:,.0f}/s"):
            path = full_path(settings, chunks, probes, args.rate, 8)
    finally:
        ray.shutdown()
        keys = [*client.scan_iter(match=f"{stream}*"),
                *client.scan_iter(match="dynaprice:bench-monitor-*")]
        if keys:
            client.delete(*keys)
        shutil.rmtree(work, ignore_errors=True)
    delays = path.delays_ms
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    judged = len(probes) - len(path.rejected)
    table = Table(title=f"price monitor over {n:,} records ({sum(b.num_rows for b in batches):,}"
                        " valid)")
    for column in ("measure", "value"):
        table.add_column(column, justify="right")
    table.add_row("(a) rules alone, records/s", f"{core:,.0f}")
    table.add_row("(b) one PriceMonitor actor, records/s (alerts delivered)", f"{flood:,.0f}")
    table.add_row("(b) / (a)", f"{flood / core:.2f}")
    table.add_row(f"(b) {len(regions)} actors, one per region, records/s", f"{split:,.0f}")
    table.add_row("(c) offered records/s", f"{args.rate:,.0f}")
    table.add_row("(c) achieved ingest records/s", f"{path.achieved_records_per_s:,.0f}")
    table.add_row("(c) probes rejected by ingestion", f"{len(path.rejected)}")
    table.add_row("(c) probes alerted / accepted", f"{len(delays)} / {judged}")
    table.add_row("(c) alerts dropped by a sink too far behind",
                  ", ".join(f"{sink} {n}" for sink, n in path.dropped.items()))
    table.add_row("(c) ack -> alert in feed p50 ms", f"{p50:,.0f}")
    table.add_row("(c) ack -> alert in feed p95 ms", f"{p95:,.0f}")
    console.print(table)
    if path.lost:
        console.print(f"[red]accepted probes that never alerted: {sorted(path.lost)}[/]")
    print(json.dumps({
        "monitor_records_per_s": round(flood), "records_per_s": round(flood),
        "alert_delay_p50_ms": round(p50, 1), "alert_delay_p95_ms": round(p95, 1),
        "probes_alerted": f"{len(delays)}/{judged}", "probes_rejected": len(path.rejected),
        "core_records_per_s": round(core), "per_region_records_per_s": round(split),
        "offered_records_per_s": round(args.rate),
        "achieved_records_per_s": round(path.achieved_records_per_s),
        "alerts_dropped": sum(path.dropped.values()),
    }))


if __name__ == "__main__":
    main()
