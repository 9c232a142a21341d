"""Simulated audience history: the 5-minute window rows (and one frame row per window) that
camera actors write to `raw/audience/`, made from numbers alone (no frames are rendered).

Each location type has its own weekly shape in local time: stations peak at the commute,
business districts through the working day, residential streets in the evening and at
weekends. Attention, age and gender mix move with the hour (commuters hurry and are of
working age); summer is quieter and December busier. Everything is seeded and repeatable.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.ads.audience_history import SHARE_COLUMNS
from core.vision.audience_records import AUDIENCE_SCHEMA, FRAME_RECORD
from core.vision.cameras import CameraConfig

WINDOW_S = 300
WINDOW_KIND = f"{WINDOW_S}s"
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male")
FRAMES_PER_WINDOW = 20  # a 2-frame burst scored every 30 s
MONTH_FACTOR = np.array([1.0, 0.95, 0.95, 1.0, 1.0, 1.0, 0.9, 0.85, 0.9, 1.0, 1.05, 1.1, 1.2])

# Mean people in view at the busiest hour, and the base attention rate, per location type.
PEAK_CROWD = {"station": 40.0, "business": 22.0, "residential": 8.0}
BASE_ATTENTION = {"station": 0.22, "business": 0.30, "residential": 0.38}
# Age mix outside the working day / during it (weekday 7-19) per location type.
AGE_MIX = {
    "station": ((0.08, 0.20, 0.24, 0.18, 0.13, 0.10, 0.07),
                (0.03, 0.15, 0.32, 0.26, 0.14, 0.07, 0.03)),
    "business": ((0.04, 0.16, 0.28, 0.22, 0.15, 0.10, 0.05),
                 (0.01, 0.10, 0.36, 0.30, 0.15, 0.06, 0.02)),
    "residential": ((0.18, 0.10, 0.15, 0.16, 0.14, 0.13, 0.14),
                    (0.14, 0.07, 0.10, 0.12, 0.14, 0.19, 0.24)),
}


def _bump(hour: npt.NDArray[np.float64], center: float, width: float) -> npt.NDArray[np.float64]:
    return np.exp(-(((hour - center) / width) ** 2))


def weekly_shape(location_type: str, hour: npt.NDArray[np.float64],
                 weekend: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Relative crowd (about 0-1) at local fractional `hour` on weekdays and weekends."""
    if location_type == "station":
        weekday = 0.04 + 1.0 * _bump(hour, 8.0, 1.1) + 0.35 * _bump(hour, 12.5, 1.5) \
            + 0.9 * _bump(hour, 18.0, 1.3)
        weekend_level = 0.04 + 0.45 * _bump(hour, 14.0, 3.5)
    elif location_type == "business":
        weekday = 0.03 + 0.7 * _bump(hour, 8.7, 1.0) + 0.9 * _bump(hour, 12.7, 1.3) \
            + 0.6 * _bump(hour, 17.5, 1.2) + 0.25 * _bump(hour, 14.5, 3.0)
        weekend_level = 0.03 + 0.2 * _bump(hour, 13.0, 3.0)
    else:
        weekday = 0.05 + 0.4 * _bump(hour, 7.8, 1.2) + 0.25 * _bump(hour, 15.5, 1.0) \
            + 0.8 * _bump(hour, 19.0, 2.0)
        weekend_level = 0.05 + 0.6 * _bump(hour, 11.5, 2.5) + 0.7 * _bump(hour, 17.0, 3.0)
    return np.where(weekend, weekend_level, weekday)


@dataclass(frozen=True)
class SimulatedLocation:
    """One camera to simulate: its config, its size relative to its type and its timezone."""

    camera: CameraConfig
    scale: float = 1.0
    timezone: str = "UTC"


def _map_array(shares: npt.NDArray[np.float64], keys: tuple[str, ...]) -> pa.MapArray:
    rows, width = shares.shape
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
    return pa.MapArray.from_arrays(offsets, pa.array(np.tile(np.array(keys), rows)),
                                   pa.array(shares.reshape(-1)))


def _count_map(counts: npt.NDArray[np.int64], keys: tuple[str, ...]) -> pa.MapArray:
    rows, width = counts.shape
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * width)
    return pa.MapArray.from_arrays(offsets, pa.array(np.tile(np.array(keys), rows)),
                                   pa.array(counts.reshape(-1).astype(np.int32)))


