from __future__ import annotations

import pytest
from monitor_rows import batch, make_monitor, price_point

from core.alerts import AlertKind, Severity


def with_competitor(minutes: float, ours: float, theirs: float, name: str = "acme") -> dict:
    return price_point(minutes, price=ours, competitor_prices=[(name, theirs)])


@pytest.mark.parametrize(
    ("ours", "fires", "side"),
    [(11.01, True, "above"), (10.99, False, "above"),
     (7.99, True, "below"), (8.01, False, "below")],
)
def test_gap_to_a_competitor(ours: float, fires: bool, side: str) -> None:
    alerts = make_monitor().process(batch(with_competitor(0, ours, 10.0)))
    assert [a.kind for a in alerts] == ([AlertKind.COMPETITOR_GAP] if fires else [])
    if fires:
        assert alerts[0].dedup_key == f"competitor_gap:P1:S1:acme:{side}"
        assert alerts[0].evidence["competitor_price"] == 10.0
        expected_target = 11.0 if side == "above" else 8.0
        assert alerts[0].suggested_action.price == expected_target


def test_a_gap_beyond_the_critical_level_is_critical() -> None:
    alerts = make_monitor().process(batch(with_competitor(0, 13.5, 10.0)))
    assert alerts[0].severity == Severity.CRITICAL


@pytest.mark.parametrize(("their_new", "fires"), [(11.01, True), (10.99, False), (8.99, True)])
def test_a_competitor_move_since_last_seen(their_new: float, fires: bool) -> None:
    monitor = make_monitor()
    assert monitor.process(batch(with_competitor(0, 10.0, 10.0))) == []
    alerts = monitor.process(batch(with_competitor(600, 10.0, their_new)))
    alerts = [a for a in alerts if a.kind != AlertKind.COMPETITOR_GAP]
    assert [a.kind for a in alerts] == ([AlertKind.COMPETITOR_MOVE] if fires else [])
    if fires:
        assert alerts[0].evidence["previous_competitor_price"] == 10.0


def test_each_competitor_is_tracked_separately_and_nulls_are_ignored() -> None:
    monitor = make_monitor()
    monitor.process(batch(price_point(0, competitor_prices=[("acme", 10.0), ("bolt", None)])))
    alerts = monitor.process(batch(price_point(5, competitor_prices=[("bolt", 10.5)])))
    assert alerts == []
