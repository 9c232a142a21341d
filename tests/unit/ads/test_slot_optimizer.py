import itertools

import numpy as np
import pyarrow as pa
import pytest

from core.ads.slot_optimizer import NoSlotFits, optimise_slots


def make_slots(rng, count, locations=3, price_scale=10.0, proportional=False):
    audience = rng.uniform(50, 500, count).round(1)
    price = (audience * 0.05 if proportional else rng.uniform(1, price_scale, count)).round(2)
    return pa.table(
        {
            "slot_id": [f"s{i}" for i in range(count)],
            "location_id": [f"loc{i % locations}" for i in range(count)],
            "start_time": pa.array(
                np.datetime64("2024-06-03T00:00", "s") + np.arange(count) * 3600
            ),
            "price": price,
            "targeted_audience": audience,
        }
    )


def brute_force(slots, budget, caps=None, booked=()):
    """Best audience over every subset that respects the budget, caps and bookings."""
    rows = slots.to_pylist()
    free = [row for row in rows if row["slot_id"] not in set(booked)]
    best = 0.0
    for size in range(1, len(free) + 1):
        for subset in itertools.combinations(free, size):
            if sum(row["price"] for row in subset) > budget + 1e-9:
                continue
            per_location = {}
            for row in subset:
                per_location[row["location_id"]] = per_location.get(row["location_id"], 0) + 1
            if caps and any(per_location.get(loc, 0) > cap for loc, cap in caps.items()):
                continue
            best = max(best, sum(row["targeted_audience"] for row in subset))
    return best


def second_best(slots, budget, caps, best_ids):
    """Best audience over subsets other than best_ids (brute force)."""
    rows = slots.to_pylist()
    runner = 0.0
    for size in range(1, len(rows) + 1):
        for subset in itertools.combinations(rows, size):
            ids = {row["slot_id"] for row in subset}
            if ids == set(best_ids) or sum(row["price"] for row in subset) > budget + 1e-9:
                continue
            counts = {}
            for row in subset:
                counts[row["location_id"]] = counts.get(row["location_id"], 0) + 1
            if caps and any(counts.get(loc, 0) > cap for loc, cap in caps.items()):
                continue
            runner = max(runner, sum(row["targeted_audience"] for row in subset))
    return runner


def assert_feasible(plan, slots, budget, caps, booked):
    chosen = plan.slots
    assert plan.total_cost <= budget + 1e-9
    assert not set(plan.slot_ids) & set(booked)
    assert len(set(plan.slot_ids)) == len(plan.slot_ids)
    if caps:
        locations = chosen.column("location_id").to_pylist()
        for location, cap in caps.items():
            assert locations.count(location) <= cap


@pytest.mark.parametrize("seed", range(25))
def test_matches_brute_force_on_small_random_instances(seed):
    rng = np.random.default_rng(seed)
    slots = make_slots(rng, int(rng.integers(4, 11)), proportional=seed % 3 == 0)
    budget = float(rng.uniform(5, 40))
    caps = {"loc0": int(rng.integers(1, 3))} if seed % 2 else None
    booked = [f"s{i}" for i in rng.choice(slots.num_rows, 2, replace=False)] if seed % 4 else []
    try:
        plan = optimise_slots(slots, budget, location_caps=caps, booked_slot_ids=booked,
                              mip_rel_gap=0.0, time_limit_s=60.0)
    except NoSlotFits:
        assert brute_force(slots, budget, caps, booked) == 0.0
        return
    assert plan.best.total_audience == pytest.approx(brute_force(slots, budget, caps, booked))
    assert_feasible(plan.best, slots, budget, caps, booked)
    assert plan.optimality_gap == pytest.approx(0.0, abs=1e-6)
    if plan.runner_up is not None:
        assert_feasible(plan.runner_up, slots, budget, caps, booked)
        assert set(plan.runner_up.slot_ids) != set(plan.best.slot_ids)
        free = slots.filter(pa.compute.invert(pa.compute.is_in(
            slots.column("slot_id"), value_set=pa.array(booked, pa.string()))))
        assert plan.runner_up.total_audience == pytest.approx(
            second_best(free, budget, caps, plan.best.slot_ids))


def test_totals_and_cost_per_thousand():
    slots = make_slots(np.random.default_rng(1), 6)
    plan = optimise_slots(slots, 20.0)
    prices = dict(zip(slots.column("slot_id").to_pylist(), slots.column("price").to_pylist(),
                      strict=True))
    assert plan.best.total_cost == pytest.approx(sum(prices[i] for i in plan.best.slot_ids))
    assert plan.best.cost_per_thousand == pytest.approx(
        1000 * plan.best.total_cost / plan.best.total_audience)


def test_booked_slots_are_never_chosen():
    slots = make_slots(np.random.default_rng(2), 8)
    everything = optimise_slots(slots, 1e6)
    assert len(everything.best.slot_ids) == 8
    plan = optimise_slots(slots, 1e6, booked_slot_ids={"s0", "s5"})
    assert sorted(plan.best.slot_ids) == sorted(f"s{i}" for i in range(8) if i not in (0, 5))


def test_caps_limit_slots_per_location():
    slots = make_slots(np.random.default_rng(3), 12, locations=2)
    plan = optimise_slots(slots, 1e6, location_caps={"loc0": 2, "loc1": 0})
    assert plan.best.slots.column("location_id").to_pylist() == ["loc0", "loc0"]


@pytest.mark.parametrize(
    ("budget", "caps", "booked", "reason"),
    [
        (0.5, None, (), "over_budget"),
        (100.0, None, [f"s{i}" for i in range(5)], "all_booked"),
        (100.0, {"loc0": 0, "loc1": 0, "loc2": 0}, (), "caps_exclude_all"),
        (0.0, None, (), "no_budget"),
    ],
)
def test_raises_with_reason_when_nothing_fits(budget, caps, booked, reason):
    slots = make_slots(np.random.default_rng(4), 5)
    with pytest.raises(NoSlotFits) as error:
        optimise_slots(slots, budget, location_caps=caps, booked_slot_ids=booked)
    assert error.value.reason == reason


def test_raises_when_no_candidates():
    slots = make_slots(np.random.default_rng(5), 3).slice(0, 0)
    with pytest.raises(NoSlotFits, match="no_candidates"):
        optimise_slots(slots, 10.0)


def test_single_affordable_slot_has_no_runner_up():
    slots = make_slots(np.random.default_rng(6), 1)
    plan = optimise_slots(slots, 1e6)
    assert plan.best.slot_ids == ["s0"]
    assert plan.runner_up is None


def test_large_tied_instance_is_feasible_and_near_its_bound():
    """Prices proportional to audience tie on value per price: the hard case for a MILP."""
    rng = np.random.default_rng(7)
    slots = make_slots(rng, 2000, locations=20, proportional=True)
    budget = float(sum(slots.column("price").to_pylist()) * 0.1)
    caps = {f"loc{i}": 15 for i in range(20)}
    plan = optimise_slots(slots, budget, location_caps=caps, booked_slot_ids={"s1", "s2"})
    assert_feasible(plan.best, slots, budget, caps, {"s1", "s2"})
    assert plan.optimality_gap < 1e-3
    assert plan.runner_up.total_audience <= plan.best.total_audience
