"""Budget planner: the free slots that maximise expected targeted attentive audience.

The binary integer programme

    maximise   sum_i audience_i x_i
    subject to sum_i price_i x_i <= budget
               sum_{i at location l} x_i <= cap_l      for each capped location l
               x_i in {0, 1}

is solved exactly, but not by handing all 16,800 slots of a week to HiGHS: rate-card
prices are proportional to audience, so thousands of slots tie on audience per price and
HiGHS (``scipy.optimize.milp``) then spends seconds in presolve and finds no plan at all.
Instead (a proven-equivalent reduction):

1. Slots that cannot be in any plan (booked, over the budget, no audience) are dropped.
2. The Lagrangian dual (budget price found by bisection, cap prices in closed form) gives
   an upper bound, a reduced cost per slot and, rounded down and topped up, a good plan.
3. Reduced-cost fixing: a slot whose reduced cost exceeds the bound's slack over that plan
   is in every better plan; one below minus the slack is in none. Only the remaining core
   (typically a few hundred slots) goes to ``milp``.

The runner-up is the best plan other than the optimum: the same steps with a no-good cut
excluding the optimal set. Each solve stops at a proven relative gap ``mip_rel_gap`` or at
its time limit; the gap reached (upper bound minus audience, over audience) is reported.
"""

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

CANDIDATE_COLUMNS = ("slot_id", "location_id", "start_time", "price", "targeted_audience")
BISECTION_STEPS = 40  # budget price to 1e-12 of its range: the bound is valid at any price
MIN_SOLVE_S = 0.25  # each of the two solves gets at least this long


class NoSlotFits(ValueError):
    """No free slot can be bought within the budget and caps; ``reason`` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SlotPlan:
    """A set of slots with its cost and expected targeted attentive audience."""

    slots: pa.Table
    total_cost: float
    total_audience: float

    @property
    def slot_ids(self) -> list:
        return self.slots.column("slot_id").to_pylist()

    @property
    def cost_per_thousand(self) -> float:
        """CPM: cost per thousand targeted attentive viewers."""
        return 1000.0 * self.total_cost / self.total_audience if self.total_audience else 0.0


@dataclass(frozen=True)
class OptimisedPlan:
    """The optimal plan, the runner-up (None if no other non-empty plan fits) and the gap."""

    best: SlotPlan
    runner_up: SlotPlan | None
    budget: float
    optimality_gap: float
    candidates_considered: int


@dataclass(frozen=True)
class _Knapsack:
    """Budget knapsack with per-location caps over the free slots."""

    price: npt.NDArray[np.float64]
    audience: npt.NDArray[np.float64]
    budget: float
    location: npt.NDArray[np.int64]  # dense location code per slot
    cap: npt.NDArray[np.float64]  # cap per location code (inf when uncapped)

    def caps_matrix(self, columns: npt.NDArray[np.int64]) -> tuple[csr_array, npt.NDArray]:
        """Cap rows (capped locations only) restricted to ``columns``."""
        capped = np.flatnonzero(np.isfinite(self.cap))
        row_of = np.full(self.cap.size, -1)
        row_of[capped] = np.arange(capped.size)
        rows = row_of[self.location[columns]]
        keep = rows >= 0
        matrix = csr_array(
            (np.ones(keep.sum()), (rows[keep], np.flatnonzero(keep))),
            shape=(capped.size, columns.size),
        )
        return matrix, self.cap[capped]

    def lagrangian(
        self, budget_price: float
    ) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Bound on any plan's audience, reduced costs and the slots they favour at one price.

        With the budget priced at ``budget_price`` per unit, each location's best cap price
        is its (cap + 1)-th largest net value (audience - budget_price x price, floored at 0),
        and every plan's audience is at most the resulting Lagrangian value (weak duality).
        """
        net = self.audience - budget_price * self.price
        order = np.lexsort((-net, self.location))
        sorted_location = self.location[order]
        first = np.searchsorted(sorted_location, np.arange(self.cap.size))
        rank = np.empty(net.size, dtype=np.int64)
        rank[order] = np.arange(net.size) - first[sorted_location]
        cap_price = np.zeros(self.cap.size)
        at_cap = rank == np.where(np.isfinite(self.cap), self.cap, np.inf)[self.location]
        cap_price[self.location[at_cap]] = net[at_cap]
        cap_price = cap_price.clip(0.0)
        reduced = net - cap_price[self.location]
        finite_caps = np.where(np.isfinite(self.cap), self.cap, 0.0)
        bound = budget_price * self.budget + cap_price @ finite_caps + reduced.clip(0.0).sum()
        favoured = (reduced > 0) & (rank < np.where(np.isfinite(self.cap), self.cap, np.inf)[
            self.location])
        return float(bound), reduced, favoured

    def relaxation(self) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Tightest Lagrangian (bisection on its slope) and a plan that fits budget and caps.

        The plan is the one favoured just above the best budget price: the LP solution with
        its fractional slots rounded down.
        """
        bound, reduced, favoured = self.lagrangian(0.0)
        if self.price[favoured].sum() <= self.budget:
            return bound, reduced, favoured  # the budget does not bind: the LP is integral
        low, high = 0.0, float(np.max(self.audience / self.price))
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (low + high)
            _, _, favoured = self.lagrangian(middle)
            if self.price[favoured].sum() > self.budget:
                low = middle
            else:
                high = middle
        low_result, high_result = self.lagrangian(low), self.lagrangian(high)
        bound, reduced, _ = min(low_result, high_result, key=lambda result: result[0])
        return bound, reduced, high_result[2]

    def fill(
        self, chosen: npt.NDArray[np.bool_], order: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Add slots in ``order`` while the budget and caps allow."""
        chosen = chosen.copy()
        left = self.budget - self.price[chosen].sum()
        used = np.bincount(self.location[chosen], minlength=self.cap.size)
        for slot in order:
            location = self.location[slot]
            fits = self.price[slot] <= left and used[location] < self.cap[location]
            if fits and not chosen[slot]:
                chosen[slot] = True
                left -= self.price[slot]
                used[location] += 1
        return chosen


