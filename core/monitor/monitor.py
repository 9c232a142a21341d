"""The price monitor's logic: feed it batches of lake rows, get deduplicated alerts back."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pyarrow as pa

from core.alerts import Alert, CoolDown, alert_id
from core.monitor.competitor import CompetitorRule
from core.monitor.config import MonitorConfig
from core.monitor.flash_sale import FlashSaleRule
from core.monitor.geography import GeoAnomalyRule
from core.monitor.price_move import PriceMoveRule
from core.monitor.rows import MICROS_PER_SECOND, Finding, KeyIndex, Rows, rows_from_table

CHECKPOINT_MAGIC = b"DPM2"  # format 2: a JSON header, then one Arrow IPC stream per section
HEADER_BYTES = 4


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while a batch builds many small, acyclic objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def pack_sections(meta: dict, sections: dict[str, pa.Table]) -> bytes:
    """Checkpoint bytes: magic, header length, JSON header (meta + section sizes), sections."""
    blobs = {name: _ipc(table) for name, table in sections.items()}
    header = json.dumps({"meta": meta, "sizes": {n: len(b) for n, b in blobs.items()}}).encode()
    return b"".join([CHECKPOINT_MAGIC, len(header).to_bytes(HEADER_BYTES, "big"), header,
                     *blobs.values()])


def unpack_sections(data: bytes) -> tuple[dict, dict[str, pa.Table]]:
    if not data.startswith(CHECKPOINT_MAGIC):
        raise ValueError("monitor checkpoint is not format 2 (written by an older version?); "
                         "start fresh instead")
    start = len(CHECKPOINT_MAGIC) + HEADER_BYTES
    at = start + int.from_bytes(data[len(CHECKPOINT_MAGIC):start], "big")
    header = json.loads(data[start:at])
    sections = {}
    for name, size in header["sizes"].items():
        sections[name] = pa.ipc.open_stream(pa.py_buffer(data[at:at + size])).read_all()
        at += size
    return header["meta"], sections


class Monitor:
    """All four rules plus the cool-down, over event time. Rows may arrive out of order by up
    to `allowed_lateness_s` behind the newest row seen; older ones are counted in `stats` and
    skipped. Each rule works on the whole batch in numpy, with the results a row-by-row pass
    would give; memory stays bounded: every window is pruned by event time after each batch."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.lateness_us = int(config.allowed_lateness_s * MICROS_PER_SECOND)
        self.keys = KeyIndex()  # (product, store), shared by the per-location rules
        self.price_move = PriceMoveRule(config.price_move, self.keys)
        self.competitor = CompetitorRule(config.competitor)
        self.flash_sale = FlashSaleRule(config.flash_sale, self.keys)
        self.geo = GeoAnomalyRule(config.geo, self.keys)
        self.cooldown = CoolDown(config.cooldown_minutes * 60)
        self.watermark_us: int | None = None
        self.stats = {"rows": 0, "late_rows": 0, "findings": 0, "alerts": 0, "suppressed": 0}

    def process(self, batch: pa.Table, now: datetime | None = None) -> list[Alert]:
        """Run a LAKE_SCHEMA batch through every rule; returns the alerts past the cool-down."""
        with gc_paused():
            return self._process(batch, now)

    def _process(self, batch: pa.Table, now: datetime | None) -> list[Alert]:
        oldest_allowed = None if self.watermark_us is None else self.watermark_us - self.lateness_us
        rows = rows_from_table(batch, self.keys, not_before_us=oldest_allowed)
        self.stats["rows"] += batch.num_rows
        self.stats["late_rows"] += batch.num_rows - len(rows)
        if not len(rows):
            return []
        findings = [*self.price_move.observe(rows), *self.competitor.observe(rows),
                    *self.flash_sale.observe(rows)]
        findings.sort(key=lambda finding: (finding.row, finding.rank))
        findings += self.geo.observe(rows)  # judged after the whole batch is in
        created_at = now or datetime.now(UTC)
        ts = rows.ts.tolist()
        alerts = [
            self._alert(finding, rows, ts[finding.row], created_at) for finding in findings
            if self.cooldown.admit(finding.dedup_key, ts[finding.row] / MICROS_PER_SECOND)
        ]
        newest = int(rows.ts[-1])
        self.watermark_us = newest if self.watermark_us is None else max(self.watermark_us, newest)
        self._prune()
        self.stats["findings"] += len(findings)
        self.stats["alerts"] += len(alerts)
        self.stats["suppressed"] += len(findings) - len(alerts)
        return alerts

    def _prune(self) -> None:
        """Drop state no future row can use."""
        assert self.watermark_us is not None
        oldest_row_us = self.watermark_us - self.lateness_us
        for rule in (self.price_move, self.competitor, self.flash_sale, self.geo):
            rule.prune(oldest_row_us)
        self.cooldown.prune(oldest_row_us / MICROS_PER_SECOND)

    @staticmethod
    def _alert(finding: Finding, rows: Rows, ts_us: int, created_at: datetime) -> Alert:
        row = finding.row
        evidence, action, suggested_price = finding.rule.describe(finding)
        return Alert.model_validate({
            "id": alert_id(finding.dedup_key, ts_us),
            "kind": finding.kind,
            "severity": finding.severity,
            "product_id": rows.product[row],
            "location": rows.store[row],
            "category": rows.category[row],
            "region": rows.region[row],
            "evidence": evidence,
            "suggested_action": {"text": action, "price": suggested_price},
            "dedup_key": finding.dedup_key,
            "created_at": created_at,
            "source_ts": datetime.fromtimestamp(ts_us / MICROS_PER_SECOND, UTC),
        })

    def state_tables(self) -> dict[str, pa.Table]:
        """Every rule's state as a table (what a checkpoint holds besides `stats`)."""
        cooling = self.cooldown.state_dict()
        return {
            "price_move": self.price_move.state_table(),
            "competitor": self.competitor.state_table(),
            "flash_sale": self.flash_sale.state_table(),
            "geo": self.geo.state_table(),
            "cooldown": pa.table({"dedup_key": pa.array(list(cooling), pa.string()),
                                  "admitted_s": pa.array(list(cooling.values()), pa.float64())}),
        }

    def checkpoint(self) -> bytes:
        """The whole state as bytes (what the actor stores in Redis)."""
        with gc_paused():
            meta = {"watermark_us": self.watermark_us, "stats": dict(self.stats)}
            return pack_sections(meta, self.state_tables())

    @classmethod
    def from_checkpoint(cls, config: MonitorConfig, data: bytes | None) -> Monitor:
        """A monitor resumed from `checkpoint()` bytes (a fresh one when `data` is None)."""
        monitor = cls(config)
        if not data:
            return monitor
        with gc_paused():
            meta, sections = unpack_sections(data)
            monitor.watermark_us = meta["watermark_us"]
            monitor.stats.update(meta["stats"])
            monitor.price_move.load_state(sections["price_move"])
            monitor.competitor.load_state(sections["competitor"])
            monitor.flash_sale.load_state(sections["flash_sale"])
            monitor.geo.load_state(sections["geo"])
            cooling = sections["cooldown"]
            monitor.cooldown = CoolDown(config.cooldown_minutes * 60, dict(zip(
                cooling["dedup_key"].to_pylist(), cooling["admitted_s"].to_pylist(),
                strict=True)))
        return monitor
