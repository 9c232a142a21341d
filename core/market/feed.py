"""Price points as stores would POST them, drawn from a simulated `Market`, with bad ones mixed in.

    feed = PriceFeed(market, bad_fraction=0.03, run_id="demo-1")
    for batch in feed.history(days=90):     # seeding: one record per product-location and day
        send(batch.records)                 # dicts (and injected non-objects) as a client POSTs
        batch.expected_reasons              # {position in batch: Reason} of each injected record
    for batch in feed.live(start=today):    # the demo: one batch per local store hour, endless
        ...
    for table in feed.tables(days=30):      # the good records only, as pyarrow Tables
        ...

Records follow core.ingest.records.PricePoint: prices in the store's currency (mostly USD,
some CAD and EUR), ISO 8601 timestamps with the city's zone offset, competitor prices by
name, margin and revenue consistent with price and cost, a unique `record_id` made of
`run_id` and a counter (give each run its own `run_id` so a restarted demo is not deduped).

Expected reasons assume what the region ingestors do: every batch of one feed goes, in
order, through the same IngestPipeline (one per region, or one for all). So price outliers
(50x the category's top list price) are injected only once the record's region and
category have `outlier_min_count` good records in earlier batches, and a duplicate repeats
an earlier good record of the same batch. Keep history batches at a few thousand records or
more: the pipeline's outlier band comes from the category's first accepted prices, and a
first batch of a few hundred can make that band too narrow for some good records.

Good records are built column-wise with numpy and turned into dicts in bulk (the per-record
loop runs in C); dict construction itself is most of the cost.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from core.config_files import load_config
from core.ingest.records import (
    COMPETITOR_PRICES_TYPE,
    FLOAT_FIELDS,
    INT_FIELDS,
    REQUIRED_FIELDS,
    Reason,
)
from core.ingest.reference import CurrencyConfig
from core.market.simulator import Market, MarketHistory

FIELDS = ("record_id", "product_id", "sku", "category_path", "description", "price", "cost",
          "margin", "discount_pct", "currency", "store_id", "region", "city", "postal_code",
          "timestamp", "units_sold", "revenue", "inventory_level", "competitor_prices")
COMPETITORS = ("valuemart", "shopwise", "costline", "greenbasket", "megasave")
CURRENCY_MIX = {"USD": 0.85, "CAD": 0.10, "EUR": 0.05}
OPENING_HOUR = 7
# Share of a day's sales in each store hour from 07:00 to 21:00: a lunch and an evening peak.
HOURLY_PROFILE = np.array([2, 3, 4, 5, 7, 9, 8, 6, 6, 7, 9, 10, 9, 8, 7], dtype=float)
HOURLY_PROFILE /= HOURLY_PROFILE.sum()
_REASONS = list(Reason)
TABLE_SCHEMA = pa.schema(
    [(name, COMPETITOR_PRICES_TYPE if name == "competitor_prices" else pa.float64()
      if name in FLOAT_FIELDS else pa.int64() if name in INT_FIELDS else pa.string())
     for name in FIELDS])


@dataclass(frozen=True)
class FeedBatch:
    """Records in sending order and, for each injected bad record, the reason it must get."""

    records: list[Any]
    expected_reasons: dict[int, Reason]


@dataclass(frozen=True)
class _Rows:
    """Which simulated (day, product-location) each record reports, when, and what it says."""

    day: np.ndarray  # index into the history's days
    pl: np.ndarray
    second_of_day: np.ndarray  # local time
    units: np.ndarray
    inventory: np.ndarray


class PriceFeed:
    """Turns a market's simulated days into batches of price-point records."""

    def __init__(self, market: Market, bad_fraction: float = 0.03, run_id: str | None = None,
                 outlier_min_count: int = 50, configs_dir: Path | None = None) -> None:
        self.market = market
        self.bad_fraction = bad_fraction
        self.run_id = run_id or f"sim{market.spec.seed}"
        self.outlier_min_count = outlier_min_count
        rng = np.random.default_rng([market.spec.seed, 10])
        stores, products = market.stores, market.products
        rates = load_config("currency", CurrencyConfig, configs_dir).rates
        codes = list(CURRENCY_MIX)
        self.store_currency = np.array(
            rng.choice(codes, len(stores), p=list(CURRENCY_MIX.values())), dtype=object)
        self.store_fx = np.array([rates[code] for code in self.store_currency])
        n_comp = market.spec.competitors_per_store
        self.store_competitors = np.array(
            [rng.choice(COMPETITORS, n_comp, replace=False) for _ in range(len(stores))],
            dtype=object)
        arrow_style = rng.random(len(stores)) < 0.3  # these stores write "Grocery > Canned"
        plain = products.category + "/" + products.subcategory
        fancy = np.array([f"{c.title()} > {s.replace('-', ' ').title()}"
                          for c, s in zip(products.category, products.subcategory, strict=True)],
                         dtype=object)
        self.category_path = np.where(arrow_style[market.store], fancy[market.product],
                                      plain[market.product])
        self.zone_names = sorted(set(stores.timezone))
        self.store_zone = np.array([self.zone_names.index(z) for z in stores.timezone])
        category_top = np.zeros(len(products.categories))
        np.maximum.at(category_top, market.category, market.ref_price)
        self.outlier_price_usd = 50.0 * category_top
        self.region_index = stores.region_index[market.store]
        self._good_counts = np.zeros(
            (int(stores.region_index.max()) + 1, len(products.categories)), dtype=np.int64)
        self._next_id = 0
        self._rng = np.random.default_rng([market.spec.seed, 11])

    def history(self, days: int = 90, start: date | None = None,
                batch_size: int = 20_000) -> Iterator[FeedBatch]:
        """One record per product-location and day, stamped near closing time (20:00-22:00
        local); records of a day come in random order, batches of `batch_size`."""
        return self._rebatch(self._daily_records(days, start), batch_size)

    def live(self, start: date | None = None) -> Iterator[FeedBatch]:
        """Endless: one batch per local store hour (07:00-21:00). Each product-location reports
        the units it sold in that hour (the day's sales split by a daily profile) whenever it
        sold something, and always at opening, so volume follows daily and weekly seasonality."""
        hours = len(HOURLY_PROFILE)
        for history in self.market.run(start):
            rng = np.random.default_rng([self.market.spec.seed, 12, int(history.day[0].view("i8"))])
            per_hour = rng.multinomial(history.units[0], HOURLY_PROFILE)
            stock = history.inventory_start[0][:, None] - np.cumsum(per_hour, axis=1)
            for hour in range(hours):
                pl = np.flatnonzero((per_hour[:, hour] > 0) | (hour == 0))
                second = (OPENING_HOUR + hour) * 3600 + rng.integers(0, 3600, len(pl))
                rows = _Rows(np.zeros(len(pl), dtype=np.int64), pl, second,
                             per_hour[pl, hour], stock[pl, hour])
                yield self._finish((self._records(history, rows), pl))

    def tables(self, days: int = 90, start: date | None = None,
               batch_size: int = 100_000) -> Iterator[pa.Table]:
        """The same good records as `history` (no bad ones), as Tables of the PricePoint
        fields (competitor_prices a map column); about `batch_size` rows each."""
        per_batch = max(1, batch_size // self.market.n_product_locations)
        for chunk in _chunks(self.market.run(start), days, per_batch):
            columns, competitors = self._columns(chunk, self._daily_rows(chunk))
            names, prices = competitors
            offsets = np.arange(0, names.size + 1, names.shape[1], dtype=np.int32)
            columns["competitor_prices"] = pa.MapArray.from_arrays(
                offsets, pa.array(names.reshape(-1), pa.string()),
                pa.array(prices.reshape(-1), pa.float64()))
            yield pa.table({name: columns[name] for name in FIELDS}, schema=TABLE_SCHEMA)

    def _daily_records(self, days: int, start: date | None
                       ) -> Iterator[tuple[list[Any], np.ndarray]]:
        for chunk in _chunks(self.market.run(start), days, 1):
            rows = self._daily_rows(chunk)
            yield self._records(chunk, rows), rows.pl

    def _daily_rows(self, history: MarketHistory) -> _Rows:
        """Each day's product-locations in a random order, stamped near closing time; the
        draws depend on the seed and the date only."""
        n_days, n_pl = history.units.shape
        order, second = [], []
        for d in range(n_days):
            rng = np.random.default_rng([self.market.spec.seed, 13, int(history.day[d].view("i8"))])
            order.append(d * n_pl + rng.permutation(n_pl))
            second.append(20 * 3600 + rng.integers(0, 7200, n_pl))
        day, pl = np.divmod(np.concatenate(order), n_pl)
        return _Rows(day, pl, np.concatenate(second), history.units[day, pl],
                     history.inventory_end[day, pl])

    def _columns(self, history: MarketHistory, rows: _Rows
                 ) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
        """Every PricePoint field as an array (strings as object arrays), competitors apart."""
        market, stores, products = self.market, self.market.stores, self.market.products
        store, product = market.store[rows.pl], market.product[rows.pl]
        fx = self.store_fx[store]
        price = np.round(history.price[rows.day, rows.pl] / fx, 2)
        cost = np.round(market.cost[rows.pl] / fx, 2)
        ids = map(str, range(self._next_id, self._next_id + len(rows.pl)))
        self._next_id += len(rows.pl)
        columns = {
            "record_id": np.array(list(map(f"{self.run_id}-".__add__, ids)), dtype=object),
            "product_id": products.product_id[product],
            "sku": products.sku[product],
            "category_path": self.category_path[rows.pl],
            "description": products.description[product],
            "price": price,
            "cost": cost,
            "margin": np.round((price - cost) / price, 4),
            "discount_pct": history.discount_pct[rows.day, rows.pl],
            "currency": self.store_currency[store],
            "store_id": stores.store_id[store],
            "region": stores.region[store],
            "city": stores.city[store],
            "postal_code": stores.postal_code[store],
            "timestamp": self._timestamps(history.day[rows.day], rows.second_of_day,
                                          self.store_zone[store]),
            "units_sold": rows.units.astype(np.int64),
            "revenue": np.round(price * rows.units, 2),
            "inventory_level": rows.inventory.astype(np.int64),
        }
        competitor_prices = np.round(history.competitor_prices[rows.day, rows.pl] / fx[:, None], 2)
        return columns, (self.store_competitors[store], competitor_prices)

    def _timestamps(self, day: np.ndarray, second: np.ndarray, zone: np.ndarray) -> np.ndarray:
        """ISO 8601 local times with the zone's UTC offset at that hour (DST-aware), put
        together from per-day, per-second and per-offset strings."""
        hour = day.astype(np.int64) * 24 + second // 3600
        keys, inverse = np.unique(hour * len(self.zone_names) + zone, return_inverse=True)
        offsets = [_utc_offset(self.zone_names[key % len(self.zone_names)],
                               np.datetime64(key // len(self.zone_names), "h"))
                   for key in keys.tolist()]
        days, day_index = np.unique(day, return_inverse=True)
        dates = np.array([f"{d}T" for d in days.tolist()], dtype=object)
        return (dates[day_index.reshape(-1)] + _clock_times()[second]
                + np.array(offsets, dtype=object)[inverse.reshape(-1)])

    def _records(self, history: MarketHistory, rows: _Rows) -> list[Any]:
        columns, (names, prices) = self._columns(history, rows)
        with _gc_paused():
            competitors = list(map(dict, map(zip, names.tolist(), prices.tolist())))
            values = [columns[name].tolist() for name in FIELDS[:-1]]
            return [  # a dict display is about 20% faster than dict(zip(FIELDS, row))
                {"record_id": rid, "product_id": pid, "sku": sku, "category_path": path,
                 "description": text, "price": price, "cost": cost, "margin": margin,
                 "discount_pct": discount, "currency": currency, "store_id": store,
                 "region": region, "city": city, "postal_code": postal, "timestamp": ts,
                 "units_sold": units, "revenue": revenue, "inventory_level": stock,
                 "competitor_prices": competitor}
                for (rid, pid, sku, path, text, price, cost, margin, discount, currency, store,
                     region, city, postal, ts, units, revenue, stock, competitor)
                in zip(*values, competitors, strict=True)
            ]

    def _rebatch(self, parts: Iterator[tuple[list[Any], np.ndarray]],
                 batch_size: int) -> Iterator[FeedBatch]:
        records: list[Any] = []
        pls: list[np.ndarray] = []
        for part, pl in parts:
            records.extend(part)
            pls.append(pl)
            while len(records) >= batch_size:
                pl_all = np.concatenate(pls)
                yield self._finish((records[:batch_size], pl_all[:batch_size]))
                records, pls = records[batch_size:], [pl_all[batch_size:]]
        if records:
            yield self._finish((records, np.concatenate(pls)))

    def _finish(self, part: tuple[list[Any], np.ndarray]) -> FeedBatch:
        """Corrupt `bad_fraction` of the records in place; remember the good ones' counts."""
        records, pl = part
        n = len(records)
        region, category = self.region_index[pl], self.market.category[pl]
        n_bad = int(round(n * self.bad_fraction))
        positions = np.sort(self._rng.choice(n, n_bad, replace=False))
        kinds = [_REASONS[k] for k in self._rng.permutation(np.arange(n_bad) % len(_REASONS))]
        draws = self._rng.random(n_bad).tolist()  # one uniform per bad record picks its variant
        good = np.ones(n, dtype=bool)
        expected: dict[int, Reason] = {}
        for position, kind, u in zip(positions.tolist(), kinds, draws, strict=True):
            if kind is Reason.OUTLIER_PRICE and (
                    self._good_counts[region[position], category[position]]
                    < self.outlier_min_count):
                kind = Reason.MISSING_FIELD
            if kind is Reason.DUPLICATE_RECORD_ID:
                earlier = np.flatnonzero(good[:position])
                if len(earlier) == 0:
                    kind = Reason.MISSING_FIELD
                else:
                    records[position] = dict(records[int(earlier[int(u * len(earlier))])])
            if kind is not Reason.DUPLICATE_RECORD_ID:
                records[position] = self._corrupt(kind, records[position], pl[position], u)
            good[position] = False
            expected[position] = kind
        np.add.at(self._good_counts, (region[good], category[good]), 1)
        return FeedBatch(records, expected)

    def _corrupt(self, kind: Reason, record: dict[str, Any], pl: int, u: float) -> Any:
        """A bad version of `record` that fails for `kind` first; `u` in [0, 1) picks how."""

        def pick(options: list[Any]) -> Any:
            return options[int(u * len(options))]

        bad = dict(record)
        match kind:
            case Reason.NOT_AN_OBJECT:
                return pick([None, f"price={record['price']}", 42, list(record.values())])
            case Reason.MISSING_FIELD:
                del bad[pick(list(REQUIRED_FIELDS))]
            case Reason.INVALID_TYPE:
                name, value = pick([("price", "n/a"), ("units_sold", 2.5), ("cost", True),
                                    ("store_id", ["x"]), ("competitor_prices", "cheap"),
                                    ("inventory_level", "lots")])
                bad[name] = value
            case Reason.INVALID_TIMESTAMP:
                ts = record["timestamp"]
                bad["timestamp"] = pick([f"{ts[:5]}02-30{ts[10:]}", f"not a time{ts[-6:]}"])
            case Reason.MISSING_TIMEZONE:
                bad["timestamp"] = record["timestamp"][:-6]
            case Reason.UNKNOWN_REGION:
                bad["region"] = pick(["atlantis", "north-pole"])
            case Reason.UNKNOWN_CITY:
                bad["city"] = pick(["Springfield", "Gotham"])
            case Reason.UNKNOWN_CATEGORY:
                bad["category_path"] = pick(["toys/lego", "Automotive > Tyres"])
            case Reason.UNKNOWN_CURRENCY:
                bad["currency"] = pick(["JPY", "XBT"])
            case Reason.NEGATIVE_QUANTITY:
                name, value = pick([("units_sold", -1 - record["units_sold"]),
                                    ("inventory_level", -5),
                                    ("revenue", -abs(record["revenue"]) - 1.0)])
                bad[name] = value
            case Reason.PRICE_NOT_ABOVE_COST:
                bad = _repriced(bad, round(record["cost"] * (1.0 - u / 2), 2))
            case Reason.DISCOUNT_OUT_OF_RANGE:
                bad["discount_pct"] = pick([100.0, 150.0, -10.0])
            case Reason.MARGIN_INCONSISTENT:
                bad["margin"] = round(record["margin"] + pick([0.2, -0.3]), 4)
            case Reason.OUTLIER_PRICE:
                fx = self.store_fx[self.market.store[pl]]
                top = self.outlier_price_usd[self.market.category[pl]]
                bad = _repriced(bad, round(top / fx, 2))
        return bad


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building many small dicts is about twice as fast without cyclic GC passes in between."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _repriced(record: dict[str, Any], price: float) -> dict[str, Any]:
    """The record at another price, its margin and revenue following."""
    return record | {"price": price, "margin": round((price - record["cost"]) / price, 4),
                     "revenue": round(price * record["units_sold"], 2)}


@cache
def _clock_times() -> np.ndarray:
    """"HH:MM:SS" for every second of a day."""
    return np.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)],
                    dtype=object)


def _utc_offset(zone: str, hour: np.datetime64) -> str:
    moment = datetime.fromisoformat(str(hour.astype("datetime64[s]")))
    minutes = int(moment.replace(tzinfo=ZoneInfo(zone)).utcoffset().total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _chunks(days: Iterator[MarketHistory], total: int, size: int) -> Iterator[MarketHistory]:
    """`total` days of a run, `size` days at a time."""
    days = islice(days, total)
    while chunk := list(islice(days, size)):
        yield MarketHistory.concat(chunk)

