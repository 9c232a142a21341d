"""The ad-pricing batch jobs on the session's Ray: simulated history -> Ray Data rollup ->
marts DuckDB can query -> Ray Tune forecast fit -> registry and forecasts in the lake."""

from datetime import date

import duckdb
import pytest

from core.ads.audience_sim import SimulatedLocation
from core.lake import AUDIENCE_FORECASTS, Lake
from core.retail.registry import ModelRegistry
from core.settings import Settings
from core.vision.cameras import CameraConfig
from data_jobs.audience_rollup import mart_area, run_rollup
from data_jobs.seed_audience import seed_audience
from tuning.audience_forecast import MODEL_NAME, run_forecast


def _locations() -> list[SimulatedLocation]:
    """Cameras outside configs/cameras.yaml: the rollup reads their hours as UTC."""
    kinds = ("station", "business", "residential")
    return [SimulatedLocation(CameraConfig(id=f"cam-{k}", location=f"loc-{k}", location_type=k))
            for k in kinds]


@pytest.fixture
def seeded(ray_session: None, settings: Settings) -> Lake:
    seed_audience(settings, _locations(), days=63, end=date(2026, 10, 20))  # no DST change
    return Lake.open(settings.lake_uri)


def test_rollup_writes_marts_that_duckdb_reads(seeded: Lake, settings: Settings) -> None:
    result = run_rollup(seeded, settings.configs_dir)
    assert result.source_partitions >= 3 * 63
    metrics = result.marts["advertising_metrics"]
    assert metrics.num_rows == 3 * 63 * 24
    query = f"""
        SELECT location, round(avg(attention_rate), 3) AS attention,
               round(avg(crowd) FILTER (WHERE hour BETWEEN 7 AND 8), 0) AS morning_crowd
        FROM read_parquet('{seeded.path(mart_area("advertising_metrics"))}/*.parquet')
        WHERE NOT is_weekend GROUP BY location ORDER BY morning_crowd DESC"""
    rows = duckdb.sql(query).fetchall()
    assert [row[0] for row in rows][0] == "loc-station"
    profiles = duckdb.sql(
        f"SELECT location, reach_rank FROM read_parquet('"
        f"{seeded.path(mart_area('location_profiles'))}/*.parquet') ORDER BY reach_rank").fetchall()
    assert len(profiles) == 3 and profiles[0][1] == 1
    for name in ("pricing_history", "campaign_performance", "audience_patterns"):
        assert seeded.read(mart_area(name)).num_rows > 0


@pytest.mark.slow
def test_forecast_fit_registers_and_writes_next_week(seeded: Lake, settings: Settings) -> None:
    run_rollup(seeded, settings.configs_dir)
    outcome = run_forecast(seeded, settings.configs_dir, trials=2, folds=1, quick=True)
    forecast = seeded.read(AUDIENCE_FORECASTS)
    assert forecast.num_rows == 3 * 168
    assert set(outcome.winners.values()) <= {"lightgbm", "prophet"}
    for name in ("crowd", "attention_rate", "attentive"):
        low, mid, high = (forecast[f"{name}_{q}"].to_numpy() for q in ("p10", "p50", "p90"))
        assert (low <= mid).all() and (mid <= high).all()
    mix = sum(forecast[f"{c}_share_p50"].to_numpy() for c in (
        "age_0_17", "age_18_24", "age_25_34", "age_35_44", "age_45_54", "age_55_64",
        "age_65_plus"))
    assert mix == pytest.approx(1.0, abs=1e-6)
    registry = ModelRegistry(seeded, MODEL_NAME)
    assert registry.production() == outcome.version
    assert registry.card(outcome.version)["winners"] == outcome.winners
