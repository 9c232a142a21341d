import copy

import numpy as np
import pytest
import yaml

from core.ads.ratecard import (
    DEFAULT_RATECARD_PATH,
    RateCardError,
    UnknownRateCardKey,
    load_rate_card,
    parse_rate_card,
    price_slots,
)


@pytest.fixture(scope="module")
def card():
    return load_rate_card()


@pytest.fixture
def raw_card():
    return yaml.safe_load(DEFAULT_RATECARD_PATH.read_text())


def price_one(card, when, location="residential", target="broad", audience=1000.0):
    table = price_slots(card, np.array([when], dtype="datetime64[m]"), location, audience,
                        audience, audience, target=target)
    return {name: table.column(name)[0].as_py() for name in table.column_names}


@pytest.mark.parametrize(
    ("when", "band", "factor"),
    [
        ("2024-03-05T05:59", "late_night", 0.6),
        ("2024-03-05T06:00", "dawn_shoulder", 1.0),
        ("2024-03-05T06:59", "dawn_shoulder", 1.0),
        ("2024-03-05T07:00", "morning_rush", 1.4),
        ("2024-03-05T08:59", "morning_rush", 1.4),
        ("2024-03-05T09:00", "morning_shoulder", 1.2),
        ("2024-03-05T10:00", "daytime_off_peak", 1.0),
        ("2024-03-05T15:59", "daytime_off_peak", 1.0),
        ("2024-03-05T16:00", "afternoon_shoulder", 1.25),
        ("2024-03-05T17:00", "evening_rush", 1.5),
        ("2024-03-05T18:59", "evening_rush", 1.5),
        ("2024-03-05T19:00", "evening_shoulder", 1.25),
        ("2024-03-05T20:00", "evening_off_peak", 1.0),
        ("2024-03-05T22:59", "evening_off_peak", 1.0),
        ("2024-03-05T23:00", "late_night", 0.6),
        ("2024-03-06T00:00", "late_night", 0.6),
    ],
)
def test_hour_band_boundaries_are_half_open(card, when, band, factor):
    slot = price_one(card, when)
    assert slot["hour_band"] == band
    assert slot["hour_factor"] == factor


@pytest.mark.parametrize(
    ("when", "factor"),
    [
        ("2024-10-31T12:00", 1.0),
        ("2024-11-01T00:00", 1.3),
        ("2024-12-31T23:59", 1.3),
        ("2025-01-01T00:00", 1.0),
        ("2024-05-31T23:59", 1.0),
        ("2024-06-01T00:00", 0.95),
        ("2024-08-31T23:59", 0.95),
        ("2024-09-01T00:00", 1.0),
    ],
)
def test_seasonal_factor_at_month_boundaries(card, when, factor):
    assert price_one(card, when)["seasonal_factor"] == factor


@pytest.mark.parametrize(
    ("location", "factor"),
    [("high_traffic_station", 1.3), ("business_district", 1.2), ("residential", 0.9)],
)
def test_location_factor(card, location, factor):
    assert price_one(card, "2024-03-05T12:00", location=location)["location_factor"] == factor


@pytest.mark.parametrize(("target", "factor"), [("professionals_25_45", 1.3), ("broad", 1.0)])
def test_demographic_factor(card, target, factor):
    assert price_one(card, "2024-03-05T12:00", target=target)["demographic_factor"] == factor


def test_price_is_the_product_of_every_factor(card):
    slot = price_one(card, "2024-12-31T08:00", "high_traffic_station", "professionals_25_45", 2500)
    expected = 2500 / 1000 * card.base_rate_per_thousand * 1.4 * 1.3 * 1.3 * 1.3
    assert slot["price_p50"] == pytest.approx(expected)


def test_prices_carry_sorted_quantiles_and_clip_negative_audience(card):
    table = price_slots(card, np.array(["2024-03-05T12"], dtype="datetime64[h]"), "residential",
                        attentive_p10=-5.0, attentive_p50=300.0, attentive_p90=200.0)
    p10, p50, p90 = (table.column(name)[0].as_py() for name in ("price_p10", "price_p50",
                                                                  "price_p90"))
    assert p10 == 0.0
    assert p50 == pytest.approx(200 / 1000 * card.base_rate_per_thousand * 0.9)
    assert p90 > p50


def test_vectorised_pricing_matches_slot_by_slot(card):
    rng = np.random.default_rng(3)
    start = np.datetime64("2024-05-27T00") + rng.integers(0, 24 * 200, 50).astype("timedelta64[h]")
    locations = rng.choice(sorted(card.location_types), 50)
    audience = rng.uniform(0, 5000, 50)
    table = price_slots(card, start, locations, audience, audience, audience, target="broad")
    for i in range(50):
        one = price_one(card, start[i], locations[i], audience=audience[i])
        assert table.column("price_p50")[i].as_py() == pytest.approx(one["price_p50"])


def test_unknown_location_type_names_the_key(card):
    with pytest.raises(UnknownRateCardKey, match="airport"):
        price_one(card, "2024-03-05T12:00", location="airport")


def test_shipped_config_is_valid():
    card = load_rate_card()
    assert card.base_rate_per_thousand > 0


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda raw: raw.update(base_rate_per_thousand=-1), "base_rate_per_thousand"),
        (lambda raw: raw["hour_bands"][2].update(factor=0), "hour_bands.2.factor"),
        (lambda raw: raw["hour_bands"].pop(1), "hour_bands"),  # 06:00 uncovered
        (lambda raw: raw["hour_bands"][2].update(end=10), "hour_bands"),  # 9 in two bands
        (lambda raw: raw["hour_bands"][0].update(start=25), "hour_bands.0.start"),
        (lambda raw: raw["location_types"].update(airport=0), "location_types"),
        (lambda raw: raw["seasons"][1]["months"].append(11), "seasons"),
        (lambda raw: raw["seasons"][0]["months"].append(13), "seasons.0.months"),
        (lambda raw: raw.update(surprise=1), "surprise"),
        (lambda raw: raw.pop("demographic_targets"), "demographic_targets"),
    ],
)
def test_invalid_config_errors_name_the_key(raw_card, mutate, key):
    broken = copy.deepcopy(raw_card)
    mutate(broken)
    with pytest.raises(RateCardError, match=rf"{key}\b"):
        parse_rate_card(broken)


def test_unreadable_file_names_the_path(tmp_path):
    path = tmp_path / "ratecard.yaml"
    path.write_text("hour_bands: [unclosed")
    with pytest.raises(RateCardError, match="ratecard.yaml"):
        load_rate_card(path)
