"""The price monitor's logic: feed it batches of lake rows, get deduplicated alerts back."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from core.alerts import Alert, CoolDown, SuggestedAction
from core.monitor.competitor import CompetitorRule
from core.monitor.config import MonitorConfig
from core.monitor.flash_sale import FlashSaleRule
from core.monitor.geography import GeoAnomalyRule
from core.monitor.observations import MICROS_PER_SECOND, Finding, observations_from_table
from core.monitor.price_move import PriceMoveRule

STATE_VERSION = 1


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector: the monitor's state is millions of small acyclic containers
    that it would rescan again and again (4x slower checkpoints measured), yet holds no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _utc(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / MICROS_PER_SECOND, UTC)


class Monitor:
    """All four rules plus the cool-down, over event time. Rows may arrive out of order by up
    to `allowed_lateness_s` behind the newest row seen; older ones are counted in `stats` and
    skipped. Memory stays bounded: every window is pruned by event time after each batch."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.lateness_us = int(config.allowed_lateness_s * MICROS_PER_SECOND)
        self.price_move = PriceMoveRule(config.price_move)
        self.competitor = CompetitorRule(config.competitor)
        self.flash_sale = FlashSaleRule(config.flash_sale)
        self.geo = GeoAnomalyRule(config.geo)
        self.cooldown = CoolDown(config.cooldown_minutes * 60)
        self.watermark_us: int | None = None
        self.stats = {"rows": 0, "late_rows": 0, "findings": 0, "alerts": 0, "suppressed": 0}

    def process(self, batch: pa.Table, now: datetime | None = None) -> list[Alert]:
        """Run a LAKE_SCHEMA batch through every rule; returns the alerts past the cool-down."""
        with gc_paused():
            return self._process(batch, now)

    def _process(self, batch: pa.Table, now: datetime | None) -> list[Alert]:
        oldest_allowed = None if self.watermark_us is None else self.watermark_us - self.lateness_us
        observations = observations_from_table(batch, not_before_us=oldest_allowed)
        self.stats["rows"] += batch.num_rows
        self.stats["late_rows"] += batch.num_rows - len(observations)
        if not observations:
            return []
        findings: list[Finding] = []
        for obs in observations:
            move = self.price_move.observe(obs)
            if move is not None:
                findings.append(move)
            findings.extend(self.competitor.observe(obs))
            flash = self.flash_sale.observe(obs)
            if flash is not None:
                findings.append(flash)
            self.geo.update(obs)
        findings.extend(self.geo.evaluate())
        created_at = now or datetime.now(UTC)
        alerts = [
            self._alert(finding, created_at) for finding in findings
            if self.cooldown.admit(
                finding.dedup_key, finding.observation.ts_us / MICROS_PER_SECOND
            )
        ]
        newest = observations[-1].ts_us
        self.watermark_us = newest if self.watermark_us is None else max(self.watermark_us, newest)
        self._prune()
        self.stats["findings"] += len(findings)
        self.stats["alerts"] += len(alerts)
        self.stats["suppressed"] += len(findings) - len(alerts)
        return alerts

    def _prune(self) -> None:
        """Drop state no future row can use (cost grows with what expired, not with state)."""
        assert self.watermark_us is not None
        oldest_row_us = self.watermark_us - self.lateness_us
        for rule in (self.price_move, self.competitor, self.flash_sale, self.geo):
            rule.prune(oldest_row_us)
        self.cooldown.prune(oldest_row_us / MICROS_PER_SECOND)

    @staticmethod
    def _alert(finding: Finding, created_at: datetime) -> Alert:
        obs = finding.observation
        source_ts = _utc(obs.ts_us)
        return Alert(
            id=Alert.make_id(finding.dedup_key, source_ts),
            kind=finding.kind,
            severity=finding.severity,
            product_id=obs.product_id,
            location=obs.store_id,
            category=obs.category,
            region=obs.region,
            evidence=finding.evidence,
            suggested_action=SuggestedAction(text=finding.action, price=finding.suggested_price),
            dedup_key=finding.dedup_key,
            created_at=created_at,
            source_ts=source_ts,
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as plain JSON/msgpack-able lists, dicts and numbers."""
        with gc_paused():
            return self._state_dict()

    def _state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "watermark_us": self.watermark_us,
            "price_move": self.price_move.state_dict(),
            "competitor": self.competitor.state_dict(),
            "flash_sale": self.flash_sale.state_dict(),
            "geo": self.geo.state_dict(),
            "cooldown": self.cooldown.state_dict(),
            "stats": dict(self.stats),
        }

    def checkpoint(self) -> bytes:
        """`state_dict()` as compact JSON bytes (what the actor stores in Redis)."""
        with gc_paused():
            return json.dumps(self._state_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_checkpoint(cls, config: MonitorConfig, data: bytes | None) -> Monitor:
        """A monitor resumed from `checkpoint()` bytes (a fresh one when `data` is None)."""
        with gc_paused():
            state = json.loads(data) if data else None
        return cls.from_state(config, state)

    @classmethod
    def from_state(cls, config: MonitorConfig, state: dict[str, Any] | None) -> Monitor:
        """A monitor resumed from `state_dict()` output (a fresh one when `state` is None)."""
        monitor = cls(config)
        if not state:
            return monitor
        with gc_paused():
            monitor._load_state(state)
        return monitor

    def _load_state(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"monitor state version {state.get('version')!r} is not "
                             f"{STATE_VERSION}; start fresh instead")
        self.watermark_us = state["watermark_us"]
        self.price_move.load_state(state["price_move"])
        self.competitor.load_state(state["competitor"])
        self.flash_sale.load_state(state["flash_sale"])
        self.geo.load_state(state["geo"])
        self.cooldown = CoolDown(self.config.cooldown_minutes * 60, state["cooldown"])
        self.stats.update(state["stats"])
