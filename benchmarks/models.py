"""Demand models against the simulator's truth and on real data, through tuning.demand.

    python benchmarks/models.py [--quick]

Simulator: two years of history seeded into a lake through validation, read back with Ray
Data, features and Prophet seasonality of the training window, Ray Tune search, test split
scored against the simulator's noise floor, elasticity error and the revenue check. Real
data (Dominick's tuna, retail cheese): the same training function on their weekly rows;
test MAPE against a seasonal-naive baseline (same week last year, else the last week before
the test split).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import ray
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.lake import Lake  # noqa: E402
from core.market.simulator import Market, MarketSpec, noise_floor_mape  # noqa: E402
from core.retail.features import ALL_SEASONS  # noqa: E402
from core.retail.metrics import seasonal_naive, weekly_mape  # noqa: E402
from core.retail.observations import OBSERVATION_SCHEMA  # noqa: E402
from core.retail.simulator_checks import elasticity_errors, revenue_check  # noqa: E402
from core.retail.training import week_groups  # noqa: E402
from core.settings import SHARED_DATA  # noqa: E402
from data_jobs.seed_history import seed_history  # noqa: E402
from tuning.demand import TrainingOutcome, read_daily, train_demand  # noqa: E402

FIRST_MONDAY = np.datetime64("1989-09-11")  # weekly real data is dated on Mondays


def simulator_figures(lake: Lake, quick: bool, trials: int, max_rounds: int) -> dict:
    market = Market(MarketSpec(seed=3, stores_per_city=1, products=4 if quick else 10))
    days = 730
    seeded = seed_history(lake, market, days, batch_size=50_000)
    rows = read_daily(lake)

    def revenue(model, test_rows: pa.Table) -> dict[str, float]:
        weekly = test_rows.filter(pc.equal(pc.day_of_week(test_rows["day"]), 2))
        check = revenue_check(market, model, weekly)
        return {"revenue_vs_optimum": check.vs_optimum, "revenue_vs_baseline": check.vs_baseline}

    outcome = train_demand(lake, rows, "demand-sim", trials, max_rounds, extra_metrics=revenue)
    test_start = np.datetime64(pc.min(outcome.test_rows["day"]).as_py())
    floor = noise_floor_mape(market.simulate(days), start=test_start)
    errors = elasticity_errors(market, outcome.features.product_locations)
    return {
        "records": seeded.accepted, "rejected": seeded.rejected,
        "model": outcome.config["kind"], "test_mape": outcome.metrics["test_mape"],
        "noise_floor_mape": floor,
        "mape_vs_noise_floor": outcome.metrics["test_mape"] / floor,
        "elasticity_median_abs_error": float(np.nanmedian(np.abs(errors))),
        "revenue_vs_optimum": outcome.metrics["revenue_vs_optimum"],
        "revenue_vs_baseline": outcome.metrics["revenue_vs_baseline"],
    }


def _weekly_rows(frame: pd.DataFrame) -> pa.Table:
    """Weekly real-data rows in the observation schema (day = the week's Monday)."""
    day = FIRST_MONDAY + 7 * frame["week"].to_numpy().astype("timedelta64[D]")
    return pa.table({
        "product_id": frame["product_id"].astype(str), "store_id": frame["store_id"].astype(str),
        "region": frame["region"], "city": frame["region"], "category": frame["category"],
        "urban": np.ones(len(frame), dtype=bool), "day": day,
        "price": frame["price"].astype(float), "units": frame["units"].astype(float),
        "competitor_min_price": pa.array(frame["competitor"].to_numpy(dtype=float),
                                         from_pandas=True),
        "competitor_count": frame["competitors"].astype(np.int64),
        "discount_pct": np.clip(100 * frame["display"].to_numpy(dtype=float), 0, 99),
    }, schema=OBSERVATION_SCHEMA)


def tuna_rows() -> pa.Table:
    raw = pd.read_csv(SHARED_DATA / "dominicks_tuna.csv")
    brands = range(1, 8)
    prices = np.exp(raw[[f"LPRICE{b}" for b in brands]].to_numpy())
    parts = []
    for i, b in enumerate(brands):
        others = np.delete(prices, i, axis=1)
        parts.append(pd.DataFrame({
            "product_id": f"tuna-{b}", "store_id": "dominicks", "region": "chain",
            "category": "canned-tuna", "week": raw["WEEK"] - 1, "price": prices[:, i],
            "units": raw[f"MOVE{b}"], "competitor": others.min(axis=1),
            "competitors": others.shape[1], "display": raw[f"NSALE{b}"]}))
    return _weekly_rows(pd.concat(parts, ignore_index=True))


def cheese_rows() -> pa.Table:
    raw = pd.read_csv(SHARED_DATA / "cheese_retailers.csv")
    return _weekly_rows(pd.DataFrame({
        "product_id": "cheese", "store_id": raw["RETAILER"], "region": "all",
        "category": "cheese", "week": raw.groupby("RETAILER").cumcount(),
        "price": raw["PRICE"], "units": raw["VOLUME"], "competitor": np.nan,
        "competitors": 0, "display": raw["DISP"]}))


def baseline_mape(rows: pa.Table, outcome: TrainingOutcome) -> float:
    """Seasonal-naive MAPE (52 weeks back, else the last week before the test split)."""
    keys = pc.binary_join_element_wise(rows["product_id"], rows["store_id"], "|")
    series = keys.combine_chunks().dictionary_encode().indices.to_numpy()
    week = (rows["day"].to_numpy().astype("datetime64[D]") - FIRST_MONDAY).astype(np.int64) // 7
    test_start = np.datetime64(pc.min(outcome.test_rows["day"]).as_py())
    first_test_week = int((test_start - FIRST_MONDAY).astype(np.int64) // 7)
    units = rows["units"].to_numpy()
    forecast = seasonal_naive(series, week, units, first_test_week, 52)
    test = week >= first_test_week
    return weekly_mape(week_groups(rows.filter(pa.array(test))), units[test], forecast[test])


def real_figures(lake: Lake, name: str, rows: pa.Table, trials: int, max_rounds: int) -> dict:
    outcome = train_demand(lake, rows, f"demand-{name}", trials, max_rounds)
    features = outcome.features.product_locations
    every = features.filter(pc.equal(features["season"], ALL_SEASONS))
    return {
        "model": outcome.config["kind"], "mape": outcome.metrics["test_mape"],
        "baseline_mape": baseline_mape(rows, outcome),
        "elasticities": dict(zip(every["product_id"].to_pylist() if name == "tuna"
                                 else every["store_id"].to_pylist(),
                                 np.round(every["elasticity"].to_numpy(), 2).tolist(),
                                 strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small run (about a minute)")
    args = parser.parse_args()
    trials, max_rounds = (2, 100) if args.quick else (8, 400)
    console = Console()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dynaprice-models-") as folder:
        lake = Lake.open(folder)
        sim = simulator_figures(lake, args.quick, trials, max_rounds)
        tuna = real_figures(lake, "tuna", tuna_rows(), trials, max_rounds)
        cheese = real_figures(lake, "cheese", cheese_rows(), trials, max_rounds)
    ray.shutdown()

    table = Table(title=f"demand models ({'quick' if args.quick else 'full'}, "
                        f"{time.perf_counter() - started:.0f} s)")
    for column in ("figure", "value", "target"):
        table.add_column(column)
    table.add_row("simulator test MAPE / noise floor",
                  f"{sim['mape_vs_noise_floor']:.3f} ({sim['test_mape']:.3f} / "
                  f"{sim['noise_floor_mape']:.3f}, {sim['model']})", "<= 1.15")
    table.add_row("elasticity median |error|", f"{sim['elasticity_median_abs_error']:.3f}",
                  "< 0.3")
    table.add_row("revenue vs true optimum", f"{sim['revenue_vs_optimum']:.3f}", ">= 0.97")
    table.add_row("revenue vs baseline prices", f"{sim['revenue_vs_baseline']:.3f}", ">= 1.10")
    for name, fig in (("tuna", tuna), ("cheese", cheese)):
        table.add_row(f"{name} test MAPE ({fig['model']})", f"{fig['mape']:.3f}",
                      f"< baseline {fig['baseline_mape']:.3f}")
        values = list(fig["elasticities"].values())
        table.add_row(f"{name} elasticities", ", ".join(f"{v:.2f}" for v in values[:8])
                      + (" ..." if len(values) > 8 else ""), "< 0")
    console.print(table)
    cheese_elasticities = np.array(list(cheese["elasticities"].values()))
    console.print(f"cheese: {int((cheese_elasticities < 0).sum())} of "
                  f"{len(cheese_elasticities)} retailer elasticities negative, median "
                  f"{np.nanmedian(cheese_elasticities):.2f}")
    print(json.dumps({
        "mape_vs_noise_floor": round(sim["mape_vs_noise_floor"], 4),
        "elasticity_median_abs_error": round(sim["elasticity_median_abs_error"], 4),
        "revenue_vs_optimum": round(sim["revenue_vs_optimum"], 4),
        "revenue_vs_baseline": round(sim["revenue_vs_baseline"], 4),
        "tuna_mape": round(tuna["mape"], 4), "tuna_baseline_mape": round(tuna["baseline_mape"], 4),
        "cheese_mape": round(cheese["mape"], 4),
        "cheese_baseline_mape": round(cheese["baseline_mape"], 4),
    }))


if __name__ == "__main__":
    main()
