"""Competitor action: our price far from a competitor's, or a competitor's own big move."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from core.alerts import AlertKind, Severity
from core.monitor.config import CompetitorConfig
from core.monitor.expiry import pop_expired, touch
from core.monitor.observations import MICROS_PER_HOUR, Finding, Observation, severity_for

Key = tuple[str, str, str]


class CompetitorRule:
    """Per competitor in a row: gap of our price to theirs, and their change since last seen
    at the same product-location."""

    def __init__(self, config: CompetitorConfig) -> None:
        self.config = config
        self.last_seen: OrderedDict[Key, tuple[int, float]] = OrderedDict()

    def observe(self, obs: Observation) -> list[Finding]:
        findings = []
        for name, theirs in obs.competitor_prices or ():
            if theirs is None or theirs <= 0:
                continue
            gap = self._gap(obs, name, theirs)
            if gap is not None:
                findings.append(gap)
            move = self._move(obs, name, theirs)
            if move is not None:
                findings.append(move)
        return findings

    def _gap(self, obs: Observation, name: str, theirs: float) -> Finding | None:
        gap_pct = (obs.price / theirs - 1.0) * 100.0
        cfg = self.config
        if gap_pct > cfg.above_gap_pct:
            side, target = "above", theirs * (1 + cfg.above_gap_pct / 100)
            action = f"Priced {gap_pct:.1f}% above {name} ({theirs:.2f}): consider lowering."
        elif -gap_pct > cfg.below_gap_pct:
            side, target = "below", theirs * (1 - cfg.below_gap_pct / 100)
            action = f"Priced {-gap_pct:.1f}% below {name} ({theirs:.2f}): room to raise."
        else:
            return None
        return Finding(
            kind=AlertKind.COMPETITOR_GAP,
            severity=severity_for(gap_pct, cfg.critical_gap_pct),
            dedup_key=f"competitor_gap:{obs.product_id}:{obs.store_id}:{name}:{side}",
            observation=obs,
            evidence={"price": obs.price, "competitor_price": theirs,
                      "gap_pct": round(gap_pct, 4)},
            action=action,
            suggested_price=round(target, 2),
        )

    def _move(self, obs: Observation, name: str, theirs: float) -> Finding | None:
        key = (obs.product_id, obs.store_id, name)
        previous = self.last_seen.get(key)
        if previous is not None and obs.ts_us < previous[0]:
            return None  # a late row says nothing about their latest move
        touch(self.last_seen, key, (obs.ts_us, theirs))
        if previous is None:
            return None
        move_pct = (theirs / previous[1] - 1.0) * 100.0
        if abs(move_pct) <= self.config.move_pct:
            return None
        direction = "up" if move_pct > 0 else "down"
        severity = (
            Severity.CRITICAL if abs(move_pct) > self.config.critical_move_pct
            else Severity.WARNING
        )
        return Finding(
            kind=AlertKind.COMPETITOR_MOVE,
            severity=severity,
            dedup_key=f"competitor_move:{obs.product_id}:{obs.store_id}:{name}:{direction}",
            observation=obs,
            evidence={"competitor_price": theirs, "previous_competitor_price": previous[1],
                      "move_pct": round(move_pct, 4), "price": obs.price},
            action=f"{name} moved {direction} {abs(move_pct):.1f}% to {theirs:.2f}: review ours.",
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget competitor prices last seen `memory_hours` before `oldest_row_us`."""
        horizon_us = oldest_row_us - int(self.config.memory_hours * MICROS_PER_HOUR)
        pop_expired(self.last_seen, horizon_us, lambda seen: seen[0])

    def state_dict(self) -> list[Any]:
        return [[*key, ts, price] for key, (ts, price) in self.last_seen.items()]

    def load_state(self, state: list[Any]) -> None:
        self.last_seen = OrderedDict(
            ((product, store, name), (int(ts), float(price)))
            for product, store, name, ts, price in state
        )
