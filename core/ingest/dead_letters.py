"""The dead-letter queue: rejected records kept whole, with their reason, in the lake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.ingest.records import DLQ_SCHEMA
from core.ingest.validation import Rejection
from core.lake import DEAD_LETTERS, Lake


def dead_letter_table(
    rejections: Sequence[Rejection], source: str, received_at: datetime
) -> pa.Table:
    n = len(rejections)
    return pa.table(
        {
            "record_id": [r.record_id for r in rejections],
            "region": [r.region for r in rejections],
            "reason": [str(r.reason) for r in rejections],
            "message": [r.message for r in rejections],
            "payload": [r.payload for r in rejections],
            "source": [source] * n,
            "received_at": [received_at] * n,
            "date": [received_at.strftime("%Y-%m-%d")] * n,
        },
        schema=DLQ_SCHEMA,
    )


def write_dead_letters(
    lake: Lake, rejections: Sequence[Rejection], source: str, received_at: datetime
) -> list[str]:
    return lake.write_partitioned(dead_letter_table(rejections, source, received_at),
                                  DEAD_LETTERS, ["date"])


def read_dead_letters(
    lake: Lake, *, reason: str | None = None, region: str | None = None,
    limit: int = 100, offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """Total matching and one page, newest first."""
    condition = None
    for column, value in (("reason", reason), ("region", region)):
        if value is not None:
            term = pc.field(column) == value
            condition = term if condition is None else condition & term
    table = lake.read(DEAD_LETTERS, filter=condition, schema=DLQ_SCHEMA)
    if table.num_rows == 0:
        return 0, []
    table = table.sort_by([("received_at", "descending")])
    page = table.slice(offset, limit).to_pylist()
    for row in page:
        row["received_at"] = row["received_at"].isoformat()
    return table.num_rows, page
