"""A/B experiments: stores (or store-product pairs) in control (current pricing) or treatment
(dynaprice recommendations), assigned by a seeded hash and balanced within each region; per-arm
revenue, units and margin from the lake's price points; lift with a confidence interval and
the days needed to make it significant.

The statistic. The randomised unit is the unit of analysis (days of one store are not
independent draws, so unit-days would understate the variance). Each unit's daily figure
in the experiment is set against its own pre-period (`pre_days` before the start, all
units at status quo) so the large differences in store traffic cancel:

    rho_arm = sum over the arm's units of daily mean in the experiment
              / sum over the arm's units of daily mean in the pre-period
    lift    = rho_treatment / rho_control - 1          (revenue-weighted, like the truth)

A ratio of sums has no closed-form variance; linearised (the delta method) each unit
contributes e_i = (y_i - rho * b_i) / mean(b), so var(rho) = var(e) / n per arm. The CI is
Welch's t on log(1 + lift) with Satterthwaite's degrees of freedom: arms differ in size and
variance, and the log keeps the ratio's interval asymmetric and positive. Without pre-period
sales every b_i is 1 and this is Welch's t on per-unit daily means.

Days needed: a unit's mean residual has variance sigma_b^2 + sigma_w^2 / D (between units;
day-to-day within a unit, after the arm's daily ratio takes out common seasonality), both
estimated from the data; we solve for the D at which the target lift is significant at
`alpha` with `power`.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pydantic import BaseModel, Field, model_validator
from scipy import stats

from core.ingest.records import LAKE_SCHEMA
from core.lake import PRICE_POINTS, Lake

Unit = Literal["store", "store-product"]
Arm = Literal["control", "treatment"]
ARMS: tuple[Arm, ...] = ("control", "treatment")
METRICS = ("revenue", "units", "margin")
DEFAULT_KEY = "dynaprice:experiments"
PRICE_POINT_COLUMNS = ["product_id", "store_id", "region", "category", "ts", "price", "cost",
                       "units_sold"]


class ExperimentSpec(BaseModel):
    """What a pricing manager asks for."""

    name: str = Field(min_length=1, max_length=100)
    unit: Unit = "store"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    start: date = Field(description="first day of treatment pricing")
    end: date | None = Field(None, description="last day (default: open, report up to today)")
    pre_days: int = Field(28, ge=7, le=365, description="baseline days before the start")
    regions: list[str] | None = Field(None, max_length=50)
    categories: list[str] | None = Field(None, max_length=50,
                                         description="store-product units only")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        if self.categories and self.unit != "store-product":
            raise ValueError("categories need unit store-product")
        return self


class Experiment(ExperimentSpec):
    id: str
    created_by: str
    created_at: datetime
    assignment: dict[str, Arm] = Field(description="unit id -> arm (store-product: "
                                                   "STORE|PRODUCT)")
    balance: dict[str, dict[str, int]] = Field(description="region -> arm -> units")


def _hash(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest()[:8], "big")


def assign(units: list[tuple[str, str]], seed: int) -> dict[str, Arm]:
    """(unit id, region) -> arm: within each region, units ordered by a seeded hash alternate
    between the arms (the region's hash picks which arm goes first), so every region is
    balanced to within one unit and the same seed always gives the same split."""
    by_region: dict[str, list[str]] = {}
    for unit_id, region in units:
        by_region.setdefault(region, []).append(unit_id)
    out: dict[str, Arm] = {}
    for region, members in by_region.items():
        first = _hash(seed, f"region:{region}") % 2
        for rank, unit_id in enumerate(sorted(set(members), key=lambda u: _hash(seed, u))):
            out[unit_id] = ARMS[(rank + first) % 2]
    return out


def experiment_units(positions: pa.Table, spec: ExperimentSpec) -> list[tuple[str, str]]:
    """(unit id, region) of every unit the spec covers, from the lake's positions
    (product_id, store_id, region, category)."""
    rows = positions.select(["product_id", "store_id", "region", "category"]).to_pylist()
    rows = [r for r in rows if (spec.regions is None or r["region"] in spec.regions)
            and (spec.categories is None or r["category"] in spec.categories)]
    if spec.unit == "store":
        return sorted({(r["store_id"], r["region"]) for r in rows})
    return sorted({(f"{r['store_id']}|{r['product_id']}", r["region"]) for r in rows})


def create_experiment(spec: ExperimentSpec, units: list[tuple[str, str]], created_by: str,
                      now: datetime | None = None) -> Experiment:
    """ValueError when there are fewer than two units in some arm."""
    assignment = assign(units, spec.seed)
    balance: dict[str, dict[str, int]] = {}
    for unit_id, region in units:
        arms = balance.setdefault(region, {arm: 0 for arm in ARMS})
        arms[assignment[unit_id]] += 1
    per_arm = {arm: sum(b[arm] for b in balance.values()) for arm in ARMS}
    if min(per_arm.values()) < 2:
        raise ValueError(f"{len(units)} units: an experiment needs at least two per arm")
    return Experiment(**spec.model_dump(), id=uuid.uuid4().hex[:12], created_by=created_by,
                      created_at=now or datetime.now(UTC), assignment=assignment,
                      balance=balance)


class ExperimentStore:
    """Experiments in one Redis hash (name -> JSON): names are unique."""

    def __init__(self, client: Any, key: str = DEFAULT_KEY) -> None:
        self.client = client
        self.key = key

    def add(self, experiment: Experiment) -> bool:
        """False when an experiment of that name exists already."""
        return bool(self.client.hsetnx(self.key, experiment.name,
                                       experiment.model_dump_json()))

    def all(self) -> list[Experiment]:
        found = [Experiment.model_validate_json(v) for v in self.client.hvals(self.key)]
        return sorted(found, key=lambda e: e.created_at, reverse=True)

    def get(self, experiment_id: str) -> Experiment | None:
        return next((e for e in self.all() if e.id == experiment_id), None)


# ---- analysis --------------------------------------------------------------------------------


class Interval(BaseModel):
    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    se_log: float
    df: float


class ArmFigures(BaseModel):
    units_in_arm: int
    revenue: float
    units: float
    margin: float
    revenue_per_unit_day: float
    baseline_revenue_per_unit_day: float | None


class Power(BaseModel):
    target_lift: float | None
    alpha: float
    power: float
    days_needed: int | None = Field(description="None: not reachable with these units")
    days_remaining: int | None


class ExperimentReport(BaseModel):
    experiment_id: str
    name: str
    pre_period: tuple[date, date]
    period: tuple[date, date]
    days_observed: int
    normalised_by_pre_period: bool
    arms: dict[str, ArmFigures]
    lift: dict[str, Interval | None]
    power: Power
    method: str


def _daily(points: pa.Table, experiment: Experiment, first: date, days: int
           ) -> tuple[list[str], dict[str, np.ndarray]]:
    """Units in the assignment and their [unit, day] totals of each metric from `first`."""
    unit_ids = sorted(experiment.assignment)
    if experiment.unit == "store":
        keys = points["store_id"]
    else:
        keys = pc.binary_join_element_wise(points["store_id"], points["product_id"], "|")
    unit = pc.index_in(keys, value_set=pa.array(unit_ids)).to_numpy(zero_copy_only=False)
    day_number = pc.cast(pc.cast(points["ts"], pa.date32()), pa.int32()).to_numpy(
        zero_copy_only=False) - (first - date(1970, 1, 1)).days
    keep = ~np.isnan(unit.astype(float)) & (day_number >= 0) & (day_number < days)
    unit, day_number = unit[keep].astype(np.int64), day_number[keep]
    price = points["price"].to_numpy(zero_copy_only=False)[keep]
    cost = points["cost"].to_numpy(zero_copy_only=False)[keep]
    sold = points["units_sold"].to_numpy(zero_copy_only=False)[keep].astype(float)
    out = {}
    for name, values in (("revenue", price * sold), ("units", sold),
                         ("margin", (price - cost) * sold)):
        grid = np.zeros((len(unit_ids), days))
        np.add.at(grid, (unit, day_number), values)
        out[name] = grid
    return unit_ids, out


def _ratio_lift(pre: np.ndarray, during: np.ndarray, treated: np.ndarray,
                normalised: bool) -> tuple[Interval | None, dict[str, Any]]:
    """Lift of the treated units' ratio of sums over the controls', with a Welch CI."""
    base = pre.mean(axis=1) if normalised else np.ones(len(pre))
    mean = during.mean(axis=1)
    parts: dict[str, Any] = {}
    for arm, mask in (("control", ~treated), ("treatment", treated)):
        b, y = base[mask], mean[mask]
        rho = y.sum() / b.sum() if b.sum() > 0 else math.nan
        residual = (y - rho * b) / b.mean()
        # day-level residuals, the arm's daily ratio taking out common seasonality
        daily_rho = during[mask].sum(axis=0) / b.sum() if b.sum() > 0 else np.nan
        day_residual = (during[mask] - np.outer(b, daily_rho)) / b.mean()
        within = float(np.mean(np.var(day_residual, axis=1, ddof=1))) \
            if during.shape[1] > 1 else 0.0
        between = max(float(np.var(residual, ddof=1)) - within / during.shape[1], 0.0)
        parts[arm] = {"rho": rho, "var_log": np.var(residual, ddof=1) / len(y) / rho**2,
                      "n": len(y), "within": within, "between": between}
    control, treatment = parts["control"], parts["treatment"]
    if not all(np.isfinite(p["rho"]) and p["rho"] > 0 for p in parts.values()):
        return None, parts
    log_lift = math.log(treatment["rho"] / control["rho"])
    variance = control["var_log"] + treatment["var_log"]
    se = math.sqrt(variance)
    df = variance**2 / sum(p["var_log"] ** 2 / (p["n"] - 1) for p in parts.values()) \
        if variance > 0 else math.inf
    t = stats.t.ppf(0.975, df)
    p_value = float(2 * stats.t.sf(abs(log_lift) / se, df)) if se > 0 else 0.0
    return Interval(lift=math.expm1(log_lift), ci_low=math.expm1(log_lift - t * se),
                    ci_high=math.expm1(log_lift + t * se), p_value=p_value, se_log=se,
                    df=float(df)), parts


def days_needed(parts: dict[str, Any], target_lift: float, alpha: float = 0.05,
                power: float = 0.8) -> int | None:
    """Experiment days at which `target_lift` is significant (None: not with these units)."""
    if not target_lift or not math.isfinite(target_lift) or target_lift <= -1:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    allowed = (abs(math.log1p(target_lift)) / z) ** 2
    scale = {arm: p["n"] * p["rho"] ** 2 for arm, p in parts.items()}
    fixed = sum(p["between"] / scale[arm] for arm, p in parts.items())
    per_day = sum(p["within"] / scale[arm] for arm, p in parts.items())
    if fixed >= allowed:
        return None
    return max(1, math.ceil(per_day / (allowed - fixed)))


def experiment_price_points(lake: Lake, experiment: Experiment) -> pa.Table:
    """The lake's price points an experiment's report needs (from its pre-period on)."""
    first = experiment.start - timedelta(days=experiment.pre_days + 1)  # UTC vs local dates
    where = ds.field("date") >= first.isoformat()
    if experiment.regions:
        where = where & ds.field("region").isin(experiment.regions)
    return lake.read(PRICE_POINTS, PRICE_POINT_COLUMNS, where, LAKE_SCHEMA)


def analyse(experiment: Experiment, points: pa.Table, today: date,
            target_lift: float | None = None, alpha: float = 0.05,
            power: float = 0.8) -> ExperimentReport:
    """The report from price points (PRICE_POINT_COLUMNS) covering the pre-period and the
    experiment up to `today` (or its end)."""
    last = min(experiment.end or today, today)
    first_pre = experiment.start - timedelta(days=experiment.pre_days)
    total_days = (last - first_pre).days + 1
    unit_ids, daily = _daily(points, experiment, first_pre, max(total_days, 0))
    pre_days = experiment.pre_days
    days = max(total_days - pre_days, 0)
    treated = np.array([experiment.assignment[u] == "treatment" for u in unit_ids])
    normalised = bool(days) and bool(daily["revenue"][:, :pre_days].sum(axis=1).all())
    lift: dict[str, Interval | None] = {}
    parts: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        if days < 2:
            lift[metric] = None
            continue
        lift[metric], parts[metric] = _ratio_lift(
            daily[metric][:, :pre_days], daily[metric][:, pre_days:], treated, normalised)
    arms = {}
    for arm, mask in (("control", ~treated), ("treatment", treated)):
        during = {m: daily[m][mask, pre_days:] for m in METRICS}
        n = int(mask.sum())
        arms[arm] = ArmFigures(
            units_in_arm=n, **{m: round(float(during[m].sum()), 2) for m in METRICS},
            revenue_per_unit_day=round(float(during["revenue"].sum()) / max(n * days, 1), 4),
            baseline_revenue_per_unit_day=round(
                float(daily["revenue"][mask, :pre_days].sum()) / max(n * pre_days, 1), 4))
    revenue = lift["revenue"]
    target = target_lift if target_lift is not None else (revenue.lift if revenue else None)
    needed = days_needed(parts["revenue"], target, alpha, power) \
        if "revenue" in parts and target is not None else None
    return ExperimentReport(
        experiment_id=experiment.id, name=experiment.name,
        pre_period=(first_pre, experiment.start - timedelta(days=1)),
        period=(experiment.start, last), days_observed=days,
        normalised_by_pre_period=normalised, arms=arms, lift=lift,
        power=Power(target_lift=target, alpha=alpha, power=power, days_needed=needed,
                    days_remaining=None if needed is None else max(needed - days, 0)),
        method="ratio of per-unit daily means (experiment / pre-period) per arm; Welch t on "
               "log lift with delta-method variances; unit = randomised unit")

