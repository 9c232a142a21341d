"""Nightly retail features: Ray Data reads the price-point lake (pruned by date, region and
column; files listed once on the driver, read in groups of ~32 MB), each group is reduced
to sufficient statistics with pyarrow inside `map_batches`, the small partials are merged
on the driver, and a new feature version is written.

    python -m data_jobs.price_features [--lake URI] [--start D --end D] [--regions a,b]
    dynaprice submit price_features -- --start 2025-01-01 --end 2025-03-31
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.fs as pafs
import ray
import typer
from rich.console import Console
from rich.table import Table

from core.lake import PRICE_POINTS, Lake
from core.retail.feature_store import FeatureStore, FeatureWindow
from core.retail.features import FeatureSet, combine_partials, finish_features
from core.retail.observations import region_timezones
from core.settings import Settings
from data_jobs.price_blocks import from_ipc, group_partials

console = Console()
TASK_BYTES = 32 * 1024 * 1024  # Parquet bytes one task reads: some 600 thousand records


def file_groups(lake: Lake, partitions: list[dict[str, str]],
                task_bytes: int = TASK_BYTES) -> list[list[str]]:
    """The Parquet files of `partitions` (one listing), in runs of about `task_bytes`."""
    folders = {lake.path(PRICE_POINTS, f"region={p['region']}", f"date={p['date']}")
               for p in partitions}
    infos = sorted((info for info in lake.fs.get_file_info(
        pafs.FileSelector(lake.path(PRICE_POINTS), recursive=True))
        if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
        and not info.base_name.startswith((".", "_"))
        and info.path.rsplit("/", 1)[0] in folders), key=lambda info: info.path)
    groups: list[list[str]] = [[]]
    filled = 0
    for info in infos:
        if groups[-1] and filled + (info.size or 0) > task_bytes:
            groups.append([])
            filled = 0
        groups[-1].append(info.path)
        filled += info.size or 0
    return groups


def source_partitions(lake: Lake, start: date | None, end: date | None,
                      regions: list[str] | None) -> list[dict[str, str]]:
    """Lake partitions that can hold local days in [start, end]: UTC dates up to end + 1."""
    last = end + timedelta(days=1) if end else None
    return [p for p in lake.partitions(PRICE_POINTS)
            if (regions is None or p.get("region") in regions)
            and (start is None or p["date"] >= start.isoformat())
            and (last is None or p["date"] <= last.isoformat())]


def compute_features(lake: Lake, start: date | None = None, end: date | None = None,
                     regions: list[str] | None = None, configs_dir: Any = None,
                     ) -> tuple[FeatureSet, FeatureWindow]:
    """Read the pruned lake with Ray Data and build the feature tables."""
    partitions = source_partitions(lake, start, end, regions)
    if not partitions:
        raise typer.BadParameter("no price-point partitions in that window")
    as_of = end or date.fromisoformat(max(p["date"] for p in partitions))
    # Files listed once here and read by pyarrow in the tasks: Ray Data's read_parquet
    # spent most of the job listing (a task per folder) and fetching footers.
    groups = file_groups(lake, partitions)
    dataset = ray.data.from_items([{"paths": group} for group in groups],
                                  override_num_blocks=len(groups))
    partials = dataset.map_batches(
        group_partials, batch_format="pyarrow", batch_size=None,
        fn_kwargs={"fs": lake.fs, "base_dir": lake.path(PRICE_POINTS),
                   "zones": region_timezones(configs_dir), "start": start, "end": end,
                   "as_of": as_of})
    rows = partials.take_all()
    by_block: list[dict[str, pa.Table]] = [
        {row["rollup"]: from_ipc(row["payload"])} for row in rows]
    records = sum(row["rows"] for row in rows if row["rollup"] == "pl")
    features = finish_features(combine_partials(by_block))
    window = FeatureWindow(start=start, end=end, as_of=as_of, regions=regions,
                           source_partitions=partitions, records_read=int(records))
    return features, window


def summary(manifest: dict[str, Any]) -> Table:
    table = Table(title=f"feature version {manifest['version']}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, count in manifest["row_counts"].items():
        table.add_row(f"rows: {name}", str(count))
    table.add_row("records read", str(manifest["records_read"]))
    table.add_row("source partitions", str(len(manifest["source_partitions"])))
    for check in manifest["checks"]:
        table.add_row(f"check: {check['name']}", "ok" if check["passed"] else "FAILED")
    return table


def main(
    lake: Annotated[str | None, typer.Option(help="Lake URI; default LAKE_URI")] = None,
    start: Annotated[str | None, typer.Option(help="First local day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option(help="Last local day, YYYY-MM-DD")] = None,
    regions: Annotated[str | None, typer.Option(help="Comma-separated regions")] = None,
) -> None:
    """Compute the retail features of a window and store them as the current version."""
    settings = Settings.from_env()
    target = Lake.open(lake or settings.lake_uri, settings.aws_endpoint_url)
    features, window = compute_features(
        target, date.fromisoformat(start) if start else None,
        date.fromisoformat(end) if end else None,
        regions.split(",") if regions else None, settings.configs_dir)
    manifest = FeatureStore(target).write(features, window)
    console.print(summary(manifest))


if __name__ == "__main__":
    typer.run(main)
