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


def season(days: np.ndarray) -> np.ndarray:
    """Season names (object array) of each day."""
    return np.array(SEASONS, dtype=object)[month(days) % 12 // 3]


@cache
def _us_holidays(first_year: int, last_year: int) -> np.ndarray:
    return np.array(sorted(holidays.US(years=range(first_year, last_year + 1))),
                    dtype="datetime64[D]")


def near_holiday(days: np.ndarray) -> np.ndarray:
    """True on US holidays and the `HOLIDAY_LEAD_DAYS` days before them."""
    days = days.astype("datetime64[D]")
    if days.size == 0:
        return np.zeros(days.shape, dtype=bool)
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    known = _us_holidays(int(years.min()), int(years.max()) + 1)
    near = np.zeros(days.shape, dtype=bool)
    for lead in range(HOLIDAY_LEAD_DAYS + 1):
        near |= np.isin(days + lead, known)
    return near
