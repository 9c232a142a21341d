"""Seed `raw/audience/` with simulated camera history (window and frame rows, numbers only),
and prepare the ad-pricing demo's history (seed, then roll up; the forecast fit that follows
is `tuning.audience_forecast.fit_demo_forecast`).

    python -m data_jobs.seed_audience [--lake URI] [--cameras 100] [--days 30]
    python -m data_jobs.seed_audience --demo    # the demo cameras of configs/cameras.yaml

One Ray task per camera simulates and writes its location=/date= partitions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import ray
import typer
from rich.console import Console

from core.ads.audience_sim import SimulatedLocation, fleet_locations, simulate_camera
from core.lake import AUDIENCE, Lake
from core.settings import Settings
from core.vision.cameras import load_fleet

console = Console()
DEMO_HISTORY_DAYS = 70  # the forecaster wants 8 weeks of lags plus weeks to learn from


def demo_locations(settings: Settings) -> list[SimulatedLocation]:
    """One simulated camera per demo location (the first camera of each)."""
    seen: dict[str, SimulatedLocation] = {}
    for camera in load_fleet(settings.configs_dir).demo:
        seen.setdefault(camera.location, SimulatedLocation(
            camera, timezone=camera.operating_hours.timezone))
    return list(seen.values())


@ray.remote(num_cpus=0.5)
def _seed_camera(lake_uri: str, endpoint: str | None, location: SimulatedLocation,
                 start: date, days: int, seed: int) -> int:
    lake = Lake.open(lake_uri, endpoint)
    table = simulate_camera(location, start, days, seed)
    lake.write_partitioned(table, AUDIENCE, ["location", "date"])
    return table.num_rows


def seed_audience(settings: Settings, locations: list[SimulatedLocation], days: int,
                  end: date | None = None, seed: int = 0) -> int:
    """Write `days` local days of history ending the day before `end` (default today, UTC)."""
    start = (end or datetime.now(UTC).date()) - timedelta(days=days)
    refs = [_seed_camera.remote(settings.lake_uri, settings.aws_endpoint_url, location, start,
                                days, seed) for location in locations]
    return sum(ray.get(refs))


def prepare_ads_demo(settings: Settings, console: Console = console) -> None:
    """`dynaprice up --demo`: seed demo audience history if the lake has none and roll it up
    (needs Ray); then call `tuning.audience_forecast.fit_demo_forecast`."""
    from data_jobs.audience_rollup import run_rollup

    lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
    if lake.partitions(AUDIENCE):
        console.print("lake already holds audience history: not seeding")
    else:
        rows = seed_audience(settings, demo_locations(settings), DEMO_HISTORY_DAYS)
        console.print(f"seeded {rows:,} simulated audience rows")
    rollup = run_rollup(lake, settings.configs_dir)
    console.print(f"audience rollup: {len(rollup.marts)} marts in {rollup.seconds:.1f} s")


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    cameras: Annotated[int, typer.Option(help="Simulated cameras (one per location)")] = 100,
    days: Annotated[int, typer.Option(help="Days of history, ending yesterday")] = 30,
    demo: Annotated[bool, typer.Option(help="Seed the demo cameras instead")] = False,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Write simulated audience history to the lake."""
    settings = Settings.from_env()
    if lake:
        settings = replace(settings, lake_uri=lake)
    locations = demo_locations(settings) if demo else fleet_locations(cameras, seed)
    rows = seed_audience(settings, locations, days, seed=seed)
    console.print(f"seeded {rows:,} audience rows for {len(locations)} cameras x {days} days")


if __name__ == "__main__":
    typer.run(main)
