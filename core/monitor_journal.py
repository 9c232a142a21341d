"""The price monitor made restart-safe: a Redis checkpoint plus a journal of the batches since.

Each batch is judged, its alerts dispatched, then the batch is appended to the journal. Every
few seconds the whole monitor state is checkpointed and the journal emptied, in one MULTI. A
restarted monitor loads the checkpoint and replays the journal without dispatching (those
alerts went out before the restart), so it neither re-alerts nor forgets a price seen before
the restart. Batches carry ids, so a batch retried after a crash is judged only once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from core.alerts import Alert
from core.monitor import Monitor, MonitorConfig
from core.monitor.rows import REQUIRED_COLUMNS

logger = logging.getLogger(__name__)

MONITOR_COLUMNS = (*REQUIRED_COLUMNS, "competitor_prices")
BATCH_ID_BYTES = 32


def monitor_rows(accepted: pa.Table) -> pa.Table:
    """The columns of accepted lake rows the monitor reads (less to ship and to journal)."""
    return accepted.select([c for c in MONITOR_COLUMNS if c in accepted.column_names])


def encode_batch(batch_id: str, table: pa.Table) -> bytes:
    """A journal entry: the 32-character batch id, then the rows as zstd Arrow IPC."""
    if len(batch_id) != BATCH_ID_BYTES:
        raise ValueError(f"batch ids are {BATCH_ID_BYTES} characters, not {batch_id!r}")
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression="zstd")
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return batch_id.encode() + sink.getvalue().to_pybytes()


def decode_batch(entry: bytes) -> tuple[str, pa.Table]:
    batch_id = entry[:BATCH_ID_BYTES].decode()
    return batch_id, ipc.open_stream(pa.py_buffer(entry[BATCH_ID_BYTES:])).read_all()


class JournaledMonitor:
    """A Monitor whose state survives restarts through Redis keys under `key_prefix`."""

    def __init__(
        self,
        config: MonitorConfig,
        client: Any,
        key_prefix: str,
        dispatch: Callable[[Sequence[Alert]], None],
        checkpoint_every_s: float = 5.0,
        remembered_batches: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.keys = {part: f"{key_prefix}:{part}" for part in ("checkpoint", "batches", "journal")}
        self.dispatch = dispatch
        self.checkpoint_every_s = checkpoint_every_s
        self.remembered_batches = remembered_batches
        self._clock = clock
        self.replayed_batches = 0
        self.monitor, self._batch_ids = self._restore(config)
        self._last_checkpoint = clock()

    def _restore(self, config: MonitorConfig) -> tuple[Monitor, dict[str, None]]:
        state, batch_ids, journal = (
            self.client.pipeline(transaction=True)
            .get(self.keys["checkpoint"]).get(self.keys["batches"])
            .lrange(self.keys["journal"], 0, -1).execute())
        try:
            monitor = Monitor.from_checkpoint(config, state)
        except ValueError as unreadable:  # e.g. an older format: crash-looping helps nobody
            logger.error("starting the monitor afresh, its checkpoint is unreadable: %s",
                         unreadable)
            monitor, journal = Monitor(config), []
        seen = dict.fromkeys(json.loads(batch_ids) if batch_ids else [])
        for entry in journal:
            batch_id, table = decode_batch(entry)
            monitor.process(table)  # its alerts were dispatched before the restart
            seen[batch_id] = None
            self.replayed_batches += 1
        return monitor, seen

    def observe(self, batch_id: str, table: pa.Table) -> list[Alert]:
        """Judge a batch once (a repeated id is ignored), dispatch its alerts, journal it."""
        if batch_id in self._batch_ids:
            return []
        alerts = self.monitor.process(table)
        self.dispatch(alerts)
        self.client.rpush(self.keys["journal"], encode_batch(batch_id, table))
        self._batch_ids[batch_id] = None
        while len(self._batch_ids) > self.remembered_batches:
            del self._batch_ids[next(iter(self._batch_ids))]
        if self._clock() - self._last_checkpoint >= self.checkpoint_every_s:
            self.checkpoint()
        return alerts

    def checkpoint(self) -> int:
        """Store the state and empty the journal atomically; the checkpoint's size in bytes."""
        state = self.monitor.checkpoint()
        (self.client.pipeline(transaction=True)
         .set(self.keys["checkpoint"], state)
         .set(self.keys["batches"], json.dumps(list(self._batch_ids)))
         .delete(self.keys["journal"]).execute())
        self._last_checkpoint = self._clock()
        return len(state)

    def journal_length(self) -> int:
        return int(self.client.llen(self.keys["journal"]))
