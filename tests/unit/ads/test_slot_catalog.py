"""Slot catalogue: time-slot parsing, pricing a forecast, targeted audience and candidates."""

from datetime import datetime

import pyarrow as pa
import pytest

from core.ads.audience_history import SHARE_COLUMNS
from core.ads.ratecard import load_rate_card
from core.ads.slot_catalog import candidates, parse_time_slot, price_catalogue, slot_quote


def test_time_slots_are_whole_local_hours() -> None:
    assert parse_time_slot("2026-11-30T08") == datetime(2026, 11, 30, 8)
    assert parse_time_slot("2026-11-30T08:00") == datetime(2026, 11, 30, 8)
    for bad in ("2026-11-30T08:30", "2026-11-30T08:00+00:00", "tomorrow", "2026-13-01T00"):
        with pytest.raises(ValueError):
            parse_time_slot(bad)


def _forecast() -> pa.Table:
    starts = [datetime(2026, 12, 1, hour) for hour in (6, 7, 8)]
    columns = {"location": ["loc-a"] * 3, "slot_start": pa.array(starts, pa.timestamp("s")),
               "crowd_model": ["lightgbm"] * 3, "location_type": ["station"] * 3,
               "model_version": ["v1"] * 3}
    for name, value in (("crowd", 1000.0), ("attention_rate", 0.2), ("attentive", 200.0)):
        columns |= {f"{name}_p10": [0.5 * value] * 3, f"{name}_p50": [value] * 3,
                    f"{name}_p90": [1.5 * value] * 3}
    for share in SHARE_COLUMNS:
        value = 0.25 if share in ("age_25_34_share", "age_35_44_share") else 0.1
        value = 0.5 if share.startswith("gender") else value
        columns |= {f"{share}_{q}": [value] * 3 for q in ("p10", "p50", "p90")}
    return pa.table(columns)


def test_forecast_prices_follow_the_rate_card_per_target() -> None:
    catalogue = price_catalogue(_forecast(), load_rate_card())
    broad, professionals = catalogue["broad"], catalogue["professionals_25_45"]
    assert broad["slot_id"].to_pylist() == [f"loc-a@2026-12-01T{h:02d}" for h in (6, 7, 8)]
    # 200 attentive / 1000 x 12 x station 1.3 x December 1.3; 06:00 shoulder 1.0, 07:00 rush 1.4
    assert broad["price_p50"].to_pylist() == pytest.approx([4.056, 5.6784, 5.6784])
    assert professionals["price_p50"][1].as_py() == pytest.approx(5.6784 * 1.3)
    quote = slot_quote(broad.slice(1, 1).to_pylist()[0], "GBP")
    assert quote["factors"]["hour_band"] == "morning_rush"
    assert quote["price"] == {"p10": 2.84, "p50": 5.68, "p90": 8.52}


def test_candidates_count_only_the_targeted_audience_in_range() -> None:
    slots = price_catalogue(_forecast(), load_rate_card())["professionals_25_45"]
    pool = candidates(slots, "professionals_25_45", datetime(2026, 12, 1, 7),
                      datetime(2026, 12, 1, 9))
    assert pool["slot_id"].to_pylist() == ["loc-a@2026-12-01T07", "loc-a@2026-12-01T08"]
    assert pool["targeted_audience"].to_pylist() == pytest.approx([100.0, 100.0])  # 50% of 200
    women = candidates(slots, "broad", datetime(2026, 12, 1), datetime(2026, 12, 2),
                       age_bands=["65+"], genders=["female"])
    assert women["targeted_audience"].to_pylist() == pytest.approx([10.0] * 3)
    assert candidates(slots, "broad", datetime(2026, 12, 1), datetime(2026, 12, 2),
                      locations=["loc-b"]).num_rows == 0
    with pytest.raises(ValueError):
        candidates(slots, "broad", datetime(2026, 12, 1), datetime(2026, 12, 2),
                   age_bands=["30-40"])
