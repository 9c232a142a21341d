"""Nightly retail features: Ray Data reads the price-point lake (pruned by date, region and
column), each block is reduced to sufficient statistics with pyarrow inside `map_batches`,
the small partials are merged on the driver, and a new feature version is written.

    python -m data_jobs.price_features [--lake URI] [--start D --end D] [--regions a,b]
    dynaprice submit price_features -- --start 2025-01-01 --end 2025-03-31
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import ray
import typer
from ray.data.datasource.partitioning import Partitioning
from rich.console import Console
from rich.table import Table

from core.lake import PRICE_POINTS, Lake
from core.retail.feature_store import FeatureStore, FeatureWindow
from core.retail.features import FeatureSet, combine_partials, feature_partials, finish_features
from core.retail.observations import LAKE_COLUMNS, in_window, observations, region_timezones
from core.settings import Settings

console = Console()


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def block_partials(block: pa.Table, zones: dict[str, str], start: date | None,
                   end: date | None, as_of: date) -> pa.Table:
    """One block of lake rows -> one row per rollup holding its partial as Arrow IPC bytes."""
    obs = in_window(observations(block, zones),
                    np.datetime64(start) if start else None, np.datetime64(end) if end else None)
    partials = feature_partials(obs, np.datetime64(as_of))
    return pa.table({"rollup": list(partials), "rows": [obs.num_rows] * len(partials),
                     "payload": [_to_ipc(t) for t in partials.values()]})


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
    paths = [lake.path(PRICE_POINTS, f"region={p['region']}", f"date={p['date']}")
             for p in partitions]
    dataset = ray.data.read_parquet(
        paths, filesystem=lake.fs,
        partitioning=Partitioning("hive", base_dir=lake.path(PRICE_POINTS)),
    ).select_columns(list(LAKE_COLUMNS))
    partials = dataset.map_batches(
        block_partials, batch_format="pyarrow", batch_size=None, zero_copy_batch=True,
        fn_kwargs={"zones": region_timezones(configs_dir), "start": start, "end": end,
                   "as_of": as_of})
    rows = partials.take_all()
    by_block: list[dict[str, pa.Table]] = [
        {row["rollup"]: _from_ipc(row["payload"])} for row in rows]
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
