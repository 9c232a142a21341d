"""Ad pricing: slot-price latency under open-loop load, the budget optimiser, the audience
rollup job and the audience forecaster against a seasonal baseline.

(a) Slot price p95 at 100 requests/s: the `ads` app on a local Ray Serve, prices from a
replayed forecast; a load client in its own process sends requests on a fixed schedule
(open loop: latency counts from the scheduled send time, so a stall is not hidden).
(b) Optimiser over 100 locations x 7 days x 24 hours (16,800 slots) priced by
configs/ratecard.yaml, 2% booked; `optimize_ms` is the capped 5%-of-inventory budget.
(c) `data_jobs.audience_rollup` (Ray Data) on simulated camera records: 100 cameras x 30 days.
(d) On the real series in ../shared/data, the final week held out and forecast 7 days ahead
from the hour before it: LightGBM quantile forecaster vs the seasonal baseline (each
hour-of-week's quantiles over the previous 8 weeks). No weather: the files hold observed
weather, which would be a perfect 7-day weather forecast. The full run first searches the
boosters' parameters with Ray Tune on the weeks before the final one (never on it).

    python benchmarks/ads.py           # full measurement
    python benchmarks/ads.py --quick   # 20 cameras x 7 days, 5 s of load, lighter boosters
"""

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import ray
import redis
import yaml
from ray import serve
from rich.console import Console
from rich.table import Table

from cluster.local_services import ensure_redis, free_port
from core.ads.audience_forecast import fit_and_backtest
from core.ads.audience_sim import fleet_locations, replayed_forecast
from core.ads.forecast_selection import truncate_weeks
from core.ads.public_series import WEATHER_COLUMNS, read_parking, read_traffic
from core.ads.ratecard import load_rate_card, price_slots
from core.ads.slot_optimizer import optimise_slots
from core.api_keys import hash_key
from core.lake import AUDIENCE_FORECASTS, Lake
from core.settings import REPO_ROOT, Settings
from data_jobs.audience_rollup import run_rollup
from data_jobs.seed_audience import seed_audience
from serve_apps.ads import FORECAST_FILE, AdPricingAPI
from tuning.audience_forecast import search_params

LOCATIONS, HOURS = 100, 7 * 24
QUICK_FORECASTER = {"num_iterations": 100, "learning_rate": 0.12}
TUNE_TRIALS, TUNE_FOLDS = 8, 2
BENCH_KEY = "bench-ads-key"
console = Console()


# ---- (a) slot price latency ---------------------------------------------------------------


def _load_client(url: str, paths: list[str], rate: float, seconds: float,
                 results: "multiprocessing.Queue") -> None:
    """Open loop: request i is due at start + i / rate whatever happened before it."""

    async def run() -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": BENCH_KEY},
                                     timeout=10, limits=limits) as client:

            async def one(path: str, due: float) -> None:
                nonlocal errors
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    response = await client.get(path)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - due)
                else:
                    errors += 1

            start = time.perf_counter() + 0.2
            count = int(rate * seconds)
            await asyncio.gather(*(one(paths[i % len(paths)], start + i / rate)
                                   for i in range(count)))
        return latencies, errors

    results.put(asyncio.run(run()))


def _bench_configs() -> Path:
    """The repo's configs plus a benchmark API key whose rate limit the load cannot reach."""
    folder = Path(tempfile.mkdtemp(prefix="ads-bench-configs-"))
    shutil.copytree(REPO_ROOT / "configs", folder, dirs_exist_ok=True)
    keys = yaml.safe_load((folder / "api_keys.yaml").read_text())
    keys["keys"].append({"name": "bench-ads", "sha256": hash_key(BENCH_KEY), "roles": ["admin"],
                         "requests_per_hour": 100_000_000})
    (folder / "api_keys.yaml").write_text(yaml.safe_dump(keys))
    return folder


