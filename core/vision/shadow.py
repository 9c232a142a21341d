"""Device shadow of a camera: the desired config (set by operators) and what the device reports.

The shadow is plain data stored as JSON in Redis (`dynaprice:camera:{id}:shadow`) and
exchanged over MQTT on `cameras/{location}/{device}/shadow/desired|reported`. A desired
patch is validated and bumps the version; `delta()` lists what the device has not applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.vision.cameras import CameraConfig, camera_key

CameraStatus = Literal["active", "maintenance", "offline"]


class ShadowState(BaseModel):
    """What a camera is told to do, or reports doing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(30.0, gt=0)
    burst: int = Field(5, ge=1, le=50)
    resolution: str = Field("1280x720", pattern=r"^\d{2,5}x\d{2,5}$")
    schedule: str = Field("06:00-23:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    status: CameraStatus = "active"


class DeviceShadow(BaseModel):
    """Desired and reported state of one camera, with a version bumped by every desired change."""

    camera_id: str
    desired: ShadowState
    reported: ShadowState | None = None
    version: int = 1
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def initial(cls, camera: CameraConfig, resolution: str = "1280x720") -> DeviceShadow:
        """A shadow whose desired state is the camera's configured sampling."""
        hours = camera.operating_hours
        schedule = f"{hours.start:%H:%M}-{hours.end:%H:%M}"
        desired = ShadowState(interval_s=camera.interval_s, burst=camera.burst,
                              resolution=resolution, schedule=schedule)
        return cls(camera_id=camera.id, desired=desired)

    def with_desired(self, patch: dict[str, Any]) -> DeviceShadow:
        """A new shadow with `patch` merged into desired (raises ValidationError if invalid)."""
        desired = ShadowState.model_validate(self.desired.model_dump() | patch)
        if desired == self.desired:
            return self
        return self.model_copy(update={"desired": desired, "version": self.version + 1,
                                       "updated_at": datetime.now(UTC)})

    def with_reported(self, reported: ShadowState) -> DeviceShadow:
        return self.model_copy(update={"reported": reported, "updated_at": datetime.now(UTC)})

    def delta(self) -> dict[str, Any]:
        """Desired fields the device has not reported yet."""
        desired = self.desired.model_dump()
        if self.reported is None:
            return desired
        reported = self.reported.model_dump()
        return {name: value for name, value in desired.items() if reported[name] != value}


class ShadowStore:
    """Shadows kept as JSON strings in Redis."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def load(self, camera_id: str) -> DeviceShadow | None:
        raw = self.client.get(camera_key(camera_id, "shadow"))
        return DeviceShadow.model_validate_json(raw) if raw else None

    def save(self, shadow: DeviceShadow) -> None:
        self.client.set(camera_key(shadow.camera_id, "shadow"), shadow.model_dump_json())

    def load_or_create(self, camera: CameraConfig) -> DeviceShadow:
        """The stored shadow, or the camera's initial one (stored now)."""
        shadow = self.load(camera.id)
        if shadow is None:
            shadow = DeviceShadow.initial(camera)
            self.save(shadow)
        return shadow
