"""A seeded market of stores x products x days whose true demand is known.

Every store carries every product; a product-location (`pl`, an int index, equal to
`store * n_products + product`) has a constant-elasticity demand curve:

    E[demand] = base_demand * (price / ref_price) ** elasticity
                * (competitor_min_price / ref_price) ** cross_elasticity
                * weekly(category, urban, weekday) * yearly(category, day of year)
                * holiday(category, day) * promo_uplift(category) [on promotion days]

Own-price elasticities are drawn per category between about -0.6 and -3.6, plus a little
product-location variation (clipped to [-4, -0.5]). Demand is negative-binomial around that
mean; units sold are capped by the stock on hand, replenished every few days to an
order-up-to level. Competitors' prices follow a mean-reverting walk around the reference
price with occasional level moves. The store's own policy charges a fixed baseline price
(`ref_price`) with daily price experiments on a ladder of +-10% and +-20% around it (so
elasticity is identifiable) and promotion weeks (a discount plus a display uplift).

    market = Market(MarketSpec(seed=7))
    history = market.simulate(days=90)              # MarketHistory: arrays [day, pl]
    market.expected_units(pl, price, day, competitor_price)
    market.optimal_price(pl, day, competitor_price, PriceRules())
    noise_floor_mape(history)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from functools import cached_property
from itertools import islice
from pathlib import Path

import holidays
import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike
from scipy import stats

from core.config_files import load_config
from core.ingest.reference import CategoriesConfig, LocationsConfig
from core.market.catalog import Products, Stores, build_products, build_stores

DayLike = np.ndarray | date | str | list
_WEEKLY_SHAPE = np.array([0.90, 0.86, 0.90, 0.96, 1.10, 1.24, 1.04])  # Monday .. Sunday
_HOLIDAY_LEAD_DAYS = 2  # uplift on the holiday and the days before it


@dataclass(frozen=True)
class MarketSpec:
    """The knobs of a simulated market; the same spec always yields the same market."""

    seed: int = 0
    start: date = date(2025, 1, 6)
    stores_per_city: int = 2
    products: int = 40
    dispersion: float | None = 40.0  # negative-binomial size; None means Poisson
    experiment_width: float = 0.2  # regular prices: ref_price * one of 1-w, 1-w/2, 1, 1+w/2, 1+w
    promo_week_rate: float = 0.06  # chance a product runs a promotion in a region in a week
    replenish_every_days: int = 3
    competitors_per_store: int = 2


@dataclass(frozen=True)
class PriceRules:
    """Business rules bounding a price; the minimum margin wins when rules conflict."""

    min_margin: float = 0.10  # price >= cost / (1 - min_margin)
    max_discount: float = 0.30  # price >= ref_price * (1 - max_discount)
    max_premium: float = 0.30  # price <= ref_price * (1 + max_premium)
    competitor_band: float | None = 0.20  # price within competitor_min_price * (1 +- band)


@dataclass(frozen=True)
class MarketHistory:
    """Simulated days: `day` is [n_days]; every other array is [n_days, n_pl] (competitor
    prices [n_days, n_pl, competitors]). Prices are USD."""

    day: np.ndarray
    price: np.ndarray
    discount_pct: np.ndarray
    promo: np.ndarray
    competitor_prices: np.ndarray
    expected_demand: np.ndarray  # the true mean demand at the day's prices
    expected_sales: np.ndarray  # E[min(demand, stock on hand)]
    units: np.ndarray  # units sold
    inventory_start: np.ndarray
    inventory_end: np.ndarray

    @property
    def competitor_min_price(self) -> np.ndarray:
        return self.competitor_prices.min(axis=-1)

    @property
    def stockout(self) -> np.ndarray:
        return self.inventory_end == 0

    @classmethod
    def concat(cls, parts: list[MarketHistory]) -> MarketHistory:
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})


def as_days(day: DayLike) -> np.ndarray:
    """Dates, ISO strings or datetime64 values as a datetime64[D] array."""
    return np.asarray(day, dtype="datetime64[D]")


def _weekday(days: np.ndarray) -> np.ndarray:
    return (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def _monday_week(days: np.ndarray) -> np.ndarray:
    return (days.astype(np.int64) + 3) // 7


class Market:
    """The static world (stores, products, true demand parameters) and its day-by-day dynamics.

    Per product-location arrays (index `pl`): `store`, `product`, `ref_price` (the baseline
    price the store charges), `cost`, `base_demand`, `elasticity`, `cross_elasticity`.
    """

    def __init__(self, spec: MarketSpec | None = None, configs_dir: Path | None = None) -> None:
        self.spec = spec = spec or MarketSpec()
        rng = np.random.default_rng([spec.seed, 0])
        self.stores: Stores = build_stores(
            load_config("locations", LocationsConfig, configs_dir), spec.stores_per_city, rng)
        self.products: Products = build_products(
            load_config("categories", CategoriesConfig, configs_dir), spec.products, rng)
        n_cat = len(self.products.categories)
        self.store = np.repeat(np.arange(len(self.stores)), len(self.products))
        self.product = np.tile(np.arange(len(self.products)), len(self.stores))
        self.category = self.products.category_index[self.product]
        n_pl = len(self.store)

        # Category-level truth.
        self.category_elasticity = rng.permutation(np.linspace(-0.6, -3.6, n_cat))
        self.category_elasticity += rng.uniform(-0.2, 0.2, n_cat)
        shape = _WEEKLY_SHAPE * rng.normal(1.0, 0.04, (n_cat, 1, 7))
        weekly = shape ** np.array([1.4, 1.0])[None, :, None]  # [category, urban, weekday]
        self.weekly = weekly / weekly.mean(axis=2, keepdims=True)  # rural stores sway more
        self.yearly_amplitude = rng.uniform(0.05, 0.3, n_cat)
        self.yearly_peak_doy = rng.uniform(0, 365, n_cat)
        self.holiday_uplift = rng.uniform(1.15, 1.6, n_cat)
        self.promo_uplift = rng.uniform(1.1, 1.3, n_cat)

        # Product-location truth.
        self.ref_price = np.round(
            self.products.list_price[self.product] * rng.uniform(0.97, 1.03, n_pl), 2)
        self.cost = self.products.unit_cost[self.product]
        urban = self.stores.urban[self.store]
        self.base_demand = np.maximum(
            3.0, rng.lognormal(np.log(20.0), 0.45, n_pl) * self.stores.traffic[self.store])
        self.elasticity = np.clip(
            self.category_elasticity[self.category] + rng.normal(0, 0.12, n_pl), -4.0, -0.5)
        self.cross_elasticity = rng.uniform(0.2, 0.6, n_pl) * np.where(urban, 1.5, 1.0)
        peak = self.weekly.max(axis=(1, 2))[self.category] * (1 + self.yearly_amplitude)[
            self.category]
        self.order_up_to = np.ceil(
            1.5 * self.base_demand * peak * spec.replenish_every_days).astype(np.int64)
        self.replenish_phase = rng.integers(0, spec.replenish_every_days, len(self.stores))
        self.competitor_level = rng.normal(0.0, 0.06, (n_pl, spec.competitors_per_store))

    @property
    def n_product_locations(self) -> int:
        return len(self.store)

    def product_location(self, product_id: ArrayLike, store_id: ArrayLike) -> np.ndarray:
        """The `pl` index of each (product_id, store_id) pair, as records and the lake name
        them; KeyError for ids this market does not have."""
        products, stores = self._id_index
        product = [products[p] for p in np.atleast_1d(product_id).tolist()]
        store = [stores[s] for s in np.atleast_1d(store_id).tolist()]
        return np.asarray(store, dtype=np.int64) * len(self.products) + np.asarray(product)

    @cached_property
    def _id_index(self) -> tuple[dict[str, int], dict[str, int]]:
        return ({p: i for i, p in enumerate(self.products.product_id.tolist())},
                {s: i for i, s in enumerate(self.stores.store_id.tolist())})

    @cached_property
    def _holiday_days(self) -> np.ndarray:
        years = range(self.spec.start.year - 2, self.spec.start.year + 12)
        return np.array(sorted(holidays.US(years=years)), dtype="datetime64[D]")

    def holiday_factor(self, category: np.ndarray, days: np.ndarray) -> np.ndarray:
        """The uplift on US holidays and the days leading up to them, 1 elsewhere."""
        near = np.zeros(days.shape, dtype=bool)
        for lead in range(_HOLIDAY_LEAD_DAYS + 1):
            near |= np.isin(days + lead, self._holiday_days)
        return np.where(near, self.holiday_uplift[category], 1.0)

    def seasonality(self, pl: ArrayLike, day: DayLike) -> np.ndarray:
        """Weekly x yearly x holiday multiplier of demand for each (pl, day)."""
        pl, days = np.broadcast_arrays(np.asarray(pl), as_days(day))
        category = self.category[pl]
        urban = self.stores.urban[self.store[pl]].astype(np.int64)
        doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
        yearly = 1 + self.yearly_amplitude[category] * np.cos(
            2 * np.pi * (doy - self.yearly_peak_doy[category]) / 365.25)
        return (self.weekly[category, urban, _weekday(days)] * yearly
                * self.holiday_factor(category, days))

    def expected_units(self, pl: ArrayLike, price: ArrayLike, day: DayLike,
                       competitor_price: ArrayLike, promo: ArrayLike = False) -> np.ndarray:
        """True mean demand (units/day) at `price` (USD) given the lowest competitor price.

        Arguments broadcast together; `promo` adds the category's promotion uplift.
        """
        pl = np.asarray(pl)
        ref = self.ref_price[pl]
        own = (np.asarray(price, dtype=float) / ref) ** self.elasticity[pl]
        cross = (np.asarray(competitor_price, dtype=float) / ref) ** self.cross_elasticity[pl]
        uplift = np.where(promo, self.promo_uplift[self.category[pl]], 1.0)
        return self.base_demand[pl] * own * cross * uplift * self.seasonality(pl, day)

    def price_bounds(self, pl: ArrayLike, competitor_price: ArrayLike,
                     rules: PriceRules) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest price the rules allow (USD)."""
        pl = np.asarray(pl)
        ref, comp = self.ref_price[pl], np.asarray(competitor_price, dtype=float)
        floor = self.cost[pl] / (1 - rules.min_margin)
        low = np.maximum(floor, ref * (1 - rules.max_discount))
        high = ref * (1 + rules.max_premium)
        if rules.competitor_band is not None:
            low = np.maximum(low, comp * (1 - rules.competitor_band))
            high = np.minimum(high, comp * (1 + rules.competitor_band))
        high = np.maximum(high, floor)
        return np.minimum(low, high), high

    def optimal_price(self, pl: ArrayLike, day: DayLike, competitor_price: ArrayLike,
                      rules: PriceRules | None = None, candidates: int = 201) -> np.ndarray:
        """The revenue-maximising price within the rules, searched over a grid of candidates."""
        pl, days, comp = np.broadcast_arrays(np.asarray(pl), as_days(day),
                                             np.asarray(competitor_price, dtype=float))
        low, high = self.price_bounds(pl, comp, rules or PriceRules())
        grid = low[..., None] + (high - low)[..., None] * np.linspace(0.0, 1.0, candidates)
        revenue = grid * self.expected_units(pl[..., None], grid, days[..., None], comp[..., None])
        best = np.argmax(revenue, axis=-1)[..., None]
        return np.take_along_axis(grid, best, axis=-1)[..., 0]

    def simulate(self, days: int, start: date | None = None) -> MarketHistory:
        """`days` consecutive days from `start` (default: the spec's start)."""
        return MarketHistory.concat(list(islice(self.run(start), days)))

    def run(self, start: date | None = None) -> Iterator[MarketHistory]:
        """Endless day-by-day simulation (one-day histories); stock and competitors carry over.

        Each day's random draws depend only on the seed and the date, so the same day comes
        out the same in every run that starts on the same date.
        """
        spec = self.spec
        day = as_days(start or spec.start)
        walk_rng = np.random.default_rng([spec.seed, 1, int(day.astype(np.int64))])
        level = self.competitor_level.copy()
        offset = level + walk_rng.normal(0, 0.03, level.shape)
        stock = self.order_up_to.copy()
        while True:
            rng = np.random.default_rng([spec.seed, 2, int(day.astype(np.int64))])
            moves = rng.random(level.shape) < 0.02
            level = np.clip(level + moves * rng.normal(0, 0.08, level.shape), -0.25, 0.25)
            offset = level + 0.8 * (offset - level) + rng.normal(0, 0.015, level.shape)
            competitor = np.round(self.ref_price[:, None] * np.exp(offset), 2)

            promo, discount = self._promotions(day)
            ladder = 1 + spec.experiment_width * np.linspace(-1.0, 1.0, 5)
            experiment = rng.choice(ladder, len(self.store))
            price = np.round(self.ref_price * np.where(promo, 1 - discount, experiment), 2)

            delivery = (int(day.astype(np.int64)) + self.replenish_phase[self.store]) % \
                spec.replenish_every_days == 0
            stock = np.where(delivery, np.maximum(stock, self.order_up_to), stock)
            pl = np.arange(len(self.store))
            mean = self.expected_units(pl, price, day, competitor.min(axis=1), promo)
            demand = self._draw_demand(rng, mean)
            units = np.minimum(demand, stock)
            yield MarketHistory(
                day=day[None], price=price[None],
                discount_pct=np.round(discount * 100 * promo, 1)[None],
                promo=promo[None], competitor_prices=competitor[None],
                expected_demand=mean[None],
                expected_sales=self._expected_capped(mean, stock)[None],
                units=units[None], inventory_start=stock[None],
                inventory_end=(stock - units)[None],
            )
            stock = stock - units
            day = day + 1

    def _promotions(self, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which product-locations are on promotion this day, and at what discount (0-1)."""
        rng = np.random.default_rng([self.spec.seed, 3, int(_monday_week(day))])
        shape = (len(self.products), int(self.stores.region_index.max()) + 1)
        on = rng.random(shape) < self.spec.promo_week_rate
        discount = rng.choice([0.10, 0.15, 0.20, 0.25], shape)
        region = self.stores.region_index[self.store]
        return on[self.product, region], np.where(on, discount, 0.0)[self.product, region]

    def _draw_demand(self, rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
        size = self.spec.dispersion
        if size is None:
            return rng.poisson(mean)
        return rng.negative_binomial(size, size / (size + mean))

    def _expected_capped(self, mean: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """E[min(demand, cap)], exact: E[D; D > c] = mean * P(D' >= c) where D' is the same
        law with size + 1 (Poisson: the same law), so
        E[min(D, c)] = mean - mean * P(D' > c - 1) + c * P(D > c)."""
        size = self.spec.dispersion
        sd = np.sqrt(mean + (0 if size is None else mean**2 / size))
        out = mean.astype(float).copy()
        risky = np.flatnonzero(mean + 8 * sd + 3 > cap)
        m, c = mean[risky], cap[risky]
        if size is None:
            above, shifted_above = stats.poisson.sf(c, m), stats.poisson.sf(c - 1, m)
        else:
            p = size / (size + m)
            above, shifted_above = stats.nbinom.sf(c, size, p), stats.nbinom.sf(c - 1, size + 1, p)
        out[risky] = m - m * shifted_above + c * above
        return out

    def truth_table(self, history: MarketHistory) -> pa.Table:
        """One row per (day, product-location): ids, prices, outcomes and the true parameters."""
        n_days, n_pl = history.price.shape
        pl = np.tile(np.arange(n_pl), n_days)
        store, product = self.store[pl], self.product[pl]
        flat = {f.name: getattr(history, f.name).reshape(-1)
                for f in fields(history) if f.name not in ("day", "competitor_prices")}
        return pa.table({
            "date": np.repeat(history.day, n_pl),
            "pl": pl,
            "product_id": self.products.product_id[product],
            "store_id": self.stores.store_id[store],
            "region": self.stores.region[store],
            "city": self.stores.city[store],
            "urban": self.stores.urban[store],
            "category": self.products.category[product],
            "subcategory": self.products.subcategory[product],
            "ref_price": self.ref_price[pl],
            "cost": self.cost[pl],
            "competitor_min_price": history.competitor_min_price.reshape(-1),
            **flat,
            "elasticity": self.elasticity[pl],
            "cross_elasticity": self.cross_elasticity[pl],
        })


def noise_floor_mape(history: MarketHistory, start: DayLike | None = None,
                     end: DayLike | None = None) -> float:
    """MAPE of the true expected sales against units sold, per product-location and
    Monday-based week, over days in [start, end); weeks that sold nothing are skipped."""
    keep = np.ones(len(history.day), dtype=bool)
    if start is not None:
        keep &= history.day >= as_days(start)
    if end is not None:
        keep &= history.day < as_days(end)
    week = _monday_week(history.day[keep])
    _, week_index = np.unique(week, return_inverse=True)
    n_weeks = int(week_index.max()) + 1
    n_pl = history.units.shape[1]
    actual = np.zeros((n_weeks, n_pl))
    truth = np.zeros((n_weeks, n_pl))
    np.add.at(actual, week_index, history.units[keep])
    np.add.at(truth, week_index, history.expected_sales[keep])
    sold = actual > 0
    return float(np.mean(np.abs(actual[sold] - truth[sold]) / actual[sold]))
