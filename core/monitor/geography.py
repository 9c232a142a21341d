"""Geographic anomaly: a store's price far from the median of nearby stores' prices."""

from __future__ import annotations

from collections import OrderedDict
from statistics import median
from typing import Any, NamedTuple

from core.alerts import AlertKind
from core.monitor.config import GeoConfig
from core.monitor.expiry import pop_expired, touch
from core.monitor.observations import MICROS_PER_HOUR, Finding, Observation, severity_for


class StorePrice(NamedTuple):
    ts_us: int
    price: float
    city: str | None
    postal_prefix: str | None
    region: str | None


Place = tuple[str, str | None, str]


def places_of(seen: StorePrice) -> list[Place]:
    """The neighbourhoods a store belongs to: its city and its postal prefix, within its region."""
    found: list[Place] = []
    if seen.city:
        found.append(("city", seen.region, seen.city))
    if seen.postal_prefix:
        found.append(("postal", seen.region, seen.postal_prefix))
    return found


class GeoAnomalyRule:
    """Latest price per product and store. Stores are judged once per batch, after the whole
    batch is in, so a chain-wide change arriving in one batch does not flag its first stores.
    Nearby = same region and (same city or same postal prefix)."""

    def __init__(self, config: GeoConfig) -> None:
        self.config = config
        self.freshness_us = int(config.freshness_hours * MICROS_PER_HOUR)
        self.latest: OrderedDict[tuple[str, str], StorePrice] = OrderedDict()
        self.nearby: dict[str, dict[Place, set[str]]] = {}
        self.touched: dict[tuple[str, str], Observation] = {}

    def update(self, obs: Observation) -> None:
        previous = self.latest.get((obs.product_id, obs.store_id))
        if previous is not None and obs.ts_us < previous.ts_us:
            return
        prefix = obs.postal_code[: self.config.postal_prefix_len] if obs.postal_code else None
        self._put(obs.product_id, obs.store_id,
                  StorePrice(obs.ts_us, obs.price, obs.city, prefix, obs.region))
        self.touched[(obs.product_id, obs.store_id)] = obs

    def _put(self, product: str, store: str, seen: StorePrice) -> None:
        previous = self.latest.get((product, store))
        touch(self.latest, (product, store), seen)
        if previous is not None and previous[2:] == seen[2:]:
            return  # same city, postal prefix and region: same neighbourhoods
        nearby = self.nearby.setdefault(product, {})
        if previous is not None:
            self._leave(nearby, store, previous)
        for place in places_of(seen):
            nearby.setdefault(place, set()).add(store)

    @staticmethod
    def _leave(nearby: dict[Place, set[str]], store: str, seen: StorePrice) -> None:
        for place in places_of(seen):
            nearby[place].discard(store)
            if not nearby[place]:
                del nearby[place]

    def evaluate(self) -> list[Finding]:
        """Judge every product-location updated since the last call."""
        touched, self.touched = self.touched, {}
        findings = []
        for obs in touched.values():
            finding = self._judge(obs)
            if finding is not None:
                findings.append(finding)
        return findings

    def _judge(self, obs: Observation) -> Finding | None:
        product, nearby = obs.product_id, self.nearby.get(obs.product_id, {})
        own = self.latest[(product, obs.store_id)]
        peers: set[str] = set()
        for place in places_of(own):
            peers.update(nearby.get(place, ()))
        peers.discard(obs.store_id)
        oldest = own.ts_us - self.freshness_us
        seen = [self.latest[(product, peer)] for peer in peers]
        prices = [peer.price for peer in seen if peer.ts_us >= oldest]
        if len(prices) < self.config.min_peers:
            return None
        peer_median = median(prices)
        deviation_pct = (own.price / peer_median - 1.0) * 100.0
        if abs(deviation_pct) <= self.config.threshold_pct:
            return None
        side = "above" if deviation_pct > 0 else "below"
        return Finding(
            kind=AlertKind.GEO_ANOMALY,
            severity=severity_for(deviation_pct, self.config.critical_pct),
            dedup_key=f"geo_anomaly:{obs.product_id}:{obs.store_id}:{side}",
            observation=obs,
            evidence={"price": own.price, "peer_median_price": peer_median,
                      "deviation_pct": round(deviation_pct, 4), "peers": float(len(prices))},
            action=(
                f"{abs(deviation_pct):.1f}% {side} the median of {len(prices)} nearby stores "
                f"({peer_median:.2f}): check the shelf price."
            ),
            suggested_price=round(peer_median, 2),
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget store prices too old to be anyone's peer for rows at or after `oldest_row_us`."""
        horizon_us = oldest_row_us - self.freshness_us
        for (product, store), seen in pop_expired(self.latest, horizon_us, lambda s: s.ts_us):
            nearby = self.nearby.get(product, {})
            self._leave(nearby, store, seen)
            if not nearby:
                self.nearby.pop(product, None)

    def state_dict(self) -> list[Any]:
        return [[product, store, *seen] for (product, store), seen in self.latest.items()]

    def load_state(self, state: list[Any]) -> None:
        self.latest, self.nearby = OrderedDict(), {}
        for product, store, ts_us, price, city, prefix, region in state:
            self._put(product, store, StorePrice(int(ts_us), float(price), city, prefix, region))
