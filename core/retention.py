"""Retention of raw price points: 90 days hot, then the archive prefix, deleted after a year.

The archive tier is a separate lake prefix (`archive/price_points/region=/date=/`) on every
filesystem, local or S3: one code path, and the archive stays readable with `Lake.read`. On S3
a lifecycle rule on that prefix can move it to a colder storage class. Files are moved one at
a time (copy, then delete the source), so a rerun after a crash finishes the job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow.fs as pafs

from core.lake import PRICE_POINTS, PRICE_POINTS_ARCHIVE, Lake


@dataclass(frozen=True)
class RetentionPolicy:
    """Partitions older than `hot_days` are archived; older than `keep_days`, deleted."""

    hot_days: int = 90
    keep_days: int = 365


@dataclass(frozen=True)
class Partition:
    """One leaf partition of an area, e.g. {'region': 'west', 'date': '2026-01-31'}."""

    area: str
    values: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, area: str, values: dict[str, str]) -> Partition:
        return cls(area, tuple(values.items()))

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(f"{column}={value}" for column, value in self.values)

    @property
    def day(self) -> date | None:
        """The partition's `date`, or None when it has none or it is not YYYY-MM-DD."""
        try:
            return date.fromisoformat(dict(self.values)["date"])
        except (KeyError, ValueError):
            return None


@dataclass
class RetentionPlan:
    """What one retention run does; `skipped` partitions have no readable date."""

    archive: list[Partition] = field(default_factory=list)
    delete: list[Partition] = field(default_factory=list)
    skipped: list[Partition] = field(default_factory=list)


def plan_retention(
    today: date, hot: Iterable[dict[str, str]], archived: Iterable[dict[str, str]],
    policy: RetentionPolicy = RetentionPolicy(),
) -> RetentionPlan:
    """Hot partitions past `hot_days` go to the archive, anything past `keep_days` is deleted.

    Age is whole days since the partition's date: on day `hot_days` a partition is still hot,
    on day `keep_days` it is still kept. A hot partition already past `keep_days` is deleted
    without being archived first.
    """
    plan = RetentionPlan()
    for area, values_list in ((PRICE_POINTS, hot), (PRICE_POINTS_ARCHIVE, archived)):
        for values in values_list:
            partition = Partition.of(area, values)
            if partition.day is None:
                plan.skipped.append(partition)
                continue
            age = (today - partition.day).days
            if age > policy.keep_days:
                plan.delete.append(partition)
            elif age > policy.hot_days and area == PRICE_POINTS:
                plan.archive.append(partition)
    return plan


@dataclass
class RetentionResult:
    """Files and bytes each step touched."""

    archived_files: int = 0
    archived_bytes: int = 0
    deleted_files: int = 0
    deleted_bytes: int = 0


def _data_files(lake: Lake, partition: Partition) -> list[pafs.FileInfo]:
    """The partition's visible Parquet files (a writer's `.tmp-` file is left alone)."""
    folder = lake.path(partition.area, *partition.folders)
    infos = lake.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    return [info for info in infos if info.type == pafs.FileType.File
            and info.base_name.endswith(".parquet")
            and not info.base_name.startswith((".", "_"))]


def _remove_if_empty(lake: Lake, partition: Partition) -> None:
    folder = lake.path(partition.area, *partition.folders)
    selector = pafs.FileSelector(folder, allow_not_found=True, recursive=True)
    if not any(info.type == pafs.FileType.File for info in lake.fs.get_file_info(selector)):
        with contextlib.suppress(FileNotFoundError):
            lake.fs.delete_dir(folder)


def apply_retention(lake: Lake, plan: RetentionPlan) -> RetentionResult:
    """Move `plan.archive` to the archive prefix and delete `plan.delete`, file by file."""
    result = RetentionResult()
    for partition in plan.archive:
        target = lake.path(PRICE_POINTS_ARCHIVE, *partition.folders)
        lake.fs.create_dir(target, recursive=True)
        for info in _data_files(lake, partition):
            destination = f"{target}/{info.base_name}"
            if lake.is_s3:  # no rename on S3: copy, then delete the source
                lake.fs.copy_file(info.path, destination)
                lake.fs.delete_file(info.path)
            else:
                lake.fs.move(info.path, destination)
            result.archived_files += 1
            result.archived_bytes += info.size or 0
        _remove_if_empty(lake, partition)
    for partition in plan.delete:
        for info in _data_files(lake, partition):
            lake.fs.delete_file(info.path)
            result.deleted_files += 1
            result.deleted_bytes += info.size or 0
        _remove_if_empty(lake, partition)
    return result
