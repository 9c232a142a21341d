"""`dynaprice up --demo`: seed simulated history on an empty lake, then stream a live store feed.

The retail history and the live feed come from one simulated market (`DEMO_MARKET`), so
the products and stores the pricing service knows are the ones the feed reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake
from core.market.feed import PriceFeed
from core.market.simulator import Market, MarketSpec
from core.settings import Settings

DEMO_MARKET = MarketSpec(seed=7, stores_per_city=2, products=40)
HISTORY_DAYS = 180
SECONDS_PER_STORE_HOUR = 2.0  # the live feed replays one store hour every two seconds


def demo_market() -> Market:
    return Market(DEMO_MARKET)


def seed_retail_history(settings: Settings, console: Console) -> None:
    """Simulated price history up to yesterday, unless the lake already holds price points."""
    from data_jobs.seed_history import seed_history

    lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
    if lake.read(PRICE_POINTS, ["record_id"], schema=LAKE_SCHEMA).num_rows:
        console.print("lake already holds price points: not seeding")
        return
    start = datetime.now(UTC).date() - timedelta(days=HISTORY_DAYS)
    started = time.monotonic()
    result = seed_history(lake, demo_market(), HISTORY_DAYS, start=start, bad_fraction=0.03,
                          progress=True)
    console.print(f"seeded {result.accepted:,} price points ({result.rejected:,} to the DLQ) "
                  f"in {time.monotonic() - started:.0f} s")


def run_nightly_jobs(settings: Settings, ray_address: str, console: Console) -> None:
    """The nightly retail features, a short demand-model search and the catalogue's
    recommendations for the review queue, as `ray job submit` runs them, against the cluster
    `up` just started."""
    env = os.environ | settings.as_env() | {"RAY_ADDRESS": ray_address}
    for title, module, args in (
        ("features (Ray Data)", "data_jobs.price_features", []),
        ("demand model search (Ray Tune)", "tuning.demand", ["--trials", "2",
                                                            "--max-rounds", "120"]),
        ("catalogue recommendations for review", "data_jobs.recommend_catalog", []),
    ):
        started = time.monotonic()
        with console.status(f"nightly job: {title}"):
            done = subprocess.run([sys.executable, "-m", module, "--lake", settings.lake_uri,
                                   *args], env=env, capture_output=True, text=True)
        if done.returncode:
            console.print(f"[red]{module} failed[/]:\n{done.stderr[-2000:]}")
            raise SystemExit(done.returncode)
        console.print(f"{title}: done in {time.monotonic() - started:.0f} s")


def run_demo(settings: Settings, base_url: str, console: Console) -> None:
    """Post the simulated stores' live feed to the ingest API until Ctrl-C."""
    feed = PriceFeed(demo_market(), bad_fraction=0.03,
                     run_id=f"live-{datetime.now(UTC):%Y%m%d%H%M%S}")
    url = f"{base_url}/api/ingest/price-points"
    totals = {"batches": 0, "sent": 0, "accepted": 0, "dead-lettered": 0, "not sent (422)": 0}

    def view() -> Table:
        table = Table(title=f"live store feed -> {url} (Ctrl-C stops)")
        for key in totals:
            table.add_column(key, justify="right")
        table.add_row(*(f"{value:,}" for value in totals.values()))
        return table

    with httpx.Client(timeout=60) as client, Live(view(), console=console) as live:
        for batch in feed.live(start=date.today()):
            records = [r for r in batch.records if isinstance(r, dict)]
            totals["not sent (422)"] += len(batch.records) - len(records)
            answer = client.post(url, json=records).json()
            totals["batches"] += 1
            totals["sent"] += len(records)
            totals["accepted"] += answer.get("accepted", 0)
            totals["dead-lettered"] += answer.get("rejected", 0)
            live.update(view())
            time.sleep(SECONDS_PER_STORE_HOUR)
