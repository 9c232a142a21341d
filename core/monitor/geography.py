"""Geographic anomaly: a store's price far from the median of nearby stores' prices."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.alerts import AlertKind
from core.monitor.config import GeoConfig
from core.monitor.rows import (
    ABSENT_TS,
    MICROS_PER_HOUR,
    Description,
    Finding,
    KeyIndex,
    Rows,
    grown,
    severity_for,
)

NO_PLACE = -1


class GeoAnomalyRule:
    """Latest price per product and store. Stores are judged once per batch, after the whole
    batch is in, so a chain-wide change arriving in one batch does not flag its first stores.
    Nearby = same product, same region and (same city or same postal prefix): each such
    neighbourhood is a place id, and a store's peers are the stores sharing one of its two."""

    def __init__(self, config: GeoConfig, keys: KeyIndex) -> None:
        self.config = config
        self.keys = keys
        self.freshness_us = int(config.freshness_hours * MICROS_PER_HOUR)
        self.places = KeyIndex()  # (product, region, "city" | "postal", name)
        self.ts = np.empty(0, np.int64)
        self.price = np.empty(0, np.float64)
        self.city = np.empty(0, np.int64)
        self.postal = np.empty(0, np.int64)

    def _place_ids(self, kind: str, product: list[str], region: list, names: list) -> np.ndarray:
        """Place ids of (product, region, name) neighbourhoods; NO_PLACE where name is empty."""
        ids = np.full(len(names), NO_PLACE, dtype=np.int64)
        named = [i for i, name in enumerate(names) if name]
        ids[named] = self.places.lookup((product[i], region[i], kind, names[i]) for i in named)
        return ids

    def observe(self, rows: Rows) -> list[Finding]:
        """Take the batch's latest prices, then judge every product-location it updated."""
        size = len(self.keys)
        self.ts = grown(self.ts, size, ABSENT_TS)
        self.price = grown(self.price, size, np.nan)
        self.city = grown(self.city, size, NO_PLACE)
        self.postal = grown(self.postal, size, NO_PLACE)
        accepted = np.flatnonzero(rows.ts >= self.ts[rows.key])  # late rows change nothing
        if len(accepted) == 0:
            return []
        order = accepted[np.argsort(rows.key[accepted], kind="stable")]
        last = order[np.append(rows.key[order][1:] != rows.key[order][:-1], True)]
        key = rows.key[last]
        prefix_len = self.config.postal_prefix_len
        product = [rows.product[i] for i in last.tolist()]
        region = [rows.region[i] for i in last.tolist()]
        self.ts[key] = rows.ts[last]
        self.price[key] = rows.price[last]
        self.city[key] = self._place_ids("city", product, region,
                                         [rows.city[i] for i in last.tolist()])
        self.postal[key] = self._place_ids(
            "postal", product, region,
            [(rows.postal_code[i] or "")[:prefix_len] for i in last.tolist()])
        return self._judge(rows, last, key)

    def _judge(self, rows: Rows, last: np.ndarray, key: np.ndarray) -> list[Finding]:
        """Median of each judged key's fresh peers; findings beyond the threshold."""
        judged_places = np.concatenate([self.city[key], self.postal[key]])
        member_place = np.concatenate([self.city, self.postal])
        member_key = np.tile(np.arange(len(self.ts)), 2)
        relevant = (member_place != NO_PLACE) & np.isin(member_place, judged_places)
        member_place, member_key = member_place[relevant], member_key[relevant]
        by_place = np.argsort(member_place, kind="stable")
        member_place, member_key = member_place[by_place], member_key[by_place]
        # every (judged, peer) through either place, each peer once
        judged_of = np.tile(np.arange(len(key)), 2)
        lo = np.searchsorted(member_place, judged_places, "left")
        hi = np.searchsorted(member_place, judged_places, "right")
        counts = np.where(judged_places != NO_PLACE, hi - lo, 0)
        pair_judged = np.repeat(judged_of, counts)
        peer = member_key[np.repeat(lo, counts) + (
            np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))]
        pair = np.unique(pair_judged * len(self.ts) + peer)
        pair_judged, peer = pair // len(self.ts), pair % len(self.ts)
        fresh = (peer != key[pair_judged]) & (
            self.ts[peer] >= self.ts[key][pair_judged] - self.freshness_us)
        pair_judged, peer_price = pair_judged[fresh], self.price[peer[fresh]]
        by_price = np.lexsort((peer_price, pair_judged))
        pair_judged, peer_price = pair_judged[by_price], peer_price[by_price]
        peers = np.bincount(pair_judged, minlength=len(key))
        enough = np.flatnonzero(peers >= self.config.min_peers)
        first = np.searchsorted(pair_judged, enough, "left")
        middle = first + peers[enough] // 2
        median = np.where(peers[enough] % 2 == 1, peer_price[middle],
                          (peer_price[middle - 1] + peer_price[middle]) / 2)
        own = self.price[key[enough]]
        deviation_pct = (own / median - 1.0) * 100.0
        hits = np.abs(deviation_pct) > self.config.threshold_pct
        return [
            self._finding(rows, row, price, peer_median, deviation, count)
            for row, price, peer_median, deviation, count in zip(
                last[enough][hits].tolist(), own[hits].tolist(), median[hits].tolist(),
                deviation_pct[hits].tolist(), peers[enough][hits].tolist(), strict=True)
        ]

    def _finding(self, rows: Rows, row: int, price: float, peer_median: float,
                 deviation_pct: float, peers: int) -> Finding:
        side = "above" if deviation_pct > 0 else "below"
        return Finding(
            row, 0, AlertKind.GEO_ANOMALY, severity_for(deviation_pct, self.config.critical_pct),
            f"geo_anomaly:{rows.product[row]}:{rows.store[row]}:{side}", self,
            (side, price, peer_median, deviation_pct, peers))

    def describe(self, finding: Finding) -> Description:
        side, price, peer_median, deviation_pct, peers = finding.facts
        return Description(
            evidence={"price": price, "peer_median_price": peer_median,
                      "deviation_pct": round(deviation_pct, 4), "peers": float(peers)},
            action=(
                f"{abs(deviation_pct):.1f}% {side} the median of {peers} nearby stores "
                f"({peer_median:.2f}): check the shelf price."
            ),
            suggested_price=round(peer_median, 2),
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget store prices too old to be anyone's peer for rows at or after `oldest_row_us`."""
        stale = self.ts < oldest_row_us - self.freshness_us
        self.ts[stale] = ABSENT_TS
        self.city[stale] = NO_PLACE
        self.postal[stale] = NO_PLACE

    def state_table(self) -> pa.Table:
        live = np.flatnonzero(self.ts != ABSENT_TS)
        names = [self.keys.names[k] for k in live.tolist()]
        city = [self.places.names[p] if p != NO_PLACE else None for p in self.city[live].tolist()]
        postal = [self.places.names[p] if p != NO_PLACE else None
                  for p in self.postal[live].tolist()]
        return pa.table({
            "product_id": pa.array([n[0] for n in names], pa.string()),
            "store_id": pa.array([n[1] for n in names], pa.string()),
            "ts": self.ts[live], "price": self.price[live],
            "region": pa.array([(c or p or (None, None))[1]
                                for c, p in zip(city, postal, strict=True)], pa.string()),
            "city": pa.array([c[3] if c else None for c in city], pa.string()),
            "postal_prefix": pa.array([p[3] if p else None for p in postal], pa.string()),
        })

    def load_state(self, table: pa.Table) -> None:
        product = table["product_id"].to_pylist()
        key = self.keys.lookup(zip(product, table["store_id"].to_pylist(), strict=True))
        size = len(self.keys)
        self.ts = grown(np.empty(0, np.int64), size, ABSENT_TS)
        self.price = grown(np.empty(0, np.float64), size, np.nan)
        self.city = grown(np.empty(0, np.int64), size, NO_PLACE)
        self.postal = grown(np.empty(0, np.int64), size, NO_PLACE)
        region = table["region"].to_pylist()
        self.ts[key] = table["ts"].to_numpy()
        self.price[key] = table["price"].to_numpy()
        self.city[key] = self._place_ids("city", product, region, table["city"].to_pylist())
        self.postal[key] = self._place_ids("postal", product, region,
                                           table["postal_prefix"].to_pylist())
