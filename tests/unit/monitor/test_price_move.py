from __future__ import annotations

import pytest
from monitor_rows import batch, make_monitor, price_point

from core.alerts import AlertKind, Severity


@pytest.mark.parametrize(("new_price", "direction"), [(11.51, "up"), (8.49, "down")])
def test_a_move_beyond_15_percent_within_the_hour_fires(new_price: float, direction: str) -> None:
    monitor = make_monitor()
    assert monitor.process(batch(price_point(0, price=10.0))) == []
    alerts = monitor.process(batch(price_point(59, price=new_price)))
    assert [a.kind for a in alerts] == [AlertKind.PRICE_MOVE]
    alert = alerts[0]
    assert alert.severity == Severity.WARNING
    assert alert.evidence["reference_price"] == 10.0
    assert alert.evidence["change_pct"] == pytest.approx((new_price / 10.0 - 1) * 100, abs=0.01)
    assert alert.dedup_key == f"price_move:P1:S1:{direction}"
    assert (alert.product_id, alert.location, alert.region, alert.category) == (
        "P1", "S1", "midwest", "grocery")


@pytest.mark.parametrize("new_price", [11.49, 8.51])
def test_a_14_9_percent_move_stays_silent(new_price: float) -> None:
    monitor = make_monitor()
    rows = [price_point(0, price=10.0), price_point(30, price=new_price)]
    assert monitor.process(batch(*rows)) == []


def test_the_window_is_sliding_not_from_the_first_price() -> None:
    monitor = make_monitor()
    rows = [price_point(0, price=10.0), price_point(50, price=11.0), price_point(100, price=12.2)]
    alerts = monitor.process(batch(*rows))
    # 12.2 is 22% above 10.0 but 100 minutes later; within the hour it is 10.9% above 11.0
    assert alerts == []
    alerts = monitor.process(batch(price_point(105, price=12.7)))
    assert len(alerts) == 1
    assert alerts[0].evidence["reference_price"] == 11.0


def test_moves_in_other_stores_do_not_mix() -> None:
    monitor = make_monitor()
    rows = [price_point(0, price=10.0, store_id="S1"), price_point(10, price=13.0, store_id="S2")]
    assert monitor.process(batch(*rows)) == []


def test_a_double_threshold_move_is_critical_and_rows_may_come_out_of_order() -> None:
    monitor = make_monitor()
    alerts = monitor.process(batch(price_point(20, price=14.0), price_point(0, price=10.0)))
    assert len(alerts) == 1
    assert alerts[0].severity == Severity.CRITICAL
    assert alerts[0].evidence["price"] == 14.0


def test_the_threshold_comes_from_the_config() -> None:
    monitor = make_monitor(price_move={"threshold_pct": 5, "critical_pct": 10})
    assert len(monitor.process(batch(price_point(0, price=10.0), price_point(5, price=10.6)))) == 1
