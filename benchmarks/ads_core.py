"""Ad pricing core: slot-plan optimisation time and audience forecasts vs a seasonal baseline.

(a) Rate card + optimiser over 100 locations x 7 days x 24 hours (16,800 slots) priced by
configs/ratecard.yaml, with 2% of slots booked: several budgets, with and without
per-location caps; `optimize_ms` is the capped 5%-of-inventory budget, the median of runs.
(b) On the real series in ../shared/data (I-94 traffic; Birmingham car parks), the final
week held out: LightGBM quantile forecaster vs the seasonal baseline (each hour-of-week's
quantiles over the previous 8 weeks), mean pinball loss over P10/P50/P90 and P10-P90 coverage.

    python benchmarks/ads_core.py           # default forecaster, 3 optimiser runs each
    python benchmarks/ads_core.py --quick   # lighter boosters, 1 optimiser run each
"""

import argparse
import json
import statistics
import time

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from core.ads.audience_forecast import fit_and_backtest
from core.ads.public_series import read_parking, read_traffic
from core.ads.ratecard import load_rate_card, price_slots
from core.ads.slot_optimizer import optimise_slots

LOCATIONS, HOURS = 100, 7 * 24
QUICK_FORECASTER = {"num_iterations": 100, "learning_rate": 0.12}
console = Console()


def slot_inventory(seed: int = 0) -> tuple[pa.Table, float]:
    """16,800 priced slots with an hourly professional share; and the rate card's time."""
    rng = np.random.default_rng(seed)
    location = np.repeat(np.arange(LOCATIONS), HOURS)
    hour_of_week = np.tile(np.arange(HOURS), LOCATIONS)
    start = np.datetime64("2026-11-02T00:00", "s") + hour_of_week * np.timedelta64(3600, "s")
    location_type = np.array(["high_traffic_station", "business_district", "residential"])[
        location % 3
    ]
    daily_shape = 1 + 0.8 * np.sin((hour_of_week % 24 - 6) / 24 * 2 * np.pi)
    attentive = rng.lognormal(6, 0.5, LOCATIONS)[location] * daily_shape
    attentive *= rng.lognormal(0, 0.2, location.size)
    professional_share = np.clip(
        rng.uniform(0.2, 0.5, LOCATIONS)[location] + rng.normal(0, 0.05, location.size), 0, 1
    )
    began = time.perf_counter()
    prices = price_slots(
        load_rate_card(), start, location_type, 0.7 * attentive, attentive, 1.3 * attentive,
        target="professionals_25_45",
    )
    pricing_ms = 1000 * (time.perf_counter() - began)
    slots = pa.table(
        {
            "slot_id": [f"L{loc:03d}-{hour:03d}" for loc, hour in zip(location, hour_of_week,
                                                                       strict=True)],
            "location_id": [f"L{loc:03d}" for loc in location],
            "start_time": start,
            "price": prices.column("price_p50"),
            "targeted_audience": attentive * professional_share,
        }
    )
    return slots, pricing_ms


def optimiser_rows(slots: pa.Table, runs: int) -> list[dict]:
    inventory_cost = float(np.sum(slots.column("price").to_numpy()))
    booked = set(slots.column("slot_id").to_pylist()[::50])
    caps = {f"L{loc:03d}": 24 for loc in range(LOCATIONS)}
    rows = []
    for share, capped in [(0.05, True), (0.01, False), (0.05, False), (0.2, False), (0.2, True)]:
        timings, plan = [], None
        for _ in range(runs):
            began = time.perf_counter()
            plan = optimise_slots(slots, share * inventory_cost,
                                  location_caps=caps if capped else None, booked_slot_ids=booked)
            timings.append(1000 * (time.perf_counter() - began))
        rows.append({"budget_share": share, "capped": capped, "ms": statistics.median(timings),
                     "slots": len(plan.best.slot_ids), "gap": plan.optimality_gap,
                     "cpm": plan.best.cost_per_thousand,
                     "runner_up_audience_ratio": plan.runner_up.total_audience
                     / plan.best.total_audience})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lighter run, under a minute")
    args = parser.parse_args()
    runs = 1 if args.quick else 3

    slots, pricing_ms = slot_inventory()
    optimiser = optimiser_rows(slots, runs)
    table = Table(title=f"slot optimiser, {slots.num_rows:,} slots (rate card {pricing_ms:.1f} ms)")
    for column in ("budget", "caps", "ms", "slots", "proven gap", "CPM", "runner-up/best"):
        table.add_column(column, justify="right")
    for row in optimiser:
        table.add_row(f"{row['budget_share']:.0%} of inventory", "24/location" if row["capped"]
                      else "none", f"{row['ms']:.0f}", str(row["slots"]), f"{row['gap']:.1e}",
                      f"{row['cpm']:.2f}", f"{row['runner_up_audience_ratio']:.6f}")
    console.print(table)

    params = QUICK_FORECASTER if args.quick else {}
    figures = {"optimize_ms": round(optimiser[0]["ms"], 1),
               "optimize_gap": optimiser[0]["gap"],
               "price_slots_ms": round(pricing_ms, 2)}
    forecasts = Table(title="final week held out: LightGBM quantiles vs seasonal baseline")
    for column in ("series", "points", "pinball model", "pinball baseline", "ratio",
                   "coverage model", "coverage baseline", "fit s"):
        forecasts.add_column(column, justify="right")
    for series, reader in (("traffic", read_traffic), ("parking", read_parking)):
        began = time.perf_counter()
        metrics = fit_and_backtest(reader(), params)
        seconds = time.perf_counter() - began
        forecasts.add_row(series, str(metrics["scored_points"]), f"{metrics['pinball_loss']:.2f}",
                          f"{metrics['baseline_pinball_loss']:.2f}",
                          f"{metrics['pinball_vs_baseline']:.3f}", f"{metrics['coverage']:.1%}",
                          f"{metrics['baseline_coverage']:.1%}", f"{seconds:.1f}")
        figures[f"pinball_vs_baseline_{series}"] = round(metrics["pinball_vs_baseline"], 4)
        figures[f"coverage_{series}"] = round(metrics["coverage"], 4)
        figures[f"baseline_coverage_{series}"] = round(metrics["baseline_coverage"], 4)
    console.print(forecasts)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
