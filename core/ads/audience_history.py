"""Audience history rollup: raw camera rows -> hourly sums per location (mergeable partials)
-> the lake's advertising marts.

Units: a 5-minute window reports the average number of people in view and its attention
rate; the frame rows carry tracked dwell times. An hour's `crowd` is the people passing per
hour by Little's law (mean people in view x 3600 s / mean dwell s); with no dwell measured
it falls back to counting each person once per 5-minute window. `attentive` is crowd x
attention rate. Several cameras at one location are averaged. Hours are local wall-clock
hours of the location's timezone.

    partial = hourly_partial(block, zones)     # per block, inside Ray Data's map_batches
    hourly = combine_hourly([partial, ...])     # on the driver (small)
    marts = build_marts(hourly, rate_card)      # {mart name: table}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.ads.ratecard import RateCard, price_slots
from core.retail.rollup import Rollup

WINDOW_KIND = "300s"
FRAME_RECORD = "frame"
WINDOWS_PER_HOUR = 12
MIN_DWELL_S = 1.0
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male")
MORNING_RUSH, EVENING_RUSH = (7, 9), (17, 19)
# camera location types -> rate card location types
RATECARD_LOCATION_TYPES = {"station": "high_traffic_station", "business": "business_district",
                           "residential": "residential"}
SOURCE_COLUMNS = ("record", "location", "location_type", "ts", "avg_crowd", "attention_rate",
                  "peak_people", "age_distribution", "gender_distribution", "dwell_tracks",
                  "dwell_mean_s", "engaged")
MARTS = ("advertising_metrics", "pricing_history", "campaign_performance", "location_profiles",
         "audience_patterns")


def band_column(band: str) -> str:
    """Column-safe name of an age band or gender: '65+' -> 'age_65_plus'."""
    if band in GENDERS:
        return f"gender_{band}"
    return "age_" + band.replace("-", "_").replace("+", "_plus")


_SEGMENTS = [band_column(b) for b in (*AGE_BANDS, *GENDERS)]
SHARE_COLUMNS = tuple(f"{segment}_share" for segment in _SEGMENTS)
SUM_COLUMNS = ("windows", "crowd_sum", "attentive_sum", *_SEGMENTS,
               *(f"{s}_attentive" for s in _SEGMENTS), "dwell_tracks", "dwell_seconds",
               "engaged")
HOUR_KEYS = ("location", "location_type", "date", "hour", "day_of_week")
HOURLY = Rollup(keys=HOUR_KEYS, sums=SUM_COLUMNS, maxs=("peak_people",))


def local_times(ts: pa.Array, locations: pa.Array, zones: Mapping[str, str]) -> pa.Array:
    """Naive local timestamps of `ts` (UTC) in each row's location timezone (default UTC)."""
    zone_of = np.array([zones.get(loc, "UTC") for loc in locations.to_pylist()], dtype=object)
    local = np.empty(len(ts), dtype="datetime64[ms]")
    for zone in set(zone_of.tolist()):
        rows = np.flatnonzero(zone_of == zone)
        picked = ts.take(pa.array(rows)).cast(pa.timestamp("ms", tz=zone))
        local[rows] = pc.local_timestamp(picked).to_numpy(zero_copy_only=False)
    return pa.array(local)


def _zeros(table: pa.Table, name: str) -> pa.Array:
    return pc.fill_null(table[name], 0).combine_chunks()


