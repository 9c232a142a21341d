"""The camera fleet list (configs/cameras.yaml): where each camera is and how it is sampled."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.config_files import load_config
from core.vision.scorer import ScorerBackend


class LocationType(StrEnum):
    STATION = "station"
    BUSINESS = "business"
    RESIDENTIAL = "residential"


class OperatingHours(BaseModel):
    """Daily hours (local time) when an empty view means a broken camera, not a quiet street."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = time(6, 0)
    end: time = time(23, 0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    def contains(self, ts: float) -> bool:
        """True when unix time `ts` falls inside the hours (an end before start wraps midnight)."""
        local = datetime.fromtimestamp(ts, ZoneInfo(self.timezone)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class SimulatedFeed(BaseModel):
    """A synthetic feed from core/vision/scene.py instead of a real camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    peak_arrivals_per_min: float = Field(12.0, ge=0)
    width: int = Field(1280, ge=160)
    height: int = Field(720, ge=90)
    dies_after_s: float | None = Field(None, gt=0, description="the camera stops this long "
                                                               "after the actor starts")


class CameraConfig(BaseModel):
    """One camera: identity, place, source (url, simulated, or push-only) and sampling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    location: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    location_type: LocationType
    url: str | None = Field(None, description="RTSP/HTTP stream or video file to pull from")
    simulated: SimulatedFeed | None = None
    interval_s: float = Field(30.0, gt=0, description="seconds between bursts")
    burst: int = Field(5, ge=1, le=50, description="frames per burst")
    keep_per_burst: int = Field(2, ge=1, description="frames of a burst that are scored")
    offline_after_s: float = Field(120.0, gt=0, description="no frame this long: offline")
    operating_hours: OperatingHours = OperatingHours()
    scorer: ScorerBackend = "local"

    @model_validator(mode="after")
    def _one_source(self) -> CameraConfig:
        if self.url and self.simulated:
            raise ValueError("a camera has either a url or a simulated feed, not both")
        return self


class FleetConfig(BaseModel):
    """The whole of configs/cameras.yaml."""

    model_config = ConfigDict(extra="forbid")

    cameras: list[CameraConfig] = Field(default_factory=list)
    demo: list[CameraConfig] = Field(default_factory=list, description="`up --demo` cameras")

    @model_validator(mode="after")
    def _unique_ids(self) -> FleetConfig:
        for group in (self.cameras, self.demo):
            ids = [camera.id for camera in group]
            if len(ids) != len(set(ids)):
                raise ValueError(f"camera ids must be unique: {sorted(ids)}")
        return self


def load_fleet(configs_dir: Path | None = None) -> FleetConfig:
    return load_config("cameras", FleetConfig, configs_dir)


Source = Literal["url", "simulated", "push"]


def source_of(camera: CameraConfig) -> Source:
    """How frames reach this camera's actor."""
    if camera.url:
        return "url"
    return "simulated" if camera.simulated else "push"


CameraTopicLeaf = Literal["frames", "telemetry", "shadow/desired", "shadow/reported"]


CAMERA_ALERT_STREAM = "dynaprice:alerts:cameras"  # the Redis stream of camera alerts


def camera_key(camera_id: str, part: str) -> str:
    """Redis key of one camera's `part` (window, checkpoint, shadow, telemetry)."""
    return f"dynaprice:camera:{camera_id}:{part}"


def camera_topic(location: str, device: str, leaf: CameraTopicLeaf) -> str:
    """MQTT topic `cameras/{location}/{device}/{leaf}`."""
    return f"cameras/{location}/{device}/{leaf}"


MAX_FRAME_BYTES = 8 * 1024 * 1024
FRAME_CONTENT_TYPES = ("image/jpeg", "image/png")
