from __future__ import annotations

import pytest
from monitor_rows import batch, make_monitor, price_point

from core.alerts import AlertKind


def store(store_id: str, price: float, minutes: float = 0, **place: str) -> dict:
    return price_point(minutes, store_id=store_id, price=price, **place)


PEERS = [store(f"N{i}", 10.0 + i * 0.1) for i in range(3)]  # median 10.1


@pytest.mark.parametrize(("price", "fires"), [(12.13, True), (12.11, False), (8.07, True),
                                              (8.09, False)])
def test_price_against_the_median_of_same_city_stores(price: float, fires: bool) -> None:
    monitor = make_monitor()
    monitor.process(batch(*PEERS))
    alerts = monitor.process(batch(store("S1", price, 10)))
    assert [a.kind for a in alerts] == ([AlertKind.GEO_ANOMALY] if fires else [])
    if fires:
        assert alerts[0].evidence["peer_median_price"] == pytest.approx(10.1)
        assert alerts[0].evidence["peers"] == 3
        assert alerts[0].suggested_action.price == 10.1


def test_fewer_peers_than_required_stays_silent() -> None:
    monitor = make_monitor()
    monitor.process(batch(*PEERS[:2]))
    assert monitor.process(batch(store("S1", 20.0, 10))) == []


def test_postal_prefix_peers_count_but_not_in_another_region() -> None:
    elsewhere = {"city": "Evanston", "postal_code": "60699"}
    monitor = make_monitor()
    monitor.process(batch(*[store(f"N{i}", 10.0, **elsewhere) for i in range(3)]))
    assert len(monitor.process(batch(store("S1", 13.0, 10)))) == 1

    other_region = make_monitor()
    other_region.process(batch(*[
        store(f"N{i}", 10.0, region="west", **elsewhere) for i in range(3)
    ]))
    assert other_region.process(batch(store("S1", 13.0, 10))) == []


def test_a_chain_wide_change_in_one_batch_is_not_an_anomaly() -> None:
    monitor = make_monitor(price_move={"threshold_pct": 90, "critical_pct": 95})
    monitor.process(batch(*[store(f"N{i}", 10.0) for i in range(5)]))
    assert monitor.process(batch(*[store(f"N{i}", 13.0, 10) for i in range(5)])) == []


def test_stale_peers_are_ignored() -> None:
    monitor = make_monitor()
    monitor.process(batch(*PEERS))
    assert monitor.process(batch(store("S1", 20.0, 25 * 60))) == []
