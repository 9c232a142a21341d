from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from monitor_rows import T0, batch, make_monitor, price_point
from pydantic import ValidationError

from core.alerts import AlertKind
from core.config_files import load_config
from core.monitor import Monitor, MonitorConfig


def above_competitor(minutes: float) -> dict:
    return price_point(minutes, price=12.0, competitor_prices=[("acme", 10.0)])


def test_the_same_condition_alerts_once_per_cool_down() -> None:
    monitor = make_monitor(cooldown_minutes=60)
    kinds = [
        [a.kind for a in monitor.process(batch(above_competitor(minutes)))]
        for minutes in (0, 10, 59, 61)
    ]
    assert kinds == [[AlertKind.COMPETITOR_GAP], [], [], [AlertKind.COMPETITOR_GAP]]
    assert monitor.stats["suppressed"] == 2


def test_different_conditions_are_not_deduplicated_together() -> None:
    monitor = make_monitor()
    alerts = monitor.process(batch(above_competitor(0), {**above_competitor(1), "store_id": "S2"}))
    assert sorted(a.dedup_key for a in alerts) == [
        "competitor_gap:P1:S1:acme:above", "competitor_gap:P1:S2:acme:above"]


def checkpoint(monitor: Monitor) -> Monitor:
    """Through checkpoint bytes, as the actor stores them in Redis."""
    return Monitor.from_checkpoint(monitor.config, monitor.checkpoint())


def test_resumed_monitor_does_not_re_alert_inside_the_cool_down() -> None:
    monitor = make_monitor()
    assert len(monitor.process(batch(above_competitor(0)))) == 1
    resumed = checkpoint(monitor)
    assert resumed.process(batch(above_competitor(5))) == []
    assert resumed.stats["alerts"] == 1


def test_a_move_spanning_the_restart_is_still_detected() -> None:
    monitor = make_monitor()
    monitor.process(batch(price_point(0, price=10.0)))
    resumed = checkpoint(monitor)
    alerts = resumed.process(batch(price_point(30, price=12.0)))
    assert [a.kind for a in alerts] == [AlertKind.PRICE_MOVE]


def test_state_round_trip_keeps_every_rule_state() -> None:
    monitor = make_monitor()
    rows = [price_point(60 * h, store_id=f"S{h % 4}", competitor_prices=[("acme", 10.0)])
            for h in range(30)]
    monitor.process(batch(*rows))
    resumed = checkpoint(monitor)
    assert resumed.state_tables() == monitor.state_tables()
    assert (resumed.watermark_us, resumed.stats) == (monitor.watermark_us, monitor.stats)


def test_a_checkpoint_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        Monitor.from_checkpoint(MonitorConfig(), json.dumps({"version": 1}).encode())


def test_rows_later_than_the_allowed_lateness_are_counted_not_judged() -> None:
    monitor = make_monitor(allowed_lateness_s=300)
    monitor.process(batch(price_point(30, price=10.0)))
    assert monitor.process(batch(price_point(20, price=14.0))) == []  # 10 min late
    assert monitor.stats["late_rows"] == 1
    alerts = monitor.process(batch(price_point(27, price=14.0)))  # 3 min late
    assert [a.kind for a in alerts] == [AlertKind.PRICE_MOVE]


def test_windows_are_pruned_by_event_time() -> None:
    monitor = make_monitor()
    monitor.process(batch(*[price_point(0, store_id=f"S{i}", competitor_prices=[("acme", 10.0)])
                            for i in range(50)]))
    monitor.process(batch(price_point(60 * 24 * 30, store_id="late-store")))
    state = monitor.state_tables()
    for rule in ("price_move", "geo", "flash_sale"):
        assert set(state[rule]["store_id"].to_pylist()) == {"late-store"}, rule
    assert state["competitor"].num_rows == 0


def test_alert_ids_repeat_for_the_same_condition_and_source_time() -> None:
    first = make_monitor().process(batch(above_competitor(0)), now=datetime(2030, 1, 1, tzinfo=UTC))
    again = make_monitor().process(batch(above_competitor(0)))
    assert first[0].id == again[0].id
    assert first[0].source_ts == T0
    assert first[0].created_at == datetime(2030, 1, 1, tzinfo=UTC)


def test_the_shipped_config_loads_and_typos_are_rejected() -> None:
    assert load_config("monitor", MonitorConfig).price_move.threshold_pct == 15
    with pytest.raises(ValidationError):
        MonitorConfig.model_validate({"price_move": {"treshold_pct": 5}})
    with pytest.raises(ValidationError, match="critical"):
        MonitorConfig.model_validate({"geo": {"threshold_pct": 50, "critical_pct": 40}})


def random_stream(rows: int, seed: int = 7) -> list[dict]:
    """In time order: prices that sometimes jump, competitors that move, demand that rises."""
    rng = random.Random(seed)
    stream = []
    for i in range(rows):
        store, product = f"S{rng.randrange(4)}", f"P{rng.randrange(3)}"
        price = 10.0 * (1.3 if rng.random() < 0.1 else 1.0) * rng.uniform(0.97, 1.03)
        stream.append(price_point(
            i * 7.0, product_id=product, store_id=store, price=price,
            units_sold=rng.choice([0, 1, 1, 2, 6]), inventory_level=rng.choice([10, 3000]),
            competitor_prices=[("acme", 10.0 * rng.choice([1.0, 1.0, 0.8, 1.2]))],
        ))
    return stream


def test_batching_and_restarts_do_not_change_the_alerts() -> None:
    stream = random_stream(1500)
    one_pass = make_monitor().process(batch(*stream))
    assert {a.kind for a in one_pass} >= {
        AlertKind.PRICE_MOVE, AlertKind.COMPETITOR_GAP, AlertKind.COMPETITOR_MOVE,
        AlertKind.FLASH_SALE,
    }
    monitor, in_pieces, start, rng = make_monitor(), [], 0, random.Random(1)
    while start < len(stream):
        end = start + rng.randrange(1, 200)
        in_pieces += monitor.process(batch(*stream[start:end]))
        monitor = Monitor.from_checkpoint(monitor.config, monitor.checkpoint())
        start = end

    def condition(alerts: list) -> list:
        return sorted((a.id, a.kind) for a in alerts if a.kind != AlertKind.GEO_ANOMALY)

    assert condition(in_pieces) == condition(one_pass)
