"""The retention job on a local lake and on a moto S3 lake."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import boto3
import pyarrow as pa
import pytest

from core.lake import PRICE_POINTS, PRICE_POINTS_ARCHIVE, Lake
from data_jobs.retention import main as run_retention

TODAY = date(2026, 11, 25)
AGES = {"hot": 90, "archive": 91, "drop": 366}  # record id -> age in days of its partition


def day(age: int) -> str:
    return (TODAY - timedelta(days=age)).isoformat()


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, lake_uri: str) -> Lake:
    if request.param == "local":
        return Lake.open(lake_uri)
    endpoint = request.getfixturevalue("aws_endpoint")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return Lake.open(f"s3://{bucket}/lake", endpoint)


def seed(lake: Lake) -> None:
    """One hot file per age, and an archived file 366 days old."""
    records = {"record_id": list(AGES), "region": ["west"] * len(AGES),
               "date": [day(age) for age in AGES.values()]}
    lake.write_partitioned(pa.table(records), PRICE_POINTS, ["region", "date"])
    old = {"record_id": ["archived-old", "archived-young"], "region": ["west", "west"],
           "date": [day(366), day(365)]}
    lake.write_partitioned(pa.table(old), PRICE_POINTS_ARCHIVE, ["region", "date"])


def record_ids(lake: Lake, area: str) -> list[str]:
    return sorted(lake.read(area, ["record_id"])["record_id"].to_pylist()) if lake.exists(
        area) else []


def test_old_partitions_move_to_the_archive_and_year_old_ones_go(lake: Lake) -> None:
    seed(lake)
    run_retention(lake=lake.uri, today=TODAY.isoformat())
    assert record_ids(lake, PRICE_POINTS) == ["hot"]
    assert record_ids(lake, PRICE_POINTS_ARCHIVE) == ["archive", "archived-young"]
    assert {p["date"] for p in lake.partitions(PRICE_POINTS_ARCHIVE)} == {day(91), day(365)}

    run_retention(lake=lake.uri, today=TODAY.isoformat())  # a rerun changes nothing
    assert record_ids(lake, PRICE_POINTS) == ["hot"]
    assert record_ids(lake, PRICE_POINTS_ARCHIVE) == ["archive", "archived-young"]


def test_a_dry_run_moves_nothing(lake: Lake) -> None:
    seed(lake)
    run_retention(lake=lake.uri, today=TODAY.isoformat(), dry_run=True)
    assert record_ids(lake, PRICE_POINTS) == sorted(AGES)
    assert record_ids(lake, PRICE_POINTS_ARCHIVE) == ["archived-old", "archived-young"]
