"""The operations view (sales/admin): camera status from the actors' live windows, attention
rates by location and hour from the advertising metrics mart, and the camera and ad alerts
of their Redis streams in one shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.redis_text import as_text
from core.vision.cameras import CameraConfig

LIVE_WINDOW = "900s"  # the sliding window shown as "now"



def camera_status(camera: CameraConfig, live: Mapping[str, Any] | None,
                  now: float) -> dict[str, Any]:
    """One camera: live / offline (no update for `offline_after_s`) / no data, and its last
    15-minute window (people in view, attention rate, frames)."""
    row: dict[str, Any] = {"camera_id": camera.id, "location": camera.location,
                           "location_type": str(camera.location_type), "status": "no data",
                           "updated_at": None, "people_in_view": None, "attention_rate": None,
                           "frames": None}
    if not live:
        return row
    updated = float(live.get("updated_at") or 0.0)
    window = next((w for w in live.get("windows", []) if w.get("kind") == LIVE_WINDOW), {})
    return row | {
        "status": "live" if now - updated <= camera.offline_after_s else "offline",
        "updated_at": datetime.fromtimestamp(updated, UTC).isoformat() if updated else None,
        "people_in_view": round(window.get("avg_crowd", 0.0), 2) if window else None,
        "attention_rate": round(window.get("attention_rate", 0.0), 4) if window else None,
        "frames": window.get("frames"),
    }


def camera_statuses(cameras: Iterable[CameraConfig], live_json: Sequence[str | bytes | None],
                    now: float) -> list[dict[str, Any]]:
    """Statuses of `cameras` given each one's live window JSON (None when it has none)."""
    return [camera_status(camera, json.loads(raw) if raw else None, now)
            for camera, raw in zip(cameras, live_json, strict=True)]


def attention_by_hour(metrics: pa.Table) -> dict[str, Any]:
    """Attention rate (attentive / crowd) per location x hour of day over the mart's rows:
    {"locations", "hours", "attention_rate": [location][hour], "crowd": mean per hour}."""
    if metrics.num_rows == 0:
        return {"locations": [], "hours": list(range(24)), "attention_rate": [], "crowd": []}
    table = pa.table({"location": metrics["location"], "hour": metrics["hour"].cast(pa.int64()),
                      "crowd": pc.fill_null(metrics["crowd"], 0.0),
                      "attentive": pc.fill_null(metrics["attentive"], 0.0)})
    sums = table.group_by(["location", "hour"]).aggregate(
        [("crowd", "sum"), ("attentive", "sum"), ("crowd", "mean")])
    locations = sorted(set(sums["location"].to_pylist()))
    index = {location: i for i, location in enumerate(locations)}
    rate: list[list[float | None]] = [[None] * 24 for _ in locations]
    crowd: list[list[float | None]] = [[None] * 24 for _ in locations]
    for row in sums.to_pylist():
        i, hour = index[row["location"]], row["hour"]
        total = row["crowd_sum"]
        rate[i][hour] = round(row["attentive_sum"] / total, 4) if total else None
        crowd[i][hour] = round(row["crowd_mean"], 1)
    return {"locations": locations, "hours": list(range(24)), "attention_rate": rate,
            "crowd": crowd}


def ops_alert(source: str, entry_id: str | bytes,
              fields: Mapping[str | bytes, str | bytes]) -> dict[str, Any]:
    """A camera alert (field `alert`) or an ad notification (field `notification`) as one
    row: id (the stream entry's), source, kind, severity, location, time, message."""
    values = {as_text(k): as_text(v) for k, v in fields.items()}
    if "alert" in values:
        alert = json.loads(values["alert"])
        return {"id": as_text(entry_id), "source": source, "kind": alert.get("kind"),
                "severity": alert.get("severity", "info"),
                "location": alert.get("region") or alert.get("location"),
                "camera_id": alert.get("camera_id"), "time": alert.get("created_at"),
                "message": alert.get("message") or alert.get("kind")}
    note = json.loads(values.get("notification", "{}"))
    price = note.get("price")
    previous = note.get("previous_price")
    change = f" from {previous:.2f}" if previous is not None else ""
    return {"id": as_text(entry_id), "source": source, "kind": note.get("kind"),
            "severity": "info", "location": note.get("location_id"), "camera_id": None,
            "time": note.get("created_at"),
            "message": f"{note.get('kind', 'notification')} for {note.get('advertiser_id')}: "
                       f"slot {note.get('slot_id')} at {price}{change}"}


def newest_alerts(entries: Mapping[str, Sequence[tuple[Any, Mapping[Any, Any]]]],
                  limit: int) -> list[dict[str, Any]]:
    """Rows of several streams' XREVRANGE answers {source: entries}, newest first."""
    rows = [ops_alert(source, entry_id, fields)
            for source, found in entries.items() for entry_id, fields in found]
    rows.sort(key=lambda row: tuple(int(part) for part in row["id"].split("-")), reverse=True)
    return rows[:limit]
