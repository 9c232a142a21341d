"""The portal's views of pure data: the pricing week grid, location summaries, campaign
results, camera status, attention by hour, the merged alert list, and the ads report."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cluster.cli import app as cli
from core.ads.bookings import BookedSlot, Booking, BookingStatus
from core.ads.campaign_results import campaign_results, slot_state
from core.ads.operations import attention_by_hour, camera_status, newest_alerts
from core.ads.pricing_week import location_rows, location_summaries, week_grid
from core.ads.ratecard import load_rate_card
from core.ads.slot_catalog import price_catalogue
from core.lake import Lake
from core.reports.ads import week_heatmap
from core.vision.cameras import CameraConfig
from tests.integration.ads_app import FORECAST_START, stand_in_forecast

LOCATION = "sim-station-000"


@pytest.fixture(scope="module")
def lake_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = str(tmp_path_factory.mktemp("portal-lake"))
    stand_in_forecast(Lake.open(uri))
    return uri


@pytest.fixture(scope="module")
def slots(lake_uri: str) -> pa.Table:
    forecast = Lake.open(lake_uri).read("forecasts/audience")
    return price_catalogue(forecast, load_rate_card())["broad"]


def test_week_grid_puts_each_slot_at_its_day_and_hour(slots: pa.Table) -> None:
    rows = location_rows(slots, LOCATION)
    some = rows.slice(30, 1).to_pylist()[0]  # day 1, hour 6
    week = week_grid(rows, booked={some["slot_id"]})
    day = week["days"].index(some["slot_start"].date().isoformat())
    hour = some["slot_start"].hour
    assert (day, hour) == (1, 6) and week["days"][0] == FORECAST_START.isoformat()
    assert week["price"]["p50"][day][hour] == round(some["price_p50"], 2)
    assert week["attentive"]["p90"][day][hour] == round(some["attentive_p90"], 1)
    assert week["slot_ids"][day][hour] == some["slot_id"]
    assert sum(map(sum, week["booked"])) == 1 and week["booked"][day][hour]
    assert len(week["days"]) == 7 and all(len(row) == 24 for row in week["price"]["p10"])


def test_week_grid_leaves_unpriced_hours_empty(slots: pa.Table) -> None:
    rows = location_rows(slots, LOCATION).slice(0, 10)
    week = week_grid(rows)
    assert week["price"]["p50"][0][9] is not None and week["price"]["p50"][0][10] is None


def test_location_summary_rates_are_ratios_of_sums(slots: pa.Table) -> None:
    summaries = {s["location_id"]: s for s in location_summaries(slots)}
    assert len(summaries) == 3
    rows = location_rows(slots, LOCATION)
    attentive = sum(rows["attentive_p50"].to_pylist())
    crowd = sum(rows["crowd_p50"].to_pylist())
    station = summaries[LOCATION]
    assert station["hours"] == 168
    assert station["attention_rate"] == pytest.approx(attentive / crowd, abs=1e-4)
    assert station["price_p50"]["min"] <= station["price_p50"]["mean"] <= \
        station["price_p50"]["max"]


def booking(*starts: datetime) -> Booking:
    return Booking(
        id="b1", advertiser_id="adv-1", status=BookingStatus.ACTIVE, currency="GBP",
        total_price=30.0, created_at=datetime(2026, 1, 1, tzinfo=UTC),
        slots=[BookedSlot(slot_id=f"loc@{s:%Y-%m-%dT%H}", location_id="loc", start=s,
                          price=10.0, attentive_p10=80.0, attentive_p50=100.0,
                          attentive_p90=120.0) for s in starts])


def test_slot_states_at_their_boundaries() -> None:
    start = datetime(2026, 12, 1, 8)
    assert slot_state(start, start - timedelta(seconds=1)) == "upcoming"
    assert slot_state(start, start) == "live"
    assert slot_state(start, start + timedelta(minutes=59)) == "live"
    assert slot_state(start, start + timedelta(hours=1)) == "done"


def test_campaign_results_count_delivery_only_for_started_slots() -> None:
    done, live, upcoming = (datetime(2026, 12, 1, h) for h in (7, 8, 9))
    delivered = {("loc", "2026-12-01", 7): {"attentive": 90.0, "crowd": 300.0,
                                            "attention_rate": 0.3},
                 ("loc", "2026-12-01", 8): {"attentive": 30.0, "crowd": 100.0,
                                            "attention_rate": 0.3},
                 ("loc", "2026-12-01", 9): {"attentive": 999.0, "crowd": 1.0,
                                            "attention_rate": 0.3}}
    results = campaign_results(booking(upcoming, live, done), delivered,
                               {"loc": datetime(2026, 12, 1, 8, 30)})
    assert [s["state"] for s in results["slots"]] == ["done", "live", "upcoming"]
    assert [s["delivered"] for s in results["slots"]] == [90.0, 30.0, None]
    assert results["campaign"] == "live"
    assert results["totals"] == {"forecast_p50": 300.0, "forecast_to_date": 200.0,
                                 "delivered": 120.0, "delivery_ratio": 0.6}


def test_a_campaign_before_its_first_hour_is_upcoming_with_no_ratio() -> None:
    results = campaign_results(booking(datetime(2026, 12, 1, 9)), {},
                               {"loc": datetime(2026, 12, 1, 8)})
    assert results["campaign"] == "upcoming" and results["totals"]["delivery_ratio"] is None


def test_camera_status_goes_offline_after_its_limit() -> None:
    camera = CameraConfig(id="c1", location="loc", location_type="station", offline_after_s=120)
    live = {"updated_at": 1000.0, "windows": [
        {"kind": "300s", "avg_crowd": 1.0, "attention_rate": 0.9, "frames": 5},
        {"kind": "900s", "avg_crowd": 4.0, "attention_rate": 0.25, "frames": 15}]}
    assert camera_status(camera, None, 1000.0)["status"] == "no data"
    fresh = camera_status(camera, live, 1120.0)
    assert fresh["status"] == "live"
    assert (fresh["people_in_view"], fresh["attention_rate"], fresh["frames"]) == (4.0, 0.25, 15)
    assert camera_status(camera, live, 1120.1)["status"] == "offline"


def test_attention_by_hour_weights_by_crowd() -> None:
    metrics = pa.table({"location": ["a", "a", "a", "b"], "hour": pa.array([8, 8, 9, 8], pa.int8()),
                        "crowd": [100.0, 300.0, 10.0, None], "attentive": [50.0, 30.0, 1.0, 5.0]})
    view = attention_by_hour(metrics)
    assert view["locations"] == ["a", "b"]
    assert view["attention_rate"][0][8] == pytest.approx(80 / 400)  # not the mean of 0.5 and 0.1
    assert view["attention_rate"][0][9] == pytest.approx(0.1)
    assert view["attention_rate"][1][8] is None and view["attention_rate"][0][0] is None


def test_alerts_of_both_streams_merge_newest_first() -> None:
    camera = {b"alert": json.dumps({"kind": "camera_offline", "severity": "critical",
                                    "region": "loc", "camera_id": "c1",
                                    "message": "no frame", "created_at": "t1"}).encode()}
    note = {"notification": json.dumps({"kind": "price_drop", "advertiser_id": "adv-1",
                                        "slot_id": "loc@2026-12-01T08", "location_id": "loc",
                                        "price": 9.5, "previous_price": 12.0})}
    rows = newest_alerts({"cameras": [(b"5-0", camera), (b"1000-0", camera)],
                          "ads": [("20-3", note)]}, limit=2)
    assert [(r["id"], r["source"]) for r in rows] == [("1000-0", "cameras"), ("20-3", "ads")]
    assert rows[0]["severity"] == "critical" and rows[0]["message"] == "no frame"
    assert rows[1]["severity"] == "info" and "from 12.00" in rows[1]["message"]


def test_report_command_writes_an_offline_html_report(lake_uri: str, slots: pa.Table,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "ads.html"
    result = CliRunner().invoke(cli, ["report", "ads", "--out", str(out),
                                      "--lake-uri", lake_uri])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    for location in ("sim-station-000", "sim-business-001", "sim-residential-002"):
        assert f"{location} (" in page
    assert page.count('class="plotly-graph-div"') == 3 * 4 + 1  # 4 per location + attention
    assert re.findall(r"<script[^>]+src=", page) == []  # plotly.js inline: opens offline
    week = week_grid(location_rows(slots, LOCATION))
    figure = week_heatmap(week, "price", "price", "GBP")
    assert [list(row) for row in figure.data[0].z] == week["price"]["p50"]
