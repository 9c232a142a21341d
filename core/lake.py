"""The one place that knows every path of the Parquet lake (local folder or s3://bucket/prefix)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

PRICE_POINTS = "raw/price_points"
PRICE_POINTS_ARCHIVE = "archive/price_points"
DEAD_LETTERS = "dlq/price_points"
AUDIENCE = "raw/audience"
RETAIL_FEATURES = "features/retail"
AUDIENCE_MARTS = "marts"
ADVERTISING_METRICS = f"{AUDIENCE_MARTS}/advertising_metrics"  # hourly, per location
AUDIENCE_FORECASTS = "forecasts/audience"
MODELS = "models"
AUDIT = "audit"
RETAIL_AUDIT = f"{AUDIT}/retail"  # review decisions, partitioned by date=


def s3_filesystem(endpoint_url: str | None = None) -> pafs.S3FileSystem:
    """An S3 filesystem; `endpoint_url` (or AWS_ENDPOINT_URL) points it at moto or MinIO."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return pafs.S3FileSystem(region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parsed = urlparse(endpoint)
    return pafs.S3FileSystem(
        endpoint_override=parsed.netloc, scheme=parsed.scheme or "http",
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )


@dataclass(frozen=True)
class Lake:
    """A lake root on a pyarrow filesystem, with atomic partitioned writes and pruned reads."""

    fs: pafs.FileSystem
    root: str
    uri: str

    @classmethod
    def open(cls, uri: str, endpoint_url: str | None = None) -> Lake:
        if uri.startswith("s3://"):
            return cls(s3_filesystem(endpoint_url), uri.removeprefix("s3://").rstrip("/"), uri)
        root = str(Path(uri).expanduser().resolve())
        return cls(pafs.LocalFileSystem(), root, root)

    @property
    def is_s3(self) -> bool:
        return isinstance(self.fs, pafs.S3FileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def write_partitioned(
        self, table: pa.Table, area: str, partition_cols: Sequence[str]
    ) -> list[str]:
        """Write one file per partition; each becomes visible whole (temp name, then rename).

        Returns the written paths; when it returns, every row is in a closed file.
        """
        if table.num_rows == 0:
            return []
        cols = list(partition_cols)
        key = pc.binary_join_element_wise(*[table[c].cast(pa.string()) for c in cols], "\x1f")
        encoded = key.combine_chunks().dictionary_encode() if isinstance(key, pa.ChunkedArray) \
            else key.dictionary_encode()
        codes = encoded.indices.to_numpy()
        order = np.argsort(codes, kind="stable")
        ordered = table.take(pa.array(order)).drop_columns(cols)
        counts = np.bincount(codes, minlength=len(encoded.dictionary))
        written, start = [], 0
        for values, count in zip(encoded.dictionary.to_pylist(), counts, strict=True):
            folder = self.path(area, *(f"{c}={v}" for c, v in zip(cols, values.split("\x1f"),
                                                                    strict=True)))
            written.append(self._write_file(ordered.slice(start, int(count)), folder))
            start += int(count)
        return written

    def write_file(self, table: pa.Table, area: str, name: str | None = None) -> str:
        """Write `table` as one file in `area` (no partitions)."""
        return self._write_file(table, self.path(area), name)

    def _write_file(self, table: pa.Table, folder: str, name: str | None = None) -> str:
        name = name or f"part-{uuid.uuid4().hex}.parquet"
        final = f"{folder}/{name}"
        self.fs.create_dir(folder, recursive=True)
        if self.is_s3:  # an S3 PUT is atomic already
            pq.write_table(table, final, filesystem=self.fs, compression="zstd")
            return final
        temp = f"{folder}/.tmp-{name}"
        pq.write_table(table, temp, filesystem=self.fs, compression="zstd")
        with open(temp, "rb+") as handle:  # durable before we acknowledge
            os.fsync(handle.fileno())
        self.fs.move(temp, final)
        return final

    def exists(self, area: str) -> bool:
        return self.fs.get_file_info(self.path(area)).type != pafs.FileType.NotFound

    def dataset(self, area: str, schema: pa.Schema | None = None) -> ds.Dataset:
        """A hive-partitioned dataset over `area` (hidden `.tmp-` files are ignored)."""
        return ds.dataset(
            self.path(area), filesystem=self.fs, format="parquet", partitioning="hive",
            schema=schema, ignore_prefixes=[".", "_"],
        )

    def read(
        self, area: str, columns: Sequence[str] | None = None,
        filter: pc.Expression | None = None, schema: pa.Schema | None = None,
    ) -> pa.Table:
        """Read `area` with column and partition pruning; an absent area reads as empty."""
        if not self.exists(area):
            if schema is None:
                return pa.table({})
            empty = schema.empty_table()
            return empty.select(list(columns)) if columns else empty
        return self.dataset(area, schema).to_table(columns=list(columns) if columns else None,
                                                   filter=filter)

    def partitions(self, area: str) -> list[dict[str, str]]:
        """Every leaf partition under `area` as {column: value}, sorted."""
        if not self.exists(area):
            return []
        selector = pafs.FileSelector(self.path(area), recursive=True)
        found = set()
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.base_name.endswith(".parquet"):
                continue
            if info.base_name.startswith((".", "_")):
                continue
            rel = info.path[len(self.path(area)) + 1:].split("/")[:-1]
            found.add(tuple(tuple(part.split("=", 1)) for part in rel if "=" in part))
        return [dict(parts) for parts in sorted(found)]

    def size_bytes(self, area: str = "") -> int:
        base = self.path(area) if area else self.root
        if self.fs.get_file_info(base).type == pafs.FileType.NotFound:
            return 0
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True))
        return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)
