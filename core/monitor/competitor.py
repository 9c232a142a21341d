"""Competitor action: our price far from a competitor's, or a competitor's own big move."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.alerts import AlertKind, Severity
from core.monitor.config import CompetitorConfig
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


def competitor_entries(rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, position within the row's map, competitor name, their price) of every competitor
    price that is set and positive."""
    prices = rows.competitor_prices
    offsets = prices.offsets.to_numpy()
    lengths = np.where(prices.is_valid().to_numpy(zero_copy_only=False), np.diff(offsets), 0)
    row = np.repeat(np.arange(len(prices)), lengths)
    within = np.arange(lengths.sum()) - (np.cumsum(lengths) - lengths)[row]
    position = offsets[:-1][row] + within
    names = prices.keys.to_numpy(zero_copy_only=False)[position]
    theirs = prices.items.to_numpy(zero_copy_only=False).astype(np.float64)[position]
    usable = theirs > 0  # False for nulls (NaN) too
    return row[usable], within[usable], names[usable], theirs[usable]


class CompetitorRule:
    """Per competitor in a row: gap of our price to theirs, and their change since last seen
    at the same product-location (a late price says nothing about their latest move)."""

    def __init__(self, config: CompetitorConfig) -> None:
        self.config = config
        self.keys = KeyIndex()  # (product, store, competitor)
        self.last_ts = np.empty(0, np.int64)
        self.last_price = np.empty(0, np.float64)

    def observe(self, rows: Rows) -> list[Finding]:
        row, within, names, theirs = competitor_entries(rows)
        if len(row) == 0:
            return []
        return self._gaps(rows, row, within, names, theirs) + self._moves(
            rows, row, within, names, theirs)

    def _gaps(self, rows: Rows, row: np.ndarray, within: np.ndarray, names: np.ndarray,
              theirs: np.ndarray) -> list[Finding]:
        cfg = self.config
        gap_pct = (rows.price[row] / theirs - 1.0) * 100.0
        hits = np.flatnonzero((gap_pct > cfg.above_gap_pct) | (-gap_pct > cfg.below_gap_pct))
        product, store, critical = rows.product, rows.store, cfg.critical_gap_pct
        return [
            Finding(r, 1 + 2 * k, AlertKind.COMPETITOR_GAP, severity_for(gap, critical),
                    f"competitor_gap:{product[r]}:{store[r]}:{name}:"
                    f"{'above' if gap > 0 else 'below'}", self, (name, price, gap, ours))
            for r, k, name, price, gap, ours in zip(
                row[hits].tolist(), within[hits].tolist(), names[hits].tolist(),
                theirs[hits].tolist(), gap_pct[hits].tolist(), rows.price[row[hits]].tolist(),
                strict=True)
        ]

    def _moves(self, rows: Rows, row: np.ndarray, within: np.ndarray, names: np.ndarray,
               theirs: np.ndarray) -> list[Finding]:
        product, store = rows.product, rows.store
        competitor = self.keys.lookup(
            (product[r], store[r], name) for r, name in zip(row.tolist(), names.tolist(),
                                                            strict=True))
        self.last_ts = grown(self.last_ts, len(self.keys), ABSENT_TS)
        self.last_price = grown(self.last_price, len(self.keys), np.nan)
        order = np.argsort(competitor, kind="stable")  # per competitor, in time order
        key, ts, price = competitor[order], rows.ts[row[order]], theirs[order]
        seen_ts, seen_price = self.last_ts[key], self.last_price[key]
        accepted = ts >= seen_ts
        after_accepted = np.zeros(len(key), dtype=bool)
        after_accepted[1:] = (key[1:] == key[:-1]) & accepted[:-1]
        previous = np.where(after_accepted, np.roll(price, 1), seen_price)
        judged = accepted & (after_accepted | (seen_ts != ABSENT_TS))
        move_pct = (price / np.where(judged, previous, 1.0) - 1.0) * 100.0
        hits = np.flatnonzero(judged & (np.abs(move_pct) > self.config.move_pct))
        last_of_key = np.append(key[1:] != key[:-1], True) & accepted
        self.last_ts[key[last_of_key]] = ts[last_of_key]
        self.last_price[key[last_of_key]] = price[last_of_key]
        return [
            self._move(rows, r, k, name, their_price, before, pct)
            for r, k, name, their_price, before, pct in zip(
                row[order][hits].tolist(), within[order][hits].tolist(),
                names[order][hits].tolist(), price[hits].tolist(), previous[hits].tolist(),
                move_pct[hits].tolist(), strict=True)
        ]

    def _move(self, rows: Rows, row: int, within: int, name: str, theirs: float,
              previous: float, move_pct: float) -> Finding:
        direction = "up" if move_pct > 0 else "down"
        severity = (Severity.CRITICAL if abs(move_pct) > self.config.critical_move_pct
                    else Severity.WARNING)
        return Finding(
            row, 2 + 2 * within, AlertKind.COMPETITOR_MOVE, severity,
            f"competitor_move:{rows.product[row]}:{rows.store[row]}:{name}:{direction}", self,
            (name, direction, theirs, previous, move_pct, float(rows.price[row])))

    def describe(self, finding: Finding) -> Description:
        if finding.kind == AlertKind.COMPETITOR_MOVE:
            name, direction, theirs, previous, move_pct, ours = finding.facts
            return Description(
                evidence={"competitor_price": theirs, "previous_competitor_price": previous,
                          "move_pct": round(move_pct, 4), "price": ours},
                action=f"{name} moved {direction} {abs(move_pct):.1f}% to {theirs:.2f}: "
                       "review ours.",
            )
        name, theirs, gap, ours = finding.facts
        cfg = self.config
        if gap > 0:
            target = theirs * (1 + cfg.above_gap_pct / 100)
            action = f"Priced {gap:.1f}% above {name} ({theirs:.2f}): consider lowering."
        else:
            target = theirs * (1 - cfg.below_gap_pct / 100)
            action = f"Priced {-gap:.1f}% below {name} ({theirs:.2f}): room to raise."
        return Description(
            evidence={"price": ours, "competitor_price": theirs, "gap_pct": round(gap, 4)},
            action=action, suggested_price=round(target, 2),
        )

    def prune(self, oldest_row_us: int) -> None:
        """Forget competitor prices last seen `memory_hours` before `oldest_row_us`."""
        horizon_us = oldest_row_us - int(self.config.memory_hours * MICROS_PER_HOUR)
        self.last_ts[self.last_ts < horizon_us] = ABSENT_TS

    def state_table(self) -> pa.Table:
        live = np.flatnonzero(self.last_ts != ABSENT_TS)
        names = [self.keys.names[k] for k in live.tolist()]
        return pa.table({
            "product_id": pa.array([n[0] for n in names], pa.string()),
            "store_id": pa.array([n[1] for n in names], pa.string()),
            "competitor": pa.array([n[2] for n in names], pa.string()),
            "ts": self.last_ts[live], "price": self.last_price[live],
        })

    def load_state(self, table: pa.Table) -> None:
        self.keys = KeyIndex()
        self.keys.lookup(zip(*(table[c].to_pylist() for c in
                               ("product_id", "store_id", "competitor")), strict=True))
        self.last_ts = table["ts"].to_numpy().astype(np.int64)
        self.last_price = table["price"].to_numpy().astype(np.float64)
