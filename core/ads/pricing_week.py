"""The pricing explorer's views of the priced slot catalogue: one summary per location, and a
location's week as day x hour matrices (prices and expected attentive audience, P10/P50/P90).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

QUANTILES = ("p10", "p50", "p90")
HOURS = tuple(range(24))


def location_summaries(slots: pa.Table) -> list[dict[str, Any]]:
    """Per location of a catalogue: type, hours priced, first/last hour, the week's expected
    attentive audience (sum of P50), its attention rate and the range of P50 prices."""
    keys = ["location", "location_type"]
    grouped = slots.group_by(keys).aggregate([
        ("slot_id", "count"), ("attentive_p50", "sum"), ("crowd_p50", "sum"),
        ("price_p50", "min"), ("price_p50", "max"), ("price_p50", "mean"),
        ("slot_start", "min"), ("slot_start", "max"),
    ]).sort_by([("location", "ascending")])
    summaries = []
    for row in grouped.to_pylist():
        crowd = row["crowd_p50_sum"]
        summaries.append({
            "location_id": row["location"], "location_type": row["location_type"],
            "hours": row["slot_id_count"],
            "first_slot": row["slot_start_min"].isoformat(),
            "last_slot": row["slot_start_max"].isoformat(),
            "weekly_attentive_p50": round(row["attentive_p50_sum"], 1),
            "attention_rate": round(row["attentive_p50_sum"] / crowd, 4) if crowd else None,
            "price_p50": {"min": round(row["price_p50_min"], 2),
                          "mean": round(row["price_p50_mean"], 2),
                          "max": round(row["price_p50_max"], 2)},
        })
    return summaries


def location_rows(slots: pa.Table, location_id: str) -> pa.Table:
    return slots.filter(pc.equal(slots["location"], location_id))


def week_grid(rows: pa.Table, booked: Collection[str] = ()) -> dict[str, Any]:
    """One location's priced hours as matrices [day][hour] (None where an hour is not priced):
    price and attentive audience P10/P50/P90, attention rate P50, slot ids and booked flags."""
    starts = rows["slot_start"].to_pylist()
    days: list[date] = sorted({start.date() for start in starts})
    day_index = {day: i for i, day in enumerate(days)}
    cells = [(day_index[start.date()], start.hour) for start in starts]

    def matrix(values: list[Any]) -> list[list[Any]]:
        grid: list[list[Any]] = [[None] * len(HOURS) for _ in days]
        for (day, hour), value in zip(cells, values, strict=True):
            grid[day][hour] = value
        return grid

    def rounded(column: str, digits: int) -> list[list[Any]]:
        return matrix([round(v, digits) for v in rows[column].to_pylist()])

    slot_ids = rows["slot_id"].to_pylist()
    return {
        "days": [day.isoformat() for day in days],
        "weekdays": [day.strftime("%a") for day in days],
        "hours": list(HOURS),
        "price": {q: rounded(f"price_{q}", 2) for q in QUANTILES},
        "attentive": {q: rounded(f"attentive_{q}", 1) for q in QUANTILES},
        "attention_rate": {"p50": rounded("attention_rate_p50", 4)},
        "slot_ids": matrix(slot_ids),
        "booked": matrix([sid in booked for sid in slot_ids]),
    }