def hourly_partial(block: pa.Table, zones: Mapping[str, str]) -> pa.Table:
    """Sums per location x local date x hour x day of week of one block of raw audience rows."""
    block = block.filter(pc.is_in(block["record"], pa.array([WINDOW_KIND, FRAME_RECORD])))
    if block.num_rows == 0:
        return empty_partial()
    local = local_times(block["ts"].combine_chunks(), block["location"].combine_chunks(), zones)
    is_window = pc.equal(block["record"], WINDOW_KIND).combine_chunks()
    crowd = pc.if_else(is_window, _zeros(block, "avg_crowd"), 0.0)
    attentive = pc.multiply(crowd, _zeros(block, "attention_rate"))
    columns: dict[str, pa.Array] = {
        "location": block["location"].combine_chunks(),
        "location_type": pc.fill_null(block["location_type"], "unknown").combine_chunks(),
        "date": pc.strftime(local, format="%Y-%m-%d"),
        "hour": pc.hour(local).cast(pa.int8()),
        "day_of_week": pc.day_of_week(local).cast(pa.int8()),  # Monday 0
        "windows": is_window.cast(pa.int64()),
        "crowd_sum": crowd,
        "attentive_sum": attentive,
    }
    for source, bands in (("age_distribution", AGE_BANDS), ("gender_distribution", GENDERS)):
        shares = block[source].combine_chunks()
        for band in bands:
            share = pc.fill_null(pc.map_lookup(shares, band, "first"), 0.0)
            columns[band_column(band)] = pc.multiply(crowd, share)
            columns[f"{band_column(band)}_attentive"] = pc.multiply(attentive, share)
    tracks = pc.if_else(is_window, 0, _zeros(block, "dwell_tracks")).cast(pa.int64())
    columns["dwell_tracks"] = tracks
    columns["dwell_seconds"] = pc.multiply(tracks.cast(pa.float64()),
                                           _zeros(block, "dwell_mean_s"))
    columns["engaged"] = pc.if_else(is_window, 0, _zeros(block, "engaged")).cast(pa.int64())
    columns["peak_people"] = pc.if_else(is_window, _zeros(block, "peak_people"), 0) \
        .cast(pa.int64())
    return HOURLY.partial(pa.table(columns))


def empty_partial() -> pa.Table:
    types = {"location": pa.string(), "location_type": pa.string(), "date": pa.string(),
             "hour": pa.int8(), "day_of_week": pa.int8(), "windows": pa.int64(),
             "dwell_tracks": pa.int64(), "engaged": pa.int64(), "peak_people": pa.int64()}
    return pa.schema([(c, types.get(c, pa.float64())) for c in HOURLY.columns]).empty_table()


def combine_hourly(partials: Sequence[pa.Table]) -> pa.Table:
    """Merge block partials (a location-hour split across blocks is summed)."""
    return HOURLY.combine([empty_partial(), *partials])


def _ratio(numerator: pa.Array, denominator: pa.Array) -> pa.Array:
    """numerator / denominator, null where the denominator is 0."""
    denominator = pc.cast(denominator, pa.float64())
    safe = pc.if_else(pc.greater(denominator, 0.0), denominator, None)
    return pc.divide(pc.cast(numerator, pa.float64()), safe)