def simulate_camera(location: SimulatedLocation, start: date, days: int,
                    seed: int = 0) -> pa.Table:
    """Window and frame rows (AUDIENCE_SCHEMA) of one camera for `days` local days."""
    camera, kind = location.camera, str(location.camera.location_type)
    rng = np.random.default_rng([seed, zlib.crc32(camera.id.encode())])
    local = pd.date_range(datetime.combine(start, datetime.min.time()),
                          periods=days * 86_400 // WINDOW_S, freq=f"{WINDOW_S}s")
    utc = local.tz_localize(location.timezone, ambiguous="NaT", nonexistent="NaT") \
        .tz_convert("UTC")
    keep = ~utc.isna()
    local, utc = local[keep], utc[keep]
    size = len(local)
    hour = (local.hour + local.minute / 60.0).to_numpy(dtype=np.float64)
    weekend = np.asarray(local.day_of_week >= 5)
    working = ~weekend & (hour >= 7) & (hour < 19)
    day_noise = np.repeat(rng.lognormal(0.0, 0.12, days + 1), 86_400 // WINDOW_S)[:size]
    level = weekly_shape(kind, hour, weekend) * MONTH_FACTOR[np.asarray(local.month)]
    avg_crowd = PEAK_CROWD[kind] * location.scale * level * day_noise \
        * rng.lognormal(0.0, 0.15, size)
    rush = _bump(hour, 8.0, 1.0) + _bump(hour, 18.0, 1.0)
    attention = np.clip(BASE_ATTENTION[kind] * (1.0 - 0.25 * rush * ~weekend)
                        + rng.normal(0.0, 0.03, size), 0.02, 0.95)
    off, on = (np.asarray(mix) for mix in AGE_MIX[kind])
    base_mix = np.where(working[:, None], on[None, :], off[None, :])
    age = rng.dirichlet(np.ones(len(AGE_BANDS)), size) * 0.15 + base_mix * 0.85
    female = np.clip(0.5 + rng.normal(0.0, 0.05, size) - 0.04 * working, 0.05, 0.95)
    gender = np.column_stack([female, 1.0 - female])
    people = rng.poisson(avg_crowd)
    attentive = rng.binomial(people, attention)
    peak = people + rng.poisson(np.sqrt(avg_crowd + 1.0))
    ts = pa.array(utc.as_unit("ms"), type=pa.timestamp("ms", tz="UTC"))
    end = pa.array((utc + pd.Timedelta(seconds=WINDOW_S)).as_unit("ms"),
                   type=pa.timestamp("ms", tz="UTC"))
    dates = pa.array(utc.strftime("%Y-%m-%d"))
    dwell_tracks = rng.poisson(avg_crowd * 0.6)
    dwell = np.clip(rng.normal(9.0 + 25.0 * attention, 3.0, size), 1.0, None)
    common = {"camera_id": pa.array([camera.id] * size), "location_type": pa.array([kind] * size),
              "ts": ts, "location": pa.array([camera.location] * size), "date": dates}
    windows = {
        **common, "record": pa.array([WINDOW_KIND] * size), "window_end": end,
        "frames": pa.array(np.full(size, FRAMES_PER_WINDOW, np.int32)),
        "scored_frames": pa.array(np.full(size, FRAMES_PER_WINDOW, np.int32)),
        "avg_crowd": pa.array(avg_crowd), "attention_rate": pa.array(attention),
        "peak_people": pa.array(peak.astype(np.int32)),
        "peak_ts": ts, "age_distribution": _map_array(age, AGE_BANDS),
        "gender_distribution": _map_array(gender, GENDERS),
    }
    frames = {
        **common, "record": pa.array([FRAME_RECORD] * size),
        "frames": pa.array(np.ones(size, np.int32)),
        "scored_frames": pa.array(np.ones(size, np.int32)),
        "people": pa.array(people.astype(np.int32)),
        "attentive": pa.array(attentive.astype(np.int32)),
        "attention_rate": pa.array(np.where(people > 0, attentive / np.maximum(people, 1), np.nan),
                                   from_pandas=True),
        "age_counts": _count_map(np.round(age * people[:, None]).astype(np.int64), AGE_BANDS),
        "gender_counts": _count_map(np.round(gender * people[:, None]).astype(np.int64),
                                    GENDERS),
        "dwell_tracks": pa.array(dwell_tracks.astype(np.int32)),
        "dwell_mean_s": pa.array(dwell), "dwell_max_s": pa.array(dwell * 2.5),
        "engaged": pa.array(rng.binomial(dwell_tracks, attention).astype(np.int32)),
    }
    return pa.concat_tables([_table(windows, size), _table(frames, size)])


def _table(columns: dict[str, pa.Array], size: int) -> pa.Table:
    arrays = [columns[field.name].cast(field.type) if field.name in columns
              else pa.nulls(size, field.type) for field in AUDIENCE_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=AUDIENCE_SCHEMA)


def fleet_locations(count: int, seed: int = 0) -> list[SimulatedLocation]:
    """`count` cameras at `count` locations cycling through the location types."""
    rng = np.random.default_rng(seed)
    kinds = ("station", "business", "residential")
    return [
        SimulatedLocation(
            CameraConfig(id=f"sim-cam-{index:03d}", location=f"sim-{kinds[index % 3]}-{index:03d}",
                         location_type=kinds[index % 3]),
            scale=float(rng.lognormal(0.0, 0.35)),
        )
        for index in range(count)
    ]



def replayed_forecast(metrics: pa.Table, weeks_ahead: int = 1, spread: float = 0.2,
                      version: str = "replayed") -> pa.Table:
    """A forecast-shaped table (as `forecasts/audience/` holds) that replays the last week of
    an `advertising_metrics` mart `weeks_ahead` weeks later, P10/P90 at -/+ `spread`: load
    tests and demos of the pricing service without fitting a model."""
    last = max(metrics["date"].to_pylist())
    first = (date.fromisoformat(last) - pd.Timedelta(days=6)).isoformat()
    week = metrics.filter(pc.greater_equal(metrics["date"], first))
    shift = pa.scalar(pd.Timedelta(weeks=weeks_ahead).to_pytimedelta(), pa.duration("s"))
    columns: dict[str, pa.Array] = {
        "location": week["location"],
        "slot_start": pc.add(week["slot_start"].cast(pa.timestamp("s")), shift),
        "crowd_model": pa.array(["replayed"] * week.num_rows)}
    for name in ("crowd", "attention_rate", "attentive", *SHARE_COLUMNS):
        middle = pc.fill_null(week[name], 0.0)
        columns |= {f"{name}_p10": pc.multiply(middle, 1.0 - spread), f"{name}_p50": middle,
                    f"{name}_p90": pc.multiply(middle, 1.0 + spread)}
    columns |= {"location_type": week["location_type"],
                "model_version": pa.array([version] * week.num_rows)}
    return pa.table(columns)
