"""Checkpoint + journal: a restart between any two batches neither re-alerts nor misses a move."""

from __future__ import annotations

import uuid

import pytest
from monitor_rows import batch, price_point

from core.alerts import AlertKind
from core.monitor import MonitorConfig
from core.monitor_journal import JournaledMonitor, decode_batch, encode_batch, monitor_rows

CONFIG = MonitorConfig()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _monitor(redis_client, key_prefix, sent: list, clock: Clock | None = None,
             every_s: float = 5.0) -> JournaledMonitor:
    return JournaledMonitor(CONFIG, redis_client, f"{key_prefix}monitor", sent.extend,
                            checkpoint_every_s=every_s, clock=clock or Clock())


def _batches() -> list[tuple[str, object]]:
    """Three products; each jumps 20% between batch 1 and a later batch (three moves)."""
    rows = [
        [price_point(0, product_id=p, price=10.0) for p in ("P1", "P2", "P3")],
        [price_point(10, product_id="P1", price=12.0)],
        [price_point(20, product_id="P2", price=12.0)],
        [price_point(30, product_id="P3", price=12.0)],
    ]
    return [(uuid.uuid4().hex, monitor_rows(batch(*r))) for r in rows]


def _moves(alerts) -> list[str]:
    return sorted(a.product_id for a in alerts if a.kind == AlertKind.PRICE_MOVE)


def test_journal_entries_round_trip():
    table = monitor_rows(batch(price_point(0), price_point(5, price=11.0)))
    batch_id = uuid.uuid4().hex
    assert decode_batch(encode_batch(batch_id, table)) == (batch_id, table)
    with pytest.raises(ValueError):
        encode_batch("short", table)


@pytest.mark.parametrize("restart_after", [1, 2, 3])
@pytest.mark.parametrize("checkpoint_before_restart", [False, True])
def test_restart_neither_re_alerts_nor_misses(redis_client, key_prefix, restart_after,
                                              checkpoint_before_restart):
    sent: list = []
    batches = _batches()
    first = _monitor(redis_client, key_prefix, sent)
    for batch_id, table in batches[:restart_after]:
        first.observe(batch_id, table)
    if checkpoint_before_restart:
        first.checkpoint()
    resumed = _monitor(redis_client, key_prefix, sent)
    assert resumed.replayed_batches == (0 if checkpoint_before_restart else restart_after)
    for batch_id, table in batches[restart_after:]:
        resumed.observe(batch_id, table)
    assert _moves(sent) == ["P1", "P2", "P3"]


def test_a_retried_batch_is_judged_once(redis_client, key_prefix):
    sent: list = []
    batches = _batches()
    monitor = _monitor(redis_client, key_prefix, sent)
    for batch_id, table in batches[:2]:
        monitor.observe(batch_id, table)
    resumed = _monitor(redis_client, key_prefix, sent)
    assert resumed.observe(*batches[1]) == []  # e.g. Ray retried the call after the crash
    assert resumed.monitor.stats["rows"] == 4
    assert _moves(sent) == ["P1"]


def test_periodic_checkpoint_empties_the_journal(redis_client, key_prefix):
    clock = Clock()
    monitor = _monitor(redis_client, key_prefix, [], clock, every_s=5)
    batches = _batches()
    monitor.observe(*batches[0])
    monitor.observe(*batches[1])
    assert monitor.journal_length() == 2
    clock.now = 6
    monitor.observe(*batches[2])
    assert monitor.journal_length() == 0
    monitor.observe(*batches[3])
    assert monitor.journal_length() == 1
    resumed = _monitor(redis_client, key_prefix, [])
    assert resumed.replayed_batches == 1
    assert resumed.monitor.stats == monitor.monitor.stats


def test_an_unreadable_checkpoint_starts_a_fresh_monitor(redis_client, key_prefix, caplog):
    sent: list = []
    batches = _batches()
    first = _monitor(redis_client, key_prefix, sent)
    first.observe(*batches[0])
    redis_client.set(first.keys["checkpoint"], b'{"format": 1}')  # as an older version wrote
    resumed = _monitor(redis_client, key_prefix, sent)
    assert resumed.replayed_batches == 0 and resumed.monitor.stats["rows"] == 0
    assert "checkpoint is unreadable" in caplog.text
    for batch_id, table in batches[1:]:
        resumed.observe(batch_id, table)
    assert _moves(sent) == []  # the old prices went with the checkpoint: no move to see
