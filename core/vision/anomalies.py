"""Camera anomalies: an empty view in operating hours, crowd surges and a camera gone offline.

Pure state machines over frame metrics and closed windows; each raises one alert per
episode (it re-arms when the condition ends). `CameraAlert` has the fields the sinks of
core/alerts.py read (id, kind, severity, region, category, JSON), so it goes through them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from core.alerts import Severity
from core.vision.cameras import CameraConfig
from core.vision.pipeline import FrameMetrics
from core.vision.windows import WindowRecord

_CAMERA_ALERT_NAMESPACE = uuid.UUID("0b8f6f7e-3c55-4c1a-9d7e-6f2a4e1c9b31")


class CameraAnomaly(StrEnum):
    CAMERA_FAILURE = "camera_failure"
    CROWD_SURGE = "crowd_surge"
    CAMERA_OFFLINE = "camera_offline"


class CameraAlert(BaseModel):
    """One camera alert; `region` is the camera's location, `category` its location type."""

    id: str
    kind: CameraAnomaly
    severity: Severity
    camera_id: str
    region: str
    category: str
    message: str
    evidence: dict[str, float] = Field(default_factory=dict)
    source_ts: float = Field(description="unix time of the frame or window that raised it")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class AnomalyThresholds(BaseModel):
    no_faces_s: float = Field(600.0, gt=0, description="empty view this long in hours: failure")
    surge_factor: float = Field(3.0, gt=1)
    trailing_windows: int = Field(12, ge=1, description="closed windows in the trailing average")
    min_history: int = Field(3, ge=1, description="closed windows needed before surges count")
    min_surge_crowd: float = Field(1.0, ge=0, description="a surge needs at least this crowd")


class AnomalyDetector:
    """Per-camera anomaly state; `to_dict`/`from_dict` for checkpoints."""

    def __init__(self, camera: CameraConfig, thresholds: AnomalyThresholds | None = None) -> None:
        self.camera = camera
        self.thresholds = thresholds or AnomalyThresholds()
        self.last_face_ts: float | None = None
        self.failure_open = False
        self.offline_open = False
        self.trailing_crowd: list[float] = []

    def _alert(self, kind: CameraAnomaly, severity: Severity, ts: float, message: str,
               evidence: dict[str, float]) -> CameraAlert:
        alert_id = uuid.uuid5(_CAMERA_ALERT_NAMESPACE, f"{self.camera.id}:{kind}@{ts:.3f}").hex
        return CameraAlert(id=alert_id, kind=kind, severity=severity, camera_id=self.camera.id,
                           region=self.camera.location, category=str(self.camera.location_type),
                           message=message, evidence=evidence, source_ts=ts)

    def observe_frame(self, metrics: FrameMetrics) -> list[CameraAlert]:
        """A frame arrived: it ends an offline episode; faces end a failure episode."""
        alerts = []
        self.offline_open = False
        if self.last_face_ts is None or (metrics.scored and metrics.people > 0):
            self.last_face_ts = metrics.ts
            self.failure_open = False
            return alerts
        empty_s = metrics.ts - self.last_face_ts
        in_hours = self.camera.operating_hours.contains(metrics.ts)
        if in_hours and empty_s > self.thresholds.no_faces_s and not self.failure_open:
            self.failure_open = True
            alerts.append(self._alert(
                CameraAnomaly.CAMERA_FAILURE, Severity.CRITICAL, metrics.ts,
                f"no faces for {empty_s / 60:.0f} min during operating hours",
                {"empty_s": empty_s}))
        return alerts

    def observe_window(self, window: WindowRecord) -> list[CameraAlert]:
        """A tumbling window closed: compare its crowd with the trailing average."""
        alerts = []
        history = self.trailing_crowd
        if len(history) >= self.thresholds.min_history and window.scored_frames:
            trailing = sum(history) / len(history)
            crowd = window.avg_crowd
            if crowd >= self.thresholds.min_surge_crowd and (
                crowd > self.thresholds.surge_factor * trailing
            ):
                alerts.append(self._alert(
                    CameraAnomaly.CROWD_SURGE, Severity.WARNING, window.start,
                    f"crowd {crowd:.1f} is {crowd / max(trailing, 1e-9):.1f}x its trailing "
                    f"average {trailing:.2f}", {"avg_crowd": crowd, "trailing_avg": trailing}))
        if window.scored_frames:
            history.append(window.avg_crowd)
            del history[: -self.thresholds.trailing_windows]
        return alerts

    def check_offline(self, now: float, last_frame_ts: float | None) -> list[CameraAlert]:
        """No frame for `offline_after_s` (counted from `last_frame_ts`) raises one alert."""
        if last_frame_ts is None or self.offline_open:
            return []
        silent_s = now - last_frame_ts
        if silent_s <= self.camera.offline_after_s:
            return []
        self.offline_open = True
        return [self._alert(CameraAnomaly.CAMERA_OFFLINE, Severity.CRITICAL, now,
                            f"no frame for {silent_s:.0f} s", {"silent_s": silent_s})]

    def to_dict(self) -> dict[str, Any]:
        return {"last_face_ts": self.last_face_ts, "failure_open": self.failure_open,
                "offline_open": self.offline_open, "trailing_crowd": list(self.trailing_crowd)}

    @classmethod
    def from_dict(cls, camera: CameraConfig, state: dict[str, Any],
                  thresholds: AnomalyThresholds | None = None) -> AnomalyDetector:
        detector = cls(camera, thresholds)
        detector.last_face_ts = state["last_face_ts"]
        detector.failure_open = state["failure_open"]
        detector.offline_open = state["offline_open"]
        detector.trailing_crowd = list(state["trailing_crowd"])
        return detector
