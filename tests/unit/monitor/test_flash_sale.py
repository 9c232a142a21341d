from __future__ import annotations

import pytest
from monitor_rows import batch, make_monitor, price_point

from core.alerts import AlertKind, Severity


def hourly_history(hours: int, units: int = 1, inventory: int = 500) -> list[dict]:
    """One row per hour selling `units` (a steady 24 units a day by default)."""
    return [price_point(60 * h, units_sold=units, inventory_level=inventory) for h in range(hours)]


def rush(start_hour: int, units: int, inventory: int) -> list[dict]:
    """The next three hours (the recent window) selling `units` each."""
    return [
        price_point(60 * h + 5, units_sold=units, inventory_level=inventory)
        for h in range(start_hour, start_hour + 3)
    ]


def test_high_stock_and_rising_demand_fires() -> None:
    monitor = make_monitor(cooldown_minutes=180)
    assert monitor.process(batch(*hourly_history(48))) == []
    alerts = monitor.process(batch(*rush(48, units=2, inventory=1000)))
    assert [a.kind for a in alerts] == [AlertKind.FLASH_SALE]
    alert = alerts[0]
    assert alert.severity == Severity.INFO
    assert alert.evidence["trailing_units_per_hour"] == pytest.approx(1.0)
    assert alert.evidence["days_of_supply"] == pytest.approx(1000 / 24, abs=0.01)
    assert alert.suggested_action.price == 9.0


def test_just_under_the_days_of_supply_stays_silent() -> None:
    monitor = make_monitor()
    monitor.process(batch(*hourly_history(48)))
    assert monitor.process(batch(*rush(48, units=2, inventory=719))) == []  # 29.96 days


def test_demand_at_its_average_stays_silent() -> None:
    monitor = make_monitor()
    monitor.process(batch(*hourly_history(48)))
    assert monitor.process(batch(*rush(48, units=1, inventory=5000))) == []


def test_too_little_history_stays_silent() -> None:
    monitor = make_monitor()
    monitor.process(batch(*hourly_history(20)))
    assert monitor.process(batch(*rush(20, units=5, inventory=5000))) == []
