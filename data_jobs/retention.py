"""Apply the price-point retention policy to a lake (plain Python: it only moves files).

    python -m data_jobs.retention [--lake URI] [--dry-run] [--today YYYY-MM-DD]
    ray job submit --working-dir . -- python -m data_jobs.retention --lake s3://bucket/lake
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.lake import PRICE_POINTS, PRICE_POINTS_ARCHIVE, Lake
from core.retention import (
    Partition,
    RetentionPlan,
    RetentionPolicy,
    RetentionResult,
    apply_retention,
    plan_retention,
)
from core.settings import Settings

console = Console()


def _span(partitions: list[Partition]) -> str:
    days = sorted(p.day.isoformat() for p in partitions if p.day)
    return f"{days[0]} .. {days[-1]}" if days else "-"


def summary(plan: RetentionPlan, result: RetentionResult | None, lake: Lake) -> Table:
    table = Table(title=f"retention of {lake.uri}" + (" (dry run)" if result is None else ""))
    for column in ("action", "partitions", "dates", "files", "MiB"):
        table.add_column(column, justify="left" if column in ("action", "dates") else "right")
    done = result or RetentionResult()
    rows = (
        (f"archive to {PRICE_POINTS_ARCHIVE}", plan.archive, done.archived_files,
         done.archived_bytes),
        ("delete (older than a year)", plan.delete, done.deleted_files, done.deleted_bytes),
        ("skipped (no readable date)", plan.skipped, 0, 0),
    )
    for action, partitions, files, size in rows:
        table.add_row(action, str(len(partitions)), _span(partitions),
                      "-" if result is None else str(files),
                      "-" if result is None else f"{size / 2**20:.2f}")
    return table


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan")] = False,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default today (UTC)")] = None,
    hot_days: Annotated[int, typer.Option(help="Days a partition stays hot")] = 90,
    keep_days: Annotated[int, typer.Option(help="Days before a partition is deleted")] = 365,
) -> None:
    """Archive raw price points older than 90 days; delete those older than a year."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    plan = plan_retention(day, target.partitions(PRICE_POINTS),
                          target.partitions(PRICE_POINTS_ARCHIVE),
                          RetentionPolicy(hot_days=hot_days, keep_days=keep_days))
    result = None if dry_run else apply_retention(target, plan)
    console.print(summary(plan, result, target))


if __name__ == "__main__":
    typer.run(main)
