"""The Ray Data task of `data_jobs.price_features`: a group of lake files in, feature
partials out. Apart from the command so that a worker imports only numpy, pyarrow and
`core.retail` (not typer, rich, pydantic or YAML) before its first task."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core.retail.features import feature_partials
from core.retail.observations import LAKE_COLUMNS, in_window, observations

TEXT_COLUMNS = ["product_id", "store_id", "city", "category"]  # read as dictionaries
# region is the partition; of the competitor map only the prices (a list: its offsets count them)
_FILE_COLUMNS = [{"competitor_prices": "competitor_prices.key_value.value"}.get(c, c)
                 for c in LAKE_COLUMNS if c != "region"]
_PARTITIONING = pads.partitioning(pa.schema([("region", pa.string()), ("date", pa.string())]),
                                  flavor="hive")


def to_ipc(table: pa.Table) -> bytes:
    """A table as Arrow IPC stream bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    """The table `to_ipc` wrote."""
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def read_files(paths: list[str], fs: pafs.FileSystem, base_dir: str) -> pa.Table:
    """LAKE_COLUMNS of lake files, one file after the other on this thread (a task has one
    CPU): text as dictionaries (unified across files), region from the partition path,
    competitor_prices as the list of prices without their names."""
    tables = []
    remote = not isinstance(fs, pafs.LocalFileSystem)  # pre-buffering coalesces S3 requests
    for path in paths:
        with pq.ParquetFile(path, filesystem=fs, read_dictionary=TEXT_COLUMNS,
                            pre_buffer=remote) as file:
            table = file.read(_FILE_COLUMNS, use_threads=False)
        folder = path[len(base_dir):].strip("/").rsplit("/", 1)[0]
        region = pads.get_partition_keys(_PARTITIONING.parse(folder))["region"]
        tables.append(table.append_column("region", pa.DictionaryArray.from_arrays(
            np.zeros(table.num_rows, np.int32), pa.array([region]))))
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks()


def block_partials(block: pa.Table, zones: dict[str, str], start: date | None,
                   end: date | None, as_of: date) -> pa.Table:
    """One block of lake rows -> one row per rollup holding its partial as Arrow IPC bytes."""
    obs = in_window(observations(block, zones),
                    np.datetime64(start) if start else None, np.datetime64(end) if end else None)
    partials = feature_partials(obs, np.datetime64(as_of))
    return pa.table({"rollup": list(partials), "rows": [obs.num_rows] * len(partials),
                     "payload": [to_ipc(t) for t in partials.values()]})


def group_partials(batch: pa.Table, fs: pafs.FileSystem, base_dir: str,
                   zones: dict[str, str], start: date | None, end: date | None,
                   as_of: date) -> pa.Table:
    """Read one group of lake files (pruned columns) and reduce it with `block_partials`."""
    paths = [path for group in batch["paths"].to_pylist() for path in group]
    return block_partials(read_files(paths, fs, base_dir), zones, start, end, as_of)
