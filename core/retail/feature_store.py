"""The versioned retail feature store: `features/retail/version=V/` holds one Parquet file
per feature table and `manifest.json`; `features/retail/current.json` names the current
version. A version is written once and never changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.lake import RETAIL_FEATURES, Lake
from core.retail.documents import read_json, write_json
from core.retail.features import ALL_SEASONS, FeatureSet

MANIFEST = "manifest.json"
CURRENT = "current.json"


class FeatureVersionExists(FileExistsError):
    """Versions are immutable: a version id is written once."""


@dataclass(frozen=True)
class FeatureWindow:
    """What a version was computed from."""

    start: date | None
    end: date | None
    as_of: date
    regions: Sequence[str] | None
    source_partitions: Sequence[dict[str, str]]
    records_read: int


def new_version(now: datetime | None = None) -> str:
    """A sortable, unique version id such as 20260101T020000Z-1a2b."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:4]}"


def _column_health(table: pa.Table, as_of: date) -> dict[str, dict[str, Any]]:
    """Completeness (share of non-null, finite values) and freshness of each feature column."""
    last = table["last_day"] if "last_day" in table.column_names else None
    fresh = pc.max(last).as_py() if last is not None and table.num_rows else None
    health = {}
    for name in table.column_names:
        column = table[name]
        valid = pc.is_valid(column)
        if pa.types.is_floating(column.type):
            valid = pc.and_(valid, pc.is_finite(column).fill_null(False))
        share = pc.sum(valid).as_py() / table.num_rows if table.num_rows else 0.0
        health[name] = {"completeness": round(share or 0.0, 4),
                        "fresh_through": str(fresh or as_of),
                        "age_days": (as_of - fresh).days if fresh else None}
    return health


def consistency_checks(features: FeatureSet, records_read: int) -> list[dict[str, Any]]:
    """Invariants every version must satisfy; the manifest records each one's outcome."""
    pl = features.product_locations
    every = pl.filter(pc.equal(pl["season"], ALL_SEASONS))
    seasons = pl.filter(pc.not_equal(pl["season"], ALL_SEASONS))

    def arr(table: pa.Table, name: str) -> np.ndarray:
        return table[name].to_numpy(zero_copy_only=False).astype(float)

    ordered = (arr(every, "price_min") <= arr(every, "price_p05") + 1e-9) & \
        (arr(every, "price_p05") <= arr(every, "price_median") + 1e-9) & \
        (arr(every, "price_median") <= arr(every, "price_p95") + 1e-9) & \
        (arr(every, "price_p95") <= arr(every, "price_max") + 1e-9)
    corr = arr(every, "price_units_corr")
    checks = [
        ("observations_add_up", int(arr(every, "n_obs").sum()) == records_read,
         f"{int(arr(every, 'n_obs').sum())} of {records_read} records"),
        ("seasons_add_up", int(arr(seasons, "n_obs").sum()) == records_read,
         f"{int(arr(seasons, 'n_obs').sum())} of {records_read} records"),
        ("price_quantiles_ordered", bool(ordered.all()),
         f"{int((~ordered).sum())} product-locations out of order"),
        ("correlation_in_range", bool((np.abs(corr[np.isfinite(corr)]) <= 1 + 1e-9).all()),
         "|price-volume correlation| <= 1"),
        ("prices_positive", bool((arr(every, "price_min") > 0).all()), "every price > 0"),
    ]
    return [{"name": n, "passed": bool(ok), "detail": d} for n, ok, d in checks]


class FeatureStore:
    """Read and write versions of the retail features in one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def _folder(self, version: str) -> str:
        return f"{RETAIL_FEATURES}/version={version}"

    def versions(self) -> list[str]:
        return sorted(p["version"] for p in self.lake.partitions(RETAIL_FEATURES)
                      if "version" in p)

    def write(self, features: FeatureSet, window: FeatureWindow, version: str | None = None,
              make_current: bool = True) -> dict[str, Any]:
        """Store `features` as a new version with its manifest; returns the manifest."""
        version = version or new_version()
        folder = self._folder(version)
        if self.lake.exists(folder):
            raise FeatureVersionExists(f"feature version {version} already exists")
        for name, table in features.tables().items():
            self.lake.write_file(table, folder, f"{name}.parquet")
        manifest = {
            "version": version,
            "created_at": datetime.now(UTC).isoformat(),
            "window": {"start": str(window.start) if window.start else None,
                       "end": str(window.end) if window.end else None,
                       "as_of": str(window.as_of)},
            "regions": list(window.regions) if window.regions else None,
            "records_read": window.records_read,
            "source_partitions": list(window.source_partitions),
            "row_counts": {name: t.num_rows for name, t in features.tables().items()},
            "features": {name: _column_health(t, window.as_of)
                         for name, t in features.tables().items()},
            "checks": consistency_checks(features, window.records_read),
        }
        write_json(self.lake, f"{folder}/{MANIFEST}", manifest)
        if make_current:
            self.set_current(version)
        return manifest

    def set_current(self, version: str) -> None:
        if self.manifest(version) is None:
            raise KeyError(f"no feature version {version}")
        write_json(self.lake, f"{RETAIL_FEATURES}/{CURRENT}",
                   {"version": version, "set_at": datetime.now(UTC).isoformat()})

    def current(self) -> str | None:
        pointer = read_json(self.lake, f"{RETAIL_FEATURES}/{CURRENT}")
        return pointer["version"] if pointer else None

    def manifest(self, version: str) -> dict[str, Any] | None:
        return read_json(self.lake, f"{self._folder(version)}/{MANIFEST}")

    def read(self, version: str | None = None, table: str = "product_locations") -> pa.Table:
        """One feature table of `version` (default: the current one)."""
        version = version or self.current()
        if version is None:
            raise LookupError("the feature store has no current version")
        path = self.lake.path(self._folder(version), f"{table}.parquet")
        return pq.read_table(path, filesystem=self.lake.fs)
