"""Audience rows for the lake (`raw/audience/location=/date=/`): one per frame, one per window.

Both kinds share one Arrow schema: `record` is "frame" or the window kind ("300s",
"900s", "3600s"); frame-only and window-only columns are null on the other kind. Rows
are plain dicts (JSON-safe, so unwritten rows can ride in a checkpoint). Never pixels.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from core.vision.cameras import CameraConfig
from core.vision.pipeline import FrameMetrics
from core.vision.windows import WindowRecord

FRAME_RECORD = "frame"
_COUNTS = pa.map_(pa.string(), pa.int32())
_SHARES = pa.map_(pa.string(), pa.float64())
_TS = pa.timestamp("ms", tz="UTC")

AUDIENCE_SCHEMA = pa.schema([
    pa.field("record", pa.string(), nullable=False),
    pa.field("camera_id", pa.string(), nullable=False),
    pa.field("location_type", pa.string()),
    pa.field("ts", _TS, nullable=False),
    pa.field("window_end", _TS),
    pa.field("frames", pa.int32()),
    pa.field("scored_frames", pa.int32()),
    pa.field("rejected_reason", pa.string()),
    pa.field("rejected", _COUNTS),
    pa.field("people", pa.int32()),
    pa.field("attentive", pa.int32()),
    pa.field("avg_crowd", pa.float64()),
    pa.field("attention_rate", pa.float64()),
    pa.field("peak_people", pa.int32()),
    pa.field("peak_ts", _TS),
    pa.field("age_counts", _COUNTS),
    pa.field("gender_counts", _COUNTS),
    pa.field("confidence_counts", _COUNTS),
    pa.field("age_distribution", _SHARES),
    pa.field("gender_distribution", _SHARES),
    pa.field("dwell_tracks", pa.int32()),
    pa.field("dwell_mean_s", pa.float64()),
    pa.field("dwell_max_s", pa.float64()),
    pa.field("engaged", pa.int32()),
    pa.field("sharpness", pa.float64()),
    pa.field("brightness", pa.float64()),
    pa.field("location", pa.string(), nullable=False),
    pa.field("date", pa.string(), nullable=False),
])
_TIME_COLUMNS = ("ts", "window_end", "peak_ts")
_MAP_COLUMNS = ("rejected", "age_counts", "gender_counts", "confidence_counts",
                "age_distribution", "gender_distribution")


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _base(camera: CameraConfig, record: str, ts: float) -> dict[str, Any]:
    return {"record": record, "camera_id": camera.id, "location_type": str(camera.location_type),
            "ts": ts, "location": camera.location, "date": _date(ts)}


def frame_row(camera: CameraConfig, metrics: FrameMetrics) -> dict[str, Any]:
    """The lake row of one scored or rejected frame."""
    return _base(camera, FRAME_RECORD, metrics.ts) | {
        "frames": 1,
        "scored_frames": int(metrics.scored),
        "rejected_reason": metrics.rejected_reason,
        "people": metrics.people,
        "attentive": metrics.attentive,
        "attention_rate": metrics.attentive / metrics.people if metrics.people else None,
        "age_counts": metrics.age_bands,
        "gender_counts": metrics.genders,
        "confidence_counts": metrics.confidence_bands,
        "dwell_tracks": metrics.dwell.tracks,
        "dwell_mean_s": metrics.dwell.mean_s,
        "dwell_max_s": metrics.dwell.max_s,
        "engaged": metrics.dwell.engaged,
        "sharpness": metrics.sharpness,
        "brightness": metrics.brightness,
    }


def window_row(camera: CameraConfig, window: WindowRecord) -> dict[str, Any]:
    """The lake row of one window (partitioned by the window's start date)."""
    return _base(camera, window.kind, window.start) | {
        "window_end": window.end,
        "frames": window.frames,
        "scored_frames": window.scored_frames,
        "rejected": window.rejected,
        "avg_crowd": window.avg_crowd,
        "attention_rate": window.attention_rate,
        "peak_people": window.peak_people,
        "peak_ts": window.peak_ts,
        "age_distribution": window.age_distribution,
        "gender_distribution": window.gender_distribution,
    }


def audience_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (from `frame_row`/`window_row`) as a table of AUDIENCE_SCHEMA."""
    columns: dict[str, list[Any]] = {}
    for field in AUDIENCE_SCHEMA:
        values = [row.get(field.name) for row in rows]
        if field.name in _TIME_COLUMNS:
            values = [None if v is None else datetime.fromtimestamp(v, UTC) for v in values]
        elif field.name in _MAP_COLUMNS:
            values = [None if v is None else list(v.items()) for v in values]
        columns[field.name] = values
    return pa.Table.from_pydict(columns, schema=AUDIENCE_SCHEMA)
