"""Rate card: turns expected attentive audience into hourly slot prices.

slot price = attentive audience / 1000 x base rate per thousand x peak-hour factor
             x demographic factor x location factor x seasonal factor

Slot start times are naive local wall-clock times; hour bands are half-open [start, end).
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config_files import describe_validation_error

DEFAULT_RATECARD_PATH = Path(__file__).resolve().parents[2] / "configs" / "ratecard.yaml"
HOURS_PER_DAY = 24


class RateCardError(ValueError):
    """The rate card file is missing, unreadable or fails validation."""


class UnknownRateCardKey(KeyError):
    """A slot names a location type or demographic target the rate card does not price."""


class HourBand(BaseModel):
    """Hours [start, end) sharing one peak-hour factor; end < start wraps past midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    start: int = Field(ge=0, le=23)
    end: int = Field(ge=0, le=24)
    factor: float = Field(gt=0)

    def hours(self) -> list[int]:
        span = (self.end - self.start) % HOURS_PER_DAY or HOURS_PER_DAY
        return [(self.start + offset) % HOURS_PER_DAY for offset in range(span)]


class Season(BaseModel):
    """Months of the year sharing one seasonal factor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    months: list[int] = Field(min_length=1)
    factor: float = Field(gt=0)

    @field_validator("months")
    @classmethod
    def _months_in_calendar(cls, months: list[int]) -> list[int]:
        bad = [month for month in months if not 1 <= month <= 12]
        if bad:
            raise ValueError(f"months must be 1-12, got {bad}")
        return months


class RateCard(BaseModel):
    """Validated rate card; see configs/ratecard.yaml for the meaning of each key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    currency: str = Field(min_length=3, max_length=3)
    base_rate_per_thousand: float = Field(gt=0)
    hour_bands: list[HourBand]
    demographic_targets: dict[str, float]
    location_types: dict[str, float]
    seasons: list[Season] = []
    default_seasonal_factor: float = Field(default=1.0, gt=0)

    @field_validator("hour_bands")
    @classmethod
    def _bands_cover_each_hour_once(cls, bands: list[HourBand]) -> list[HourBand]:
        owners: dict[int, list[str]] = {hour: [] for hour in range(HOURS_PER_DAY)}
        for band in bands:
            if band.start == band.end:
                raise ValueError(f"band {band.name!r} is empty (start == end)")
            for hour in band.hours():
                owners[hour].append(band.name)
        uncovered = [hour for hour, names in owners.items() if not names]
        overlapping = {hour: names for hour, names in owners.items() if len(names) > 1}
        if uncovered:
            raise ValueError(f"hours {uncovered} are in no band")
        if overlapping:
            raise ValueError(f"hours in more than one band: {overlapping}")
        return bands

    @field_validator("demographic_targets", "location_types")
    @classmethod
    def _factors_positive(cls, factors: dict[str, float]) -> dict[str, float]:
        if not factors:
            raise ValueError("needs at least one entry")
        bad = {key: value for key, value in factors.items() if not value > 0}
        if bad:
            raise ValueError(f"factors must be > 0, got {bad}")
        return factors

    @field_validator("seasons")
    @classmethod
    def _each_month_in_one_season(cls, seasons: list[Season]) -> list[Season]:
        seen: dict[int, str] = {}
        for season in seasons:
            for month in season.months:
                if month in seen:
                    raise ValueError(f"month {month} is in {seen[month]!r} and {season.name!r}")
                seen[month] = season.name
        return seasons

    def hour_band_index(self) -> npt.NDArray[np.int64]:
        """Index into hour_bands for each hour of the day 0-23."""
        index = np.empty(HOURS_PER_DAY, dtype=np.int64)
        for position, band in enumerate(self.hour_bands):
            index[band.hours()] = position
        return index

    def month_factors(self) -> npt.NDArray[np.float64]:
        """Seasonal factor for months 1-12 at positions 1-12 (position 0 unused)."""
        factors = np.full(13, self.default_seasonal_factor)
        for season in self.seasons:
            factors[season.months] = season.factor
        return factors


def load_rate_card(path: Path | str = DEFAULT_RATECARD_PATH) -> RateCard:
    """Read and validate a rate card YAML; errors name the file and the offending key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RateCardError(f"{path}: cannot read rate card: {error}") from error
    return parse_rate_card(raw, source=str(path))


def parse_rate_card(raw: object, source: str = "rate card") -> RateCard:
    """Validate an already-parsed mapping as a rate card."""
    try:
        return RateCard.model_validate(raw)
    except ValidationError as error:
        raise RateCardError(f"{source}: {describe_validation_error(error)}") from error


def _factor_lookup(
    factors: dict[str, float], keys: str | Sequence[str] | npt.ArrayLike, size: int, what: str
) -> npt.NDArray[np.float64]:
    if isinstance(keys, str):
        keys = [keys]
    uniques, inverse = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    unknown = [key for key in uniques if key not in factors]
    if unknown:
        raise UnknownRateCardKey(f"unknown {what} {unknown}; rate card has {sorted(factors)}")
    per_unique = np.array([factors[key] for key in uniques], dtype=np.float64)
    return np.broadcast_to(per_unique[inverse.reshape(-1)], (size,))


def price_slots(
    card: RateCard,
    start_times: npt.ArrayLike,
    location_types: str | Sequence[str] | npt.ArrayLike,
    attentive_p10: npt.ArrayLike,
    attentive_p50: npt.ArrayLike,
    attentive_p90: npt.ArrayLike,
    target: str | Sequence[str] | npt.ArrayLike = "broad",
) -> pa.Table:
    """Price many slots at once; returns factors applied and P10/P50/P90 prices per slot."""
    hours_since_epoch = np.asarray(start_times).astype("datetime64[h]")
    size = hours_since_epoch.shape[0]
    hour_of_day = (hours_since_epoch - hours_since_epoch.astype("datetime64[D]")).astype(np.int64)
    month = hours_since_epoch.astype("datetime64[M]").astype(np.int64) % 12 + 1

    band_index = card.hour_band_index()[hour_of_day]
    hour_factor = np.array([band.factor for band in card.hour_bands])[band_index]
    seasonal_factor = card.month_factors()[month]
    location_factor = _factor_lookup(card.location_types, location_types, size, "location type")
    demographic_factor = _factor_lookup(card.demographic_targets, target, size, "target")

    rate_per_viewer = (
        card.base_rate_per_thousand
        / 1000.0
        * hour_factor
        * demographic_factor
        * location_factor
        * seasonal_factor
    )
    quantiles = (attentive_p10, attentive_p50, attentive_p90)
    audience = np.stack([np.broadcast_to(np.asarray(q, np.float64), (size,)) for q in quantiles])
    audience = np.sort(np.clip(audience, 0.0, None), axis=0)  # forecasts may cross or dip below 0
    band_names = pa.array([band.name for band in card.hour_bands])
    return pa.table(
        {
            "hour_band": pa.DictionaryArray.from_arrays(pa.array(band_index), band_names),
            "hour_factor": hour_factor,
            "demographic_factor": demographic_factor,
            "location_factor": location_factor,
            "seasonal_factor": seasonal_factor,
            "price_p10": audience[0] * rate_per_viewer,
            "price_p50": audience[1] * rate_per_viewer,
            "price_p90": audience[2] * rate_per_viewer,
        }
    )
