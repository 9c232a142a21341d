"""The priced slot catalogue: next week's audience forecast through the rate card, one row per
location-hour, and the optimiser's candidate slots for a target audience.

A slot is one hour at one location, named `{location}@{YYYY-MM-DDTHH}` (local start hour).
Targeted audience = attentive P50 x the forecast P50 share of the targeted age bands
(x the share of the targeted genders, when any are named).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.ads.audience_history import AGE_BANDS, GENDERS, RATECARD_LOCATION_TYPES, band_column
from core.ads.ratecard import RateCard, price_slots

SLOT_HOUR_FORMAT = "%Y-%m-%dT%H"
# the age bands each rate-card demographic target addresses
TARGET_AGE_BANDS = {"broad": AGE_BANDS, "professionals_25_45": ("25-34", "35-44")}


def slot_id(location_id: str, start: datetime) -> str:
    return f"{location_id}@{start.strftime(SLOT_HOUR_FORMAT)}"


def parse_time_slot(text: str) -> datetime:
    """An hour slot from 'YYYY-MM-DDTHH', 'YYYY-MM-DDTHH:MM' or a full ISO time (naive
    local; minutes and seconds must be zero)."""
    try:
        moment = datetime.strptime(text, SLOT_HOUR_FORMAT) if len(text) == 13 \
            else datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"time_slot {text!r} is not an ISO hour like 2026-11-30T08") from exc
    if moment.tzinfo is not None:
        raise ValueError("time_slot is a local wall-clock hour: drop the UTC offset")
    if (moment.minute, moment.second, moment.microsecond) != (0, 0, 0):
        raise ValueError("time_slot must start on the hour")
    return moment


def price_catalogue(forecast: pa.Table, card: RateCard) -> dict[str, pa.Table]:
    """Per rate-card target: the forecast's slots with factors and P10/P50/P90 prices."""
    kinds = [RATECARD_LOCATION_TYPES.get(k, "residential")
             for k in forecast["location_type"].to_pylist()]
    starts = forecast["slot_start"].cast(pa.timestamp("s"))
    ids = pc.binary_join_element_wise(
        forecast["location"], pc.strftime(starts, format=SLOT_HOUR_FORMAT), "@")
    catalogue = {}
    for target in card.demographic_targets:
        prices = price_slots(card, starts.to_numpy(zero_copy_only=False), kinds,
                             forecast["attentive_p10"], forecast["attentive_p50"],
                             forecast["attentive_p90"], target=target)
        table = forecast.append_column("slot_id", ids)
        for name in prices.column_names:
            column = prices[name]
            table = table.append_column(name, column.cast(pa.string())
                                        if name == "hour_band" else column)
        catalogue[target] = table.sort_by([("location", "ascending"),
                                           ("slot_start", "ascending")])
    return catalogue


def target_share(slots: pa.Table, target: str, age_bands: Sequence[str] | None = None,
                 genders: Sequence[str] | None = None) -> np.ndarray:
    """Expected share of each slot's audience in the targeted bands (and genders)."""
    bands = age_bands or TARGET_AGE_BANDS.get(target, AGE_BANDS)
    unknown = [b for b in bands if b not in AGE_BANDS] + \
        [g for g in genders or () if g not in GENDERS]
    if unknown:
        raise ValueError(f"unknown age bands or genders {unknown}")
    share = np.sum([slots[f"{band_column(b)}_share_p50"].to_numpy() for b in bands], axis=0)
    if genders:
        share = share * np.sum([slots[f"{band_column(g)}_share_p50"].to_numpy()
                                for g in genders], axis=0)
    return np.clip(share, 0.0, 1.0)


def candidates(slots: pa.Table, target: str, start: datetime, end: datetime,
               locations: Sequence[str] | None = None, age_bands: Sequence[str] | None = None,
               genders: Sequence[str] | None = None) -> pa.Table:
    """The optimiser's candidate slots (CANDIDATE_COLUMNS) in [start, end)."""
    starts = slots["slot_start"].cast(pa.timestamp("s"))
    keep = pc.and_(pc.greater_equal(starts, pa.scalar(start, pa.timestamp("s"))),
                   pc.less(starts, pa.scalar(end, pa.timestamp("s"))))
    if locations:
        keep = pc.and_(keep, pc.is_in(slots["location"], pa.array(list(locations))))
    chosen = slots.filter(keep)
    share = target_share(chosen, target, age_bands, genders)
    return pa.table({
        "slot_id": chosen["slot_id"], "location_id": chosen["location"],
        "start_time": chosen["slot_start"], "price": chosen["price_p50"],
        "targeted_audience": chosen["attentive_p50"].to_numpy() * share,
        "target_share": share,
    })


def slot_quote(row: dict[str, Any], currency: str) -> dict[str, Any]:
    """One catalogue row as the API's slot answer."""
    mix = {
        "age": {b: round(row[f"{band_column(b)}_share_p50"], 4) for b in AGE_BANDS},
        "gender": {g: round(row[f"{band_column(g)}_share_p50"], 4) for g in GENDERS},
    }
    quantiles = ("p10", "p50", "p90")
    return {
        "slot_id": row["slot_id"], "location_id": row["location"],
        "location_type": row["location_type"], "start": row["slot_start"].isoformat(),
        "currency": currency,
        "price": {q: round(row[f"price_{q}"], 2) for q in quantiles},
        "expected_audience": {
            "crowd": {q: round(row[f"crowd_{q}"], 1) for q in quantiles},
            "attentive": {q: round(row[f"attentive_{q}"], 1) for q in quantiles},
            "attention_rate": {q: round(row[f"attention_rate_{q}"], 4) for q in quantiles},
            "demographic_mix": mix,
        },
        "factors": {"hour_band": row["hour_band"], "peak_hour": row["hour_factor"],
                    "demographic": row["demographic_factor"],
                    "location": row["location_factor"], "seasonal": row["seasonal_factor"]},
        "model": {"crowd": row["crowd_model"], "version": row.get("model_version")},
    }
