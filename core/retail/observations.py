"""Lake price points as observations: one row per record with its store's local day.

The lake partitions by UTC date, but a store's day is local: records stamped in the evening
in the west land in the next UTC date. `observations` converts each record's instant to
its region's local date, so partitions [start, end + 1] hold every local day in [start, end].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The lake columns the features and the training set need (column pruning).
LAKE_COLUMNS = ("product_id", "store_id", "city", "category", "urban", "ts", "price",
                "units_sold", "discount_pct", "competitor_prices", "competitor_min_price",
                "region")
OBSERVATION_SCHEMA = pa.schema([
    ("product_id", pa.string()),
    ("store_id", pa.string()),
    ("region", pa.string()),
    ("city", pa.string()),
    ("category", pa.string()),
    ("urban", pa.bool_()),
    ("day", pa.date32()),
    ("price", pa.float64()),
    ("units", pa.float64()),
    ("competitor_min_price", pa.float64()),
    ("competitor_count", pa.int64()),
    ("discount_pct", pa.float64()),
])


def region_timezones(configs_dir: Path | None = None) -> dict[str, str]:
    """Region -> IANA time zone, from configs/locations.yaml."""
    # imported here: Ray workers turning lake rows into observations need no config loader
    from core.config_files import load_config
    from core.ingest.reference import LocationsConfig

    regions = load_config("locations", LocationsConfig, configs_dir).regions
    return {name: cfg.timezone for name, cfg in regions.items()}


def local_days(ts: pa.Array, region: pa.Array, zones: dict[str, str]) -> pa.Array:
    """Each instant's calendar date in its region's zone (UTC for unknown regions)."""
    region_codes = region.dictionary_encode()
    out = pc.cast(ts, pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    names = region_codes.dictionary.to_pylist()
    indices = region_codes.indices.to_numpy(zero_copy_only=False)
    for code, name in enumerate(names):
        rows = np.flatnonzero(indices == code)
        zone = zones.get(name)
        if zone is None or len(rows) == 0:
            continue
        local = pc.local_timestamp(ts.take(pa.array(rows)).cast(pa.timestamp("us", tz=zone)))
        out[rows] = pc.cast(local, pa.date32()).to_numpy(zero_copy_only=False)
    return pa.array(out, pa.date32())


def _competitor_counts(maps: pa.ChunkedArray | pa.Array) -> pa.Array:
    chunks = maps.chunks if isinstance(maps, pa.ChunkedArray) else [maps]
    counts = [np.diff(np.asarray(chunk.offsets)) for chunk in chunks]
    return pa.array(np.concatenate(counts) if counts else np.zeros(0, np.int64), pa.int64())


def observations(block: pa.Table, zones: dict[str, str]) -> pa.Table:
    """Lake rows (at least LAKE_COLUMNS) as OBSERVATION_SCHEMA rows; text columns read as
    dictionaries stay dictionaries (grouping on them is cheaper)."""
    region = block["region"].combine_chunks()
    if not pa.types.is_dictionary(region.type):
        region = region.cast(pa.string())
    ts = block["ts"].combine_chunks()
    table = pa.table({
        "product_id": block["product_id"],
        "store_id": block["store_id"],
        "region": region,
        "city": block["city"],
        "category": block["category"],
        "urban": block["urban"],
        "day": local_days(ts, region, zones),
        "price": block["price"],
        "units": pc.cast(block["units_sold"], pa.float64()),
        "competitor_min_price": block["competitor_min_price"],
        "competitor_count": _competitor_counts(block["competitor_prices"]),
        "discount_pct": block["discount_pct"],
    })
    return table.cast(pa.schema([
        field.with_type(table[field.name].type)
        if pa.types.is_dictionary(table[field.name].type) else field
        for field in OBSERVATION_SCHEMA]))


def in_window(table: pa.Table, start: np.datetime64 | None,
              end: np.datetime64 | None) -> pa.Table:
    """Rows whose `day` lies in [start, end] (either end open when None)."""
    mask = None
    for bound, compare in ((start, pc.greater_equal), (end, pc.less_equal)):
        if bound is None:
            continue
        test = compare(table["day"], pa.scalar(bound.astype("datetime64[D]").item(),
                                               pa.date32()))
        mask = test if mask is None else pc.and_(mask, test)
    return table if mask is None else table.filter(mask)


def daily(table: pa.Table) -> pa.Table:
    """One row per product-location and day: units summed, prices averaged over records."""
    keys = ["product_id", "store_id", "region", "city", "category", "urban", "day"]
    grouped = table.group_by(keys, use_threads=False).aggregate([
        ("units", "sum"), ("price", "mean"), ("competitor_min_price", "mean"),
        ("competitor_count", "max"), ("discount_pct", "mean")])
    renamed = grouped.rename_columns([
        {"units_sum": "units", "price_mean": "price",
         "competitor_min_price_mean": "competitor_min_price",
         "competitor_count_max": "competitor_count",
         "discount_pct_mean": "discount_pct"}.get(name, name) for name in grouped.column_names])
    return renamed.select(OBSERVATION_SCHEMA.names).cast(OBSERVATION_SCHEMA)