def slot_latency(settings: Settings, forecast: pa.Table, rates: tuple[float, ...],
                 seconds: float) -> dict[float, dict[str, float]]:
    """p50/p95/p99 ms of GET /pricing/slot at each of `rates` requests/s (another process)."""
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    namespace = f"ads-bench-{uuid.uuid4().hex[:6]}"
    serve.run(AdPricingAPI.bind(settings, namespace), name=namespace,
              route_prefix=f"/{namespace}")
    url = f"http://127.0.0.1:{port}/{namespace}"
    rows = forecast.select(["location", "slot_start"]).to_pylist()
    paths = [f"/pricing/slot/{r['location']}/{r['slot_start']:%Y-%m-%dT%H}" for r in rows]
    np.random.default_rng(0).shuffle(paths)
    context = multiprocessing.get_context("spawn")
    measured = {}
    try:
        for rate, phase_seconds in ((rates[0], 2.0), *((r, seconds) for r in rates)):
            results = context.Queue()  # the first phase warms up connections and caches
            client = context.Process(target=_load_client,
                                     args=(url, paths, rate, phase_seconds, results))
            client.start()
            latencies, errors = results.get(timeout=phase_seconds + 120)
            client.join()
            ms = np.array(latencies or [np.nan]) * 1000
            measured[rate] = {"p50": float(np.percentile(ms, 50)),
                              "p95": float(np.percentile(ms, 95)),
                              "p99": float(np.percentile(ms, 99)),
                              "requests": len(latencies) + errors, "errors": errors}
    finally:
        serve.delete(namespace)
        serve.shutdown()
        client = redis.Redis.from_url(settings.redis_url)
        stale = list(client.scan_iter(match=f"*{namespace}*", count=1000))
        if stale:
            client.delete(*stale)
    return measured


# ---- (b) optimiser --------------------------------------------------------------------------


def slot_inventory(seed: int = 0) -> tuple[pa.Table, float]:
    """16,800 priced slots with an hourly professional share; and the rate card's time."""
    rng = np.random.default_rng(seed)
    location = np.repeat(np.arange(LOCATIONS), HOURS)
    hour_of_week = np.tile(np.arange(HOURS), LOCATIONS)
    start = np.datetime64("2026-11-02T00:00", "s") + hour_of_week * np.timedelta64(3600, "s")
    location_type = np.array(["high_traffic_station", "business_district", "residential"])[
        location % 3
    ]
    daily_shape = 1 + 0.8 * np.sin((hour_of_week % 24 - 6) / 24 * 2 * np.pi)
    attentive = rng.lognormal(6, 0.5, LOCATIONS)[location] * daily_shape
    attentive *= rng.lognormal(0, 0.2, location.size)
    professional_share = np.clip(
        rng.uniform(0.2, 0.5, LOCATIONS)[location] + rng.normal(0, 0.05, location.size), 0, 1
    )
    began = time.perf_counter()
    prices = price_slots(
        load_rate_card(), start, location_type, 0.7 * attentive, attentive, 1.3 * attentive,
        target="professionals_25_45",
    )
    pricing_ms = 1000 * (time.perf_counter() - began)
    slots = pa.table(
        {
            "slot_id": [f"L{loc:03d}-{hour:03d}" for loc, hour in zip(location, hour_of_week,
                                                                       strict=True)],
            "location_id": [f"L{loc:03d}" for loc in location],
            "start_time": start,
            "price": prices.column("price_p50"),
            "targeted_audience": attentive * professional_share,
        }
    )
    return slots, pricing_ms


def optimiser_rows(slots: pa.Table, runs: int) -> list[dict]:
    inventory_cost = float(np.sum(slots.column("price").to_numpy()))
    booked = set(slots.column("slot_id").to_pylist()[::50])
    caps = {f"L{loc:03d}": 24 for loc in range(LOCATIONS)}
    rows = []
    for share, capped in [(0.05, True), (0.01, False), (0.05, False), (0.2, False), (0.2, True)]:
        timings, plan = [], None
        for _ in range(runs):
            began = time.perf_counter()
            plan = optimise_slots(slots, share * inventory_cost,
                                  location_caps=caps if capped else None, booked_slot_ids=booked)
            timings.append(1000 * (time.perf_counter() - began))
        rows.append({"budget_share": share, "capped": capped, "ms": statistics.median(timings),
                     "slots": len(plan.best.slot_ids), "gap": plan.optimality_gap,
                     "cpm": plan.best.cost_per_thousand,
                     "runner_up_audience_ratio": plan.runner_up.total_audience
                     / plan.best.total_audience})
    return rows


# ---- (d) forecaster on real series --------------------------------------------------------