@dataclass(frozen=True)
class _Solution:
    chosen: npt.NDArray[np.bool_]
    upper_bound: float


def _solve(
    problem: _Knapsack,
    bound: float,
    reduced: npt.NDArray[np.float64],
    incumbent: npt.NDArray[np.bool_],
    excluded: npt.NDArray[np.bool_] | None,
    mip_rel_gap: float,
    time_limit_s: float,
) -> _Solution:
    """Best plan (other than ``excluded``) by reduced-cost fixing plus MILP on the core.

    Any plan x satisfies audience(x) <= bound - sum of |reduced_i| over the slots where x
    departs from the LP's side of zero, so every plan at least as good as ``incumbent``
    keeps slots with reduced cost above the slack and drops those below minus the slack.
    Only the remaining core goes to the MILP, whose answer is then exact for the whole.
    """
    incumbent_audience = float(problem.audience[incumbent].sum())
    slack = bound - incumbent_audience + 1e-9 * max(bound, 1.0)
    fixed_in, core = reduced > slack, np.flatnonzero(np.abs(reduced) <= slack)
    if core.size == 0 or slack <= mip_rel_gap * bound:
        return _Solution(incumbent, bound if core.size else incumbent_audience)
    caps_matrix, caps = problem.caps_matrix(core)
    caps_used = np.bincount(problem.location[fixed_in], minlength=problem.cap.size)
    capped = np.isfinite(problem.cap)
    constraints = [
        LinearConstraint(
            csr_array(problem.price[core][None, :]),
            -np.inf,
            problem.budget - problem.price[fixed_in].sum(),
        )
    ]
    if caps.size:
        constraints.append(LinearConstraint(caps_matrix, 0.0, caps - caps_used[capped]))
    if excluded is not None:  # no-good cut: the core part must differ from excluded's
        in_excluded = excluded[core]
        constraints.append(
            LinearConstraint(
                csr_array(np.where(in_excluded, 1.0, -1.0)[None, :]),
                -np.inf,
                in_excluded.sum() - 1.0,
            )
        )
    # the gap asked for is relative to the whole plan; HiGHS measures it on the core alone
    core_bound = max(bound - float(problem.audience[fixed_in].sum()), 1e-12)
    result = milp(
        -problem.audience[core],
        integrality=np.ones(core.size),
        bounds=Bounds(0.0, 1.0),
        constraints=constraints,
        options={
            "mip_rel_gap": min(mip_rel_gap * bound / core_bound, 1.0),
            "time_limit": time_limit_s,
            "presolve": False,  # HiGHS presolve is quadratic on slots tied on audience per price
        },
    )
    if result.x is None:
        return _Solution(incumbent, bound)
    chosen = fixed_in.copy()
    chosen[core[result.x > 0.5]] = True
    audience = float(problem.audience[chosen].sum())
    core_upper = -result.fun * (1.0 + (result.mip_gap or 0.0))
    upper = min(bound, float(problem.audience[fixed_in].sum()) + core_upper)
    if audience < incumbent_audience:
        return _Solution(incumbent, upper)
    return _Solution(chosen, upper)


def _drop_weakest(problem: _Knapsack, solution: _Solution) -> npt.NDArray[np.bool_]:
    """The solution without its lowest-audience slot: a plan that differs from it."""
    chosen = solution.chosen.copy()
    members = np.flatnonzero(chosen)
    chosen[members[np.argmin(problem.audience[members])]] = False
    return chosen


