"""The retention planner at its boundaries: day 90 hot / 91 archived, day 365 kept / 366 deleted."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.lake import PRICE_POINTS, PRICE_POINTS_ARCHIVE
from core.retention import Partition, RetentionPolicy, plan_retention

TODAY = date(2026, 11, 25)


def partition(age_days: int, region: str = "west") -> dict[str, str]:
    return {"region": region, "date": (TODAY - timedelta(days=age_days)).isoformat()}


@pytest.mark.parametrize(("age", "archived"), [(0, False), (90, False), (91, True), (365, True)])
def test_hot_partitions_are_archived_after_90_days(age: int, archived: bool) -> None:
    plan = plan_retention(TODAY, [partition(age)], [])
    assert plan.archive == ([Partition.of(PRICE_POINTS, partition(age))] if archived else [])
    assert plan.delete == []


@pytest.mark.parametrize(("age", "deleted"), [(91, False), (365, False), (366, True)])
def test_archived_partitions_are_deleted_after_a_year(age: int, deleted: bool) -> None:
    plan = plan_retention(TODAY, [], [partition(age)])
    assert plan.delete == ([Partition.of(PRICE_POINTS_ARCHIVE, partition(age))] if deleted
                           else [])
    assert plan.archive == []


def test_a_hot_partition_older_than_a_year_is_deleted_not_archived() -> None:
    plan = plan_retention(TODAY, [partition(366)], [])
    assert plan.delete == [Partition.of(PRICE_POINTS, partition(366))]
    assert plan.archive == []


def test_partitions_without_a_readable_date_are_skipped() -> None:
    odd = [{"region": "west", "date": "yesterday"}, {"region": "west"}]
    plan = plan_retention(TODAY, odd, [])
    assert plan.skipped == [Partition.of(PRICE_POINTS, values) for values in odd]
    assert plan.archive == plan.delete == []


def test_the_policy_is_a_parameter() -> None:
    plan = plan_retention(TODAY, [partition(8), partition(7)], [partition(31), partition(30)],
                          RetentionPolicy(hot_days=7, keep_days=30))
    assert [p.day for p in plan.archive] == [TODAY - timedelta(days=8)]
    assert [p.day for p in plan.delete] == [TODAY - timedelta(days=31)]


def test_partition_folders_follow_the_hive_layout() -> None:
    assert Partition.of(PRICE_POINTS, partition(1)).folders == (
        "region=west", f"date={(TODAY - timedelta(days=1)).isoformat()}")
