"""A lake with simulated audience marts and a stand-in forecast, and the ads app on it."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pyarrow as pa
import redis
from ray import serve

from core.ads.audience_history import build_marts, combine_hourly, hourly_partial
from core.ads.audience_sim import fleet_locations, replayed_forecast, simulate_camera
from core.ads.ratecard import load_rate_card
from core.lake import ADVERTISING_METRICS, AUDIENCE_FORECASTS, Lake
from core.settings import Settings
from serve_apps.ads import FORECAST_FILE, AdPricingAPI

FORECAST_START = date(2026, 11, 30)  # a Monday
LOCATIONS = 3


def stand_in_forecast(lake: Lake, locations: int = LOCATIONS) -> pa.Table:
    """Two simulated weeks ending the day before FORECAST_START, rolled up into the
    advertising metrics mart; the last week replayed as next week's forecast, written where
    the forecast job writes."""
    history_start = FORECAST_START - timedelta(days=14)
    raw = pa.concat_tables([simulate_camera(loc, history_start, 14)
                            for loc in fleet_locations(locations)])
    metrics = build_marts(combine_hourly([hourly_partial(raw, {})]), load_rate_card())[
        "advertising_metrics"]
    lake.write_file(metrics, ADVERTISING_METRICS, "data.parquet")
    table = replayed_forecast(metrics, version="test-version")
    lake.write_file(table, AUDIENCE_FORECASTS, FORECAST_FILE)
    return table


def camera_alert_stream(namespace: str) -> str:
    """The camera alert stream a test app reads (not the fleet's shared one)."""
    return f"dynaprice:alerts:cameras:{namespace}"


@contextmanager
def running_ads_app(settings: Settings, port: int) -> Iterator[str]:
    """Yield the app's base URL, ending in its namespace (its Redis keys, camera alert stream
    included, are under that namespace)."""
    namespace = f"ads-test-{uuid.uuid4().hex[:8]}"
    serve.run(AdPricingAPI.bind(settings, namespace, camera_alert_stream(namespace)),
              name=namespace,
              route_prefix=f"/{namespace}")
    try:
        yield f"http://127.0.0.1:{port}/{namespace}"
    finally:
        serve.delete(namespace)
        client = redis.Redis.from_url(settings.redis_url)
        keys = list(client.scan_iter(match=f"*{namespace}*", count=1000))
        if keys:
            client.delete(*keys)
