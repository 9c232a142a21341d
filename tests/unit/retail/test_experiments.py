"""A/B experiments: the seeded assignment is balanced within regions, and on the simulated
market the measured lift agrees with the simulator's true lift within its interval (and
would not with the arms swapped)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest

from core.ingest.records import PARTITION_COLUMNS
from core.lake import PRICE_POINTS, Lake
from core.market.experiment import simulate_experiment
from core.market.simulator import Market, MarketSpec
from core.retail.experiments import (
    ExperimentSpec,
    analyse,
    assign,
    create_experiment,
    experiment_price_points,
)

START = date(2025, 3, 3)
TODAY = date(2025, 3, 30)  # 28 experiment days


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(MarketSpec(seed=3, products=12))


def _units(market: Market, unit: str) -> list[tuple[str, str]]:
    stores = list(zip(market.stores.store_id.tolist(), market.stores.region.tolist(),
                      strict=True))
    if unit == "store":
        return stores
    return [(f"{s}|{p}", r) for s, r in stores for p in market.products.product_id.tolist()]


def _treated(market: Market, assignment: dict[str, str], unit: str) -> np.ndarray:
    stores = market.stores.store_id[market.store]
    keys = stores if unit == "store" else [
        f"{s}|{p}" for s, p in zip(stores, market.products.product_id[market.product],
                                   strict=True)]
    return np.array([assignment[k] == "treatment" for k in keys])


def test_assignment_is_seeded_and_balanced_within_regions(market):
    units = _units(market, "store-product")
    first, again, other = assign(units, 5), assign(units, 5), assign(units, 6)
    assert first == again and first != other
    per_region = Counter((region, first[unit]) for unit, region in units)
    for region in {r for _, r in units}:
        assert abs(per_region[(region, "treatment")] - per_region[(region, "control")]) <= 1


@pytest.mark.parametrize("unit", ["store", "store-product"])
def test_measured_lift_matches_the_simulator_truth(market, tmp_path, unit):
    spec = ExperimentSpec(name="optimal vs status quo", unit=unit, seed=1, start=START)
    experiment = create_experiment(spec, _units(market, unit), "test")
    run = simulate_experiment(market, _treated(market, experiment.assignment, unit), START,
                              spec.pre_days, days=28, seed=1)
    lake = Lake.open(str(tmp_path / "lake"))
    lake.write_partitioned(run.price_points, PRICE_POINTS, PARTITION_COLUMNS)
    points = experiment_price_points(lake, experiment)
    report = analyse(experiment, points, TODAY)
    revenue = report.lift["revenue"]
    print(f"{unit}: true lift {run.true_lift:.4f}, measured {revenue.lift:.4f} "
          f"[{revenue.ci_low:.4f}, {revenue.ci_high:.4f}], days needed "
          f"{report.power.days_needed}")
    assert report.days_observed == 28 and report.normalised_by_pre_period
    assert revenue.ci_low <= run.true_lift <= revenue.ci_high
    assert revenue.p_value < 0.05 and report.power.days_needed is not None
    assert report.arms["treatment"].revenue_per_unit_day > \
        report.arms["control"].revenue_per_unit_day * (1 + revenue.ci_low) * 0.5

    swapped = experiment.model_copy(update={"assignment": {
        k: "control" if arm == "treatment" else "treatment"
        for k, arm in experiment.assignment.items()}})
    wrong = analyse(swapped, points, TODAY).lift["revenue"]
    assert not wrong.ci_low <= run.true_lift <= wrong.ci_high


def test_smaller_lifts_need_more_days(market):
    spec = ExperimentSpec(name="power", seed=2, start=START)
    experiment = create_experiment(spec, _units(market, "store"), "test")
    run = simulate_experiment(market, _treated(market, experiment.assignment, "store"), START,
                              spec.pre_days, days=14, seed=2)
    short = date(2025, 3, 16)
    needed = {target: analyse(experiment, run.price_points, short, target_lift=target)
              .power.days_needed for target in (0.2, 0.07, 0.01)}
    assert needed[0.2] is not None and needed[0.07] is not None
    assert needed[0.2] < needed[0.07]
    assert needed[0.01] is None or needed[0.01] > needed[0.07]


def test_too_few_units_is_refused():
    with pytest.raises(ValueError, match="two per arm"):
        create_experiment(ExperimentSpec(name="x", start=START), [("a", "r"), ("b", "r")], "t")