def rates(sums: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Per-hour crowd and attentive, attention rate, dwell and segment shares from sums."""
    columns = {key: sums[key] for key in keys}
    in_view = _ratio(sums["crowd_sum"], sums["windows"])
    dwell = _ratio(sums["dwell_seconds"], sums["dwell_tracks"])
    per_hour = pc.coalesce(_ratio(pa.array(np.full(len(sums), 3600.0)), pc.max_element_wise(
        dwell, MIN_DWELL_S, skip_nulls=False)), float(WINDOWS_PER_HOUR))
    attention = _ratio(sums["attentive_sum"], sums["crowd_sum"])
    columns["people_in_view"] = in_view
    columns["crowd"] = pc.multiply(in_view, per_hour)
    columns["attentive"] = pc.multiply(columns["crowd"], pc.fill_null(attention, 0.0))
    columns["attention_rate"] = attention
    columns["dwell_mean_s"] = dwell
    columns["engagement_rate"] = _ratio(sums["engaged"], sums["dwell_tracks"])
    columns["peak_people"] = sums["peak_people"]
    columns["windows"] = sums["windows"]
    for segment in _SEGMENTS:
        columns[f"{segment}_share"] = _ratio(sums[segment], sums["crowd_sum"])
        columns[f"{segment}_attention_rate"] = _ratio(sums[f"{segment}_attentive"], sums[segment])
    return pa.table(columns)


def summarise(hourly_sums: pa.Table, keys: Sequence[str],
              where: pc.Expression | None = None) -> pa.Table:
    """Rates over the location-hours matching `where`, grouped by `keys`."""
    table = hourly_sums.filter(where) if where is not None else hourly_sums
    rollup = Rollup(keys=tuple(keys), sums=SUM_COLUMNS, maxs=("peak_people",))
    return rates(rollup.partial(table), keys).sort_by([(k, "ascending") for k in keys])


def _with_calendar(hourly_sums: pa.Table) -> pa.Table:
    day = pc.strptime(hourly_sums["date"], format="%Y-%m-%d", unit="s")
    start = pc.add(day.cast(pa.timestamp("s")),
                   pc.multiply(hourly_sums["hour"].cast(pa.int64()), 3600).cast(pa.duration("s")))
    return hourly_sums.append_column("month", pc.month(day).cast(pa.int8())) \
        .append_column("is_weekend", pc.greater_equal(hourly_sums["day_of_week"], 5)) \
        .append_column("slot_start", start)


def _in_hours(bounds: tuple[int, int]) -> pc.Expression:
    return (pc.field("hour") >= bounds[0]) & (pc.field("hour") < bounds[1])


def advertising_metrics(hourly: pa.Table) -> pa.Table:
    """One row per location x local date x hour: crowd, attention, dwell, demographic mix."""
    keys = (*HOUR_KEYS, "month", "is_weekend", "slot_start")
    return summarise(hourly, keys)


def location_profiles(hourly: pa.Table) -> pa.Table:
    """Per location: level, rush-hour and weekend patterns, and the reach score benchmark.

    reach score = attention rate x mean hourly crowd; reach_index is 100 at the median
    location (type_reach_index: at the median location of the same type).
    """
    keys = ["location", "location_type"]
    overall = summarise(hourly, keys)
    days = hourly.group_by(keys).aggregate([("date", "count_distinct")]) \
        .rename_columns([*keys, "days"])
    parts = {
        "morning_rush": _in_hours(MORNING_RUSH), "evening_rush": _in_hours(EVENING_RUSH),
        "weekday": ~pc.field("is_weekend"), "weekend": pc.field("is_weekend"),
    }
    profile = overall.select([*keys, "crowd", "attentive", "attention_rate", "dwell_mean_s",
                              "engagement_rate", *(f"{s}_share" for s in _SEGMENTS)])
    for name, where in parts.items():
        piece = summarise(hourly, keys, where).select([*keys, "crowd", "attention_rate"])
        profile = profile.join(piece.rename_columns(
            [*keys, f"{name}_crowd", f"{name}_attention_rate"]), keys)
    reach = pc.multiply(profile["attention_rate"], profile["crowd"])
    profile = profile.append_column("reach_score", reach)
    median = float(np.nanmedian(reach.to_numpy(zero_copy_only=False)))
    profile = profile.append_column("reach_index", pc.multiply(_ratio(reach, pa.array(
        np.full(len(reach), median))), 100.0))
    types = profile["location_type"].to_numpy(zero_copy_only=False)
    values = reach.to_numpy(zero_copy_only=False)
    type_median = {kind: np.nanmedian(values[types == kind]) for kind in set(types)}
    profile = profile.append_column("type_reach_index", pa.array(
        100.0 * values / np.array([type_median[kind] for kind in types])))
    order = np.argsort(-values, kind="stable")
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(1, len(values) + 1)
    profile = profile.append_column("reach_rank", pa.array(rank))
    profile = profile.append_column("weekend_vs_weekday_crowd", _ratio(
        profile["weekend_crowd"], profile["weekday_crowd"]))
    return profile.join(days, keys).sort_by("reach_rank")


def audience_patterns(hourly: pa.Table) -> pa.Table:
    """Long table per location type: crowd and attention by hour (weekday/weekend), rush
    period, day kind, month, age band and gender; `index` is 100 at the type's overall rate."""
    kind = ["location_type"]
    overall = summarise(hourly, kind).select([*kind, "attention_rate"])
    base = dict(zip(overall["location_type"].to_pylist(), overall["attention_rate"].to_pylist(),
                    strict=True))
    rows: list[pa.Table] = []

    def add(segment_kind: str, table: pa.Table, segment: pa.Array, crowd: pa.Array,
            rate: pa.Array, share: pa.Array | None = None) -> None:
        rows.append(pa.table({
            "location_type": table["location_type"],
            "segment_kind": pa.array([segment_kind] * len(table), pa.string()),
            "segment": segment.cast(pa.string()), "crowd_per_hour": crowd.cast(pa.float64()),
            "share_of_crowd": share if share is not None else pa.nulls(len(table), pa.float64()),
            "attention_rate": rate.cast(pa.float64())}))

    for day_kind, where in (("weekday", ~pc.field("is_weekend")),
                            ("weekend", pc.field("is_weekend"))):
        by_hour = summarise(hourly, [*kind, "hour"], where)
        add(f"hour_{day_kind}", by_hour, by_hour["hour"], by_hour["crowd"],
            by_hour["attention_rate"])
    for rush, hours in (("morning_rush_7_9", MORNING_RUSH), ("evening_rush_17_19", EVENING_RUSH)):
        part = summarise(hourly, kind, _in_hours(hours) & ~pc.field("is_weekend"))
        add("rush", part, pa.array([rush] * len(part), pa.string()), part["crowd"],
            part["attention_rate"])
    day_kind_table = summarise(hourly, [*kind, "is_weekend"])
    add("day_kind", day_kind_table,
        pc.if_else(day_kind_table["is_weekend"], "weekend", "weekday"),
        day_kind_table["crowd"], day_kind_table["attention_rate"])
    by_month = summarise(hourly, [*kind, "month"])
    add("month", by_month, by_month["month"], by_month["crowd"], by_month["attention_rate"])
    by_type = summarise(hourly, kind)
    for segment_kind, bands in (("age_band", AGE_BANDS), ("gender", GENDERS)):
        for band in bands:
            column = band_column(band)
            add(segment_kind, by_type, pa.array([band] * len(by_type), pa.string()),
                pc.multiply(by_type["crowd"], by_type[f"{column}_share"]),
                by_type[f"{column}_attention_rate"], by_type[f"{column}_share"])
    patterns = pa.concat_tables(rows)
    type_rate = pa.array([base.get(t) for t in patterns["location_type"].to_pylist()],
                         pa.float64())
    return patterns.append_column("index", pc.multiply(_ratio(patterns["attention_rate"],
                                                              type_rate), 100.0))


def pricing_history(metrics: pa.Table, card: RateCard) -> pa.Table:
    """What each past hour would have cost on the rate card at its observed attentive count."""
    kinds = [RATECARD_LOCATION_TYPES.get(k, "residential")
             for k in metrics["location_type"].to_pylist()]
    attentive = pc.fill_null(metrics["attentive"], 0.0)
    prices = price_slots(card, metrics["slot_start"].to_numpy(zero_copy_only=False), kinds,
                         attentive, attentive, attentive)
    base = metrics.select(["location", "location_type", "date", "hour", "day_of_week",
                           "slot_start", "crowd", "attentive", "attention_rate"])
    return base.append_column("hour_band", prices["hour_band"].cast(pa.string())) \
        .append_column("hour_factor", prices["hour_factor"]) \
        .append_column("location_factor", prices["location_factor"]) \
        .append_column("seasonal_factor", prices["seasonal_factor"]) \
        .append_column("price", prices["price_p50"]) \
        .append_column("currency", pa.array([card.currency] * base.num_rows))


def campaign_performance(history: pa.Table) -> pa.Table:
    """A standing campaign per location x ISO week x hour band: hours, audience, spend, CPM."""
    week = pc.strftime(history["slot_start"], format="%G-W%V")
    table = history.append_column("week", week)
    keys = ["location", "location_type", "week", "hour_band"]
    out = table.group_by(keys).aggregate([("crowd", "sum"), ("attentive", "sum"),
                                          ("price", "sum"), ("slot_start", "count")])
    out = out.rename_columns([*keys, "crowd", "attentive_audience", "spend", "hours"])
    cpm = pc.multiply(_ratio(out["spend"], out["attentive_audience"]), 1000.0)
    return out.append_column("cpm", cpm).sort_by([(k, "ascending") for k in keys])


def build_marts(hourly: pa.Table, card: RateCard) -> dict[str, pa.Table]:
    """Every mart from the combined hourly sums."""
    hourly = _with_calendar(hourly)
    metrics = advertising_metrics(hourly)
    history = pricing_history(metrics, card)
    return {
        "advertising_metrics": metrics,
        "pricing_history": history,
        "campaign_performance": campaign_performance(history),
        "location_profiles": location_profiles(hourly),
        "audience_patterns": audience_patterns(hourly),
    }


def location_timezones(cameras: Sequence[Any]) -> dict[str, str]:
    """Location -> timezone of its first camera's operating hours (CameraConfig objects)."""
    zones: dict[str, str] = {}
    for camera in cameras:
        zones.setdefault(camera.location, camera.operating_hours.timezone)
    return zones