def tuned_params(frame: pd.DataFrame, series: str) -> dict:
    """Ray Tune's best booster parameters on the weeks before the final one."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        params, relative = search_params(truncate_weeks(frame, 1), TUNE_TRIALS, TUNE_FOLDS, {})
    finally:
        ray.shutdown()
    console.print(f"{series}: Ray Tune best of {TUNE_TRIALS} trials, pinball vs baseline "
                  f"{relative:.3f} on the {TUNE_FOLDS} weeks before the final one: {params}")
    return params


# ---- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lighter run, about a minute")
    args = parser.parse_args()
    cameras, days = (20, 7) if args.quick else (100, 30)
    load_s = 5.0 if args.quick else 30.0
    figures: dict[str, float] = {}

    slots, pricing_ms = slot_inventory()
    optimiser = optimiser_rows(slots, 1 if args.quick else 3)
    table = Table(title=f"slot optimiser, {slots.num_rows:,} slots (rate card {pricing_ms:.1f} ms)")
    for column in ("budget", "caps", "ms", "slots", "proven gap", "CPM", "runner-up/best"):
        table.add_column(column, justify="right")
    for row in optimiser:
        table.add_row(f"{row['budget_share']:.0%} of inventory", "24/location" if row["capped"]
                      else "none", f"{row['ms']:.0f}", str(row["slots"]), f"{row['gap']:.1e}",
                      f"{row['cpm']:.2f}", f"{row['runner_up_audience_ratio']:.6f}")
    console.print(table)
    figures |= {"optimize_ms": round(optimiser[0]["ms"], 1), "optimize_gap": optimiser[0]["gap"],
                "price_slots_ms": round(pricing_ms, 2)}

    redis_url, embedded = ensure_redis(None)
    lake_dir = Path(tempfile.mkdtemp(prefix="ads-bench-lake-"))
    configs = _bench_configs()
    settings = Settings(lake_uri=str(lake_dir), redis_url=redis_url, configs_dir=configs)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAY_DATA_DISABLE_PROGRESS_BARS": "1"}})
    try:
        rows = seed_audience(settings, fleet_locations(cameras), days,
                             end=datetime.now(UTC).date())
        lake = Lake.open(settings.lake_uri)
        run_rollup(lake, configs)  # first run pays for worker start-up and imports
        rollup = run_rollup(lake, configs)
        jobs = Table(title=f"audience rollup: {cameras} cameras x {days} days ({rows:,} rows)")
        for column in ("source partitions", "hourly rows", "seconds"):
            jobs.add_column(column, justify="right")
        jobs.add_row(str(rollup.source_partitions),
                     f"{rollup.marts['advertising_metrics'].num_rows:,}", f"{rollup.seconds:.2f}")
        console.print(jobs)
        figures["rollup_s"] = round(rollup.seconds, 2)
        forecast = replayed_forecast(rollup.marts["advertising_metrics"], version="bench")
        lake.write_file(forecast, AUDIENCE_FORECASTS, FORECAST_FILE)
        latency = slot_latency(settings, forecast, rates=(30.0, 100.0), seconds=load_s)
    finally:
        ray.shutdown()
        shutil.rmtree(lake_dir, ignore_errors=True)
        shutil.rmtree(configs, ignore_errors=True)
        if embedded is not None:
            embedded.stop()
    served = Table(title=f"GET /pricing/slot, open loop, {load_s:.0f} s per rate")
    for column in ("requests/s", "requests", "errors", "p50 ms", "p95 ms", "p99 ms"):
        served.add_column(column, justify="right")
    for rate, row in latency.items():
        served.add_row(f"{rate:.0f}", str(row["requests"]), str(row["errors"]),
                       f"{row['p50']:.1f}", f"{row['p95']:.1f}", f"{row['p99']:.1f}")
        figures[f"slot_p95_ms_{rate:.0f}rps"] = round(row["p95"], 1)
    console.print(served)

    forecasts = Table(title="final week held out: LightGBM quantiles vs seasonal baseline")
    for column in ("series", "points", "pinball model", "pinball baseline", "ratio",
                   "coverage model", "coverage baseline", "fit s"):
        forecasts.add_column(column, justify="right")
    for series, reader in (("traffic", read_traffic), ("parking", read_parking)):
        frame = reader().drop(columns=list(WEATHER_COLUMNS), errors="ignore")
        began = time.perf_counter()
        params = QUICK_FORECASTER if args.quick else tuned_params(frame, series)
        metrics = fit_and_backtest(frame, params)
        seconds = time.perf_counter() - began
        forecasts.add_row(series, str(metrics["scored_points"]), f"{metrics['pinball_loss']:.2f}",
                          f"{metrics['baseline_pinball_loss']:.2f}",
                          f"{metrics['pinball_vs_baseline']:.3f}", f"{metrics['coverage']:.1%}",
                          f"{metrics['baseline_coverage']:.1%}", f"{seconds:.1f}")
        figures[f"pinball_vs_baseline_{series}"] = round(metrics["pinball_vs_baseline"], 4)
        figures[f"coverage_{series}"] = round(metrics["coverage"], 4)
    console.print(forecasts)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
