"""Real hourly count series used to judge the audience forecaster (see shared data README).

Both readers return the forecaster's long format: ``location_id``, ``timestamp`` (naive
local hour), ``value``, ``holiday`` and, where the source has them, weather columns.
"""

from pathlib import Path

import holidays
import numpy as np
import pandas as pd

from core.settings import SHARED_DATA

TRAFFIC_CSV = SHARED_DATA / "hourly_traffic_volume.csv"
PARKING_CSV = SHARED_DATA / "hourly_parking.csv"
ABSOLUTE_ZERO_READING_K = 200.0  # the traffic file has temp 0 K rows: sensor gaps
MAX_PLAUSIBLE_RAIN_MM = 100.0  # and one 9,831 mm hour
WEATHER_COLUMNS = ("temp", "rain_1h", "snow_1h", "clouds_all", "weather_code")


def _holiday_flags(timestamps: pd.Series, calendar: holidays.HolidayBase) -> pd.Series:
    return timestamps.dt.date.map(lambda day: day in calendar).astype(bool)


def read_traffic(path: Path | str = TRAFFIC_CSV) -> pd.DataFrame:
    """I-94 hourly volume: one row per hour (duplicated hours keep their first row; they
    repeat the volume with another weather description). Missing hours stay missing."""
    raw = pd.read_csv(path, parse_dates=["date_time"])
    raw = raw.sort_values("date_time", kind="stable").drop_duplicates("date_time", keep="first")
    weather_codes = {name: code for code, name in enumerate(sorted(raw["weather_main"].unique()))}
    frame = pd.DataFrame(
        {
            "location_id": "I-94",
            "timestamp": raw["date_time"].dt.floor("h"),
            "value": raw["traffic_volume"].astype(float),
            "temp": raw["temp"].where(raw["temp"] > ABSOLUTE_ZERO_READING_K),
            "rain_1h": raw["rain_1h"].where(raw["rain_1h"] < MAX_PLAUSIBLE_RAIN_MM),
            "snow_1h": raw["snow_1h"],
            "clouds_all": raw["clouds_all"].astype(float),
            "weather_code": raw["weather_main"].map(weather_codes).astype(float),
        }
    )
    years = range(frame["timestamp"].dt.year.min(), frame["timestamp"].dt.year.max() + 1)
    # Minnesota's calendar: the file's own column names a holiday on its midnight row only
    # and adds Columbus Day and the State Fair's opening day, which are working days here
    frame["holiday"] = _holiday_flags(frame["timestamp"], holidays.US(subdiv="MN", years=years))
    return frame.reset_index(drop=True)


def read_parking(path: Path | str = PARKING_CSV) -> pd.DataFrame:
    """Birmingham car parks: half-hourly occupancy averaged into hourly means per car park.

    Readings are stamped a few seconds to minutes off the half hour (07:59:42 is the 08:00
    reading), so each is rounded to the nearest half hour before flooring to its hour.
    """
    raw = pd.read_csv(path, parse_dates=["LastUpdated"])
    hour = raw["LastUpdated"].dt.round("30min").dt.floor("h")
    frame = (
        raw.assign(timestamp=hour)
        .groupby(["SystemCodeNumber", "timestamp"], as_index=False)["Occupancy"]
        .mean()
        .rename(columns={"SystemCodeNumber": "location_id", "Occupancy": "value"})
    )
    frame["value"] = frame["value"].astype(np.float64)
    years = range(frame["timestamp"].dt.year.min(), frame["timestamp"].dt.year.max() + 1)
    frame["holiday"] = _holiday_flags(frame["timestamp"], holidays.UK(subdiv="ENG", years=years))
    return frame
