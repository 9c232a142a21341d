"""Audience rollup: hourly sums merge exactly across blocks; rates, local hours and marts."""

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from core.ads.audience_history import build_marts, combine_hourly, hourly_partial
from core.ads.audience_sim import SimulatedLocation, simulate_camera
from core.ads.ratecard import load_rate_card
from core.vision.audience_records import AUDIENCE_SCHEMA, audience_table
from core.vision.cameras import CameraConfig


def _camera(location: str, kind: str = "station") -> CameraConfig:
    return CameraConfig(id=f"cam-{location}", location=location, location_type=kind)


def _window(location: str, ts: datetime, crowd: float, rate: float,
            ages: dict[str, float] | None = None) -> dict:
    return {"record": "300s", "camera_id": f"cam-{location}", "location_type": "station",
            "ts": ts.timestamp(), "window_end": ts.timestamp() + 300, "avg_crowd": crowd,
            "attention_rate": rate, "peak_people": int(crowd) + 1,
            "age_distribution": ages or {"25-34": 0.5, "65+": 0.5},
            "gender_distribution": {"female": 0.25, "male": 0.75},
            "location": location, "date": ts.strftime("%Y-%m-%d")}


def _frame(location: str, ts: datetime, tracks: int, dwell_s: float) -> dict:
    return {"record": "frame", "camera_id": f"cam-{location}", "location_type": "station",
            "ts": ts.timestamp(), "people": 3, "attentive": 1, "dwell_tracks": tracks,
            "dwell_mean_s": dwell_s, "engaged": 1, "location": location,
            "date": ts.strftime("%Y-%m-%d")}


def test_hourly_rates_follow_littles_law_and_weight_shares_by_crowd() -> None:
    rows = [_window("a", datetime(2026, 11, 2, 8, 0, tzinfo=UTC), 10.0, 0.2,
                    {"25-34": 1.0}),
            _window("a", datetime(2026, 11, 2, 8, 5, tzinfo=UTC), 30.0, 0.6, {"65+": 1.0}),
            _frame("a", datetime(2026, 11, 2, 8, 1, tzinfo=UTC), 4, 60.0),
            _window("a", datetime(2026, 11, 2, 9, 0, tzinfo=UTC), 6.0, 0.5)]
    marts = build_marts(combine_hourly([hourly_partial(audience_table(rows), {})]),
                        load_rate_card())
    eight, nine = marts["advertising_metrics"].to_pylist()
    assert eight["hour"] == 8 and eight["windows"] == 2
    assert eight["people_in_view"] == pytest.approx(20.0)
    assert eight["crowd"] == pytest.approx(20.0 * 3600 / 60)  # dwell 60 s: 60 people/h per head
    assert eight["attention_rate"] == pytest.approx((2 + 18) / 40)
    assert eight["attentive"] == pytest.approx(1200 * 0.5)
    assert eight["age_25_34_share"] == pytest.approx(0.25)
    assert eight["age_65_plus_attention_rate"] == pytest.approx(0.6)
    assert eight["dwell_mean_s"] == pytest.approx(60.0)
    assert nine["crowd"] == pytest.approx(6.0 * 12)  # no dwell measured: once per window


def test_hours_are_local_to_the_location_timezone() -> None:
    rows = [_window("ny", datetime(2026, 11, 2, 12, 30, tzinfo=UTC), 5.0, 0.3)]
    hourly = combine_hourly([hourly_partial(audience_table(rows), {"ny": "America/New_York"})])
    row = hourly.to_pylist()[0]
    assert (row["date"], row["hour"], row["day_of_week"]) == ("2026-11-02", 7, 0)


def test_partials_of_any_block_split_combine_to_the_whole() -> None:
    table = pa.concat_tables([
        simulate_camera(SimulatedLocation(_camera(f"loc-{i}", kind)), date(2026, 6, 1), 3)
        for i, kind in enumerate(("station", "business", "residential"))])
    table = table.take(pa.array(list(range(0, table.num_rows, 2))
                                + list(range(1, table.num_rows, 2))))
    whole = combine_hourly([hourly_partial(table, {})])
    pieces = combine_hourly([hourly_partial(table.slice(start, 997), {})
                             for start in range(0, table.num_rows, 997)])
    keys = [("location", "ascending"), ("date", "ascending"), ("hour", "ascending")]
    whole, pieces = whole.sort_by(keys), pieces.sort_by(keys)
    assert whole.num_rows == 3 * 3 * 24
    assert whole.select(["location", "date", "hour", "windows", "dwell_tracks"]).equals(
        pieces.select(["location", "date", "hour", "windows", "dwell_tracks"]))
    for column in ("crowd_sum", "attentive_sum", "age_25_34", "gender_male_attentive"):
        assert pc.max(pc.abs(pc.subtract(whole[column], pieces[column]))).as_py() < 1e-6


def test_marts_rank_locations_by_reach_and_show_the_weekly_patterns() -> None:
    table = pa.concat_tables([
        simulate_camera(SimulatedLocation(_camera(f"loc-{kind}", kind)), date(2026, 9, 7), 14)
        for kind in ("station", "business", "residential")])
    marts = build_marts(combine_hourly([hourly_partial(table, {})]), load_rate_card())
    profiles = {row["location"]: row for row in marts["location_profiles"].to_pylist()}
    assert [p["reach_rank"] for p in profiles.values()] == [1, 2, 3]
    assert sorted(p["reach_index"] for p in profiles.values())[1] == pytest.approx(100.0)
    station = profiles["loc-station"]
    assert station["reach_score"] == pytest.approx(station["attention_rate"] * station["crowd"])
    assert station["morning_rush_crowd"] > 2 * station["crowd"]
    assert station["weekend_vs_weekday_crowd"] < 1.0
    assert profiles["loc-residential"]["weekend_vs_weekday_crowd"] > \
        station["weekend_vs_weekday_crowd"]
    patterns = marts["audience_patterns"]
    ages = patterns.filter(pc.equal(patterns["segment_kind"], "age_band"))
    assert ages.num_rows == 3 * 7
    assert set(patterns["segment_kind"].to_pylist()) >= {"hour_weekday", "hour_weekend",
                                                         "rush", "day_kind", "month", "gender"}
    history = marts["pricing_history"]
    rush = history.filter(pc.equal(history["hour"], 8)).slice(0, 1).to_pylist()[0]
    assert rush["hour_band"] == "morning_rush" and rush["price"] > 0
    performance = marts["campaign_performance"].to_pylist()
    assert all(row["cpm"] > 0 for row in performance if row["attentive_audience"] > 0)


def test_simulated_rows_follow_the_camera_schema() -> None:
    table = simulate_camera(SimulatedLocation(_camera("x")), date(2026, 3, 1), 1)
    assert table.schema.equals(AUDIENCE_SCHEMA)
    assert table.num_rows == 2 * 288
