"""Calendar facts of days (datetime64[D] arrays): weekday, season, US holidays."""

from __future__ import annotations

from functools import cache

import holidays
import numpy as np

HOLIDAY_LEAD_DAYS = 2  # a holiday lifts demand on the day and the days before it
SEASONS = ("winter", "spring", "summer", "autumn")  # meteorological: Dec-Feb is winter


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 .. Sunday = 6."""
    return (days.astype("datetime64[D]").astype(np.int64) + 3) % 7


def monday(days: np.ndarray) -> np.ndarray:
    """The Monday starting each day's week."""
    days = days.astype("datetime64[D]")
    return days - weekday(days).astype("timedelta64[D]")


def month(days: np.ndarray) -> np.ndarray:
    """1 .. 12."""
    return days.astype("datetime64[M]").astype(np.int64) % 12 + 1


def day_of_year(days: np.ndarray) -> np.ndarray:
    days = days.astype("datetime64[D]")
    return (days - days.astype("datetime64[Y]")).astype(np.int64)


def season_index(days: np.ndarray) -> np.ndarray:
    """Index into SEASONS of each day."""
    return month(days) % 12 // 3


def season(days: np.ndarray) -> np.ndarray:
    """Season names (object array) of each day."""
    return np.array(SEASONS, dtype=object)[season_index(days)]


@cache
def _us_holidays(first_year: int, last_year: int) -> np.ndarray:
    return np.array(sorted(holidays.US(years=range(first_year, last_year + 1))),
                    dtype="datetime64[D]")


def near_holiday(days: np.ndarray) -> np.ndarray:
    """True on US holidays and the `HOLIDAY_LEAD_DAYS` days before them."""
    days = days.astype("datetime64[D]")
    if days.size == 0:
        return np.zeros(days.shape, dtype=bool)
    first, last = days.min(), days.max()
    span = np.arange(first, last + np.timedelta64(1, "D"))  # decided once per calendar day
    known = _us_holidays(int(first.astype("datetime64[Y]").astype(np.int64)) + 1970,
                         int(last.astype("datetime64[Y]").astype(np.int64)) + 1971)
    near = np.zeros(span.shape, dtype=bool)
    for lead in range(HOLIDAY_LEAD_DAYS + 1):
        near |= np.isin(span + lead, known)
    return near[(days - first).astype(np.int64)]