def _plan(candidates: pa.Table, positions: npt.NDArray[np.int64]) -> SlotPlan:
    slots = candidates.take(pa.array(positions, type=pa.int64()))
    return SlotPlan(
        slots=slots,
        total_cost=float(pc.sum(slots.column("price")).as_py() or 0.0),
        total_audience=float(pc.sum(slots.column("targeted_audience")).as_py() or 0.0),
    )


def _free_candidates(
    candidates: pa.Table,
    budget: float,
    booked_slot_ids: Collection,
    location_caps: Mapping[object, int],
) -> pa.Table:
    """Slots that could be in some plan, or NoSlotFits naming why none could."""
    missing = [name for name in CANDIDATE_COLUMNS if name not in candidates.column_names]
    if missing:
        raise ValueError(f"candidate slots lack columns {missing}")
    if candidates.num_rows == 0:
        raise NoSlotFits("no_candidates", "no candidate slots in the requested range")
    booked = pa.array(list(booked_slot_ids), type=candidates.schema.field("slot_id").type)
    free = candidates.filter(pc.invert(pc.is_in(candidates.column("slot_id"), value_set=booked)))
    if free.num_rows == 0:
        raise NoSlotFits("all_booked", f"all {candidates.num_rows} candidate slots are booked")
    blocked = [location for location, cap in location_caps.items() if cap <= 0]
    if blocked:
        blocked_set = pa.array(blocked, type=candidates.schema.field("location_id").type)
        free = free.filter(pc.invert(pc.is_in(free.column("location_id"), value_set=blocked_set)))
        if free.num_rows == 0:
            raise NoSlotFits("caps_exclude_all", "every free slot is at a location capped at 0")
    free = free.filter(pc.greater(free.column("targeted_audience"), 0.0))
    if free.num_rows == 0:
        raise NoSlotFits("no_audience", "no free slot has a positive targeted audience")
    affordable = free.filter(pc.less_equal(free.column("price"), budget))
    if affordable.num_rows == 0:
        cheapest = pc.min(free.column("price")).as_py()
        raise NoSlotFits(
            "over_budget", f"the cheapest free slot costs {cheapest:.2f}, budget {budget:.2f}"
        )
    return affordable


def optimise_slots(
    candidates: pa.Table,
    budget: float,
    location_caps: Mapping[object, int] | None = None,
    booked_slot_ids: Collection = (),
    mip_rel_gap: float = 1e-6,
    time_limit_s: float = 1.2,
) -> OptimisedPlan:
    """Best plan and runner-up within ``budget``; candidates need CANDIDATE_COLUMNS.

    The solver stops at a proven relative gap of ``mip_rel_gap`` or when ``time_limit_s``
    (two thirds for the best plan, the rest for the runner-up) runs out, whichever is first;
    the gap reached is in ``OptimisedPlan.optimality_gap``.
    """
    deadline = time.perf_counter() + time_limit_s
    if not budget > 0:
        raise NoSlotFits("no_budget", f"the budget must be positive, got {budget}")
    caps = dict(location_caps or {})
    free = _free_candidates(candidates, budget, booked_slot_ids, caps)
    locations, location_code = np.unique(
        free.column("location_id").to_numpy(zero_copy_only=False), return_inverse=True
    )
    problem = _Knapsack(
        price=free.column("price").to_numpy().astype(np.float64),
        audience=free.column("targeted_audience").to_numpy().astype(np.float64),
        budget=float(budget),
        location=location_code.reshape(-1),
        cap=np.array([caps.get(location, np.inf) for location in locations], dtype=np.float64),
    )
    bound, reduced, favoured = problem.relaxation()
    # the Lagrangian's favoured plan (the LP solution rounded down), topped up by reduced cost
    greedy = problem.fill(favoured, np.argsort(-reduced, kind="stable"))
    best_time = max(2.0 * (deadline - time.perf_counter()) / 3.0, MIN_SOLVE_S)
    best = _solve(problem, bound, reduced, greedy, None, mip_rel_gap, best_time)
    runner_up_start = greedy if np.any(greedy != best.chosen) else _drop_weakest(problem, best)
    runner_up_time = max(deadline - time.perf_counter(), MIN_SOLVE_S)
    runner_up = _solve(
        problem, bound, reduced, runner_up_start, best.chosen, mip_rel_gap, runner_up_time
    )
    if problem.audience[runner_up.chosen].sum() > problem.audience[best.chosen].sum():
        best, runner_up = runner_up, best  # the time-limited first solve was not optimal
    best_audience = float(problem.audience[best.chosen].sum())
    return OptimisedPlan(
        best=_plan(free, np.flatnonzero(best.chosen)),
        runner_up=_plan(free, np.flatnonzero(runner_up.chosen)) if runner_up.chosen.any() else None,
        budget=budget,
        optimality_gap=max(best.upper_bound - best_audience, 0.0) / best_audience,
        candidates_considered=free.num_rows,
    )
