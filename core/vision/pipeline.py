"""Frame to numbers: quality gate, face scoring, tracking; and picking a burst's frames."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from pydantic import BaseModel, Field

from core.vision.decode import decode_frame
from core.vision.quality import DEFAULT_QUALITY, QualityThresholds, assess_quality
from core.vision.scorer import FaceScorer
from core.vision.tracking import FaceTracker

MOTION_SIZE = (160, 90)
MOTION_PIXEL_DELTA = 20
MIN_MOTION_SHARE = 0.002


class DwellStats(BaseModel):
    """Dwell of the tracks seen in this frame."""

    tracks: int = 0
    mean_s: float = 0.0
    max_s: float = 0.0
    engaged: int = 0


class FrameMetrics(BaseModel):
    """Everything one frame contributes to the audience record; never any pixels."""

    ts: float
    scored: bool
    rejected_reason: str | None = None
    people: int = 0
    attentive: int = 0
    age_bands: dict[str, int] = Field(default_factory=dict)
    genders: dict[str, int] = Field(default_factory=dict)
    confidence_bands: dict[str, int] = Field(default_factory=dict)
    dwell: DwellStats = Field(default_factory=DwellStats)
    sharpness: float | None = None
    brightness: float | None = None


def score_frame(
    bgr: np.ndarray,
    ts: float,
    scorer: FaceScorer,
    tracker: FaceTracker,
    thresholds: QualityThresholds = DEFAULT_QUALITY,
) -> FrameMetrics:
    """Gate, score and track one frame; a rejected frame carries its reason and no counts.

    Faces are tracked before demographics, so age and gender are estimated once per track
    (see `FaceTracker.update`) rather than for every face in every frame.
    """
    verdict = assess_quality(bgr, thresholds)
    if not verdict.ok:
        return FrameMetrics(
            ts=ts,
            scored=False,
            rejected_reason=str(verdict.issue),
            sharpness=verdict.sharpness,
            brightness=verdict.brightness,
        )
    tracked = tracker.update(
        scorer.detect(bgr), ts, describe=lambda faces: scorer.describe(bgr, faces)
    )
    observations = [t.observation for t in tracked]
    dwell = [t.dwell_s for t in tracked]
    return FrameMetrics(
        ts=ts,
        scored=True,
        people=len(observations),
        attentive=sum(o.looking for o in observations),
        age_bands=dict(Counter(str(o.age_band) for o in observations)),
        genders=dict(Counter(str(o.gender) for o in observations)),
        confidence_bands=dict(Counter(str(o.confidence_band) for o in observations)),
        dwell=DwellStats(
            tracks=len(tracked),
            mean_s=float(np.mean(dwell)) if dwell else 0.0,
            max_s=max(dwell, default=0.0),
            engaged=sum(t.engaged for t in tracked),
        ),
        sharpness=verdict.sharpness,
        brightness=verdict.brightness,
    )


def score_frame_bytes(
    data: bytes,
    ts: float,
    scorer: FaceScorer,
    tracker: FaceTracker,
    thresholds: QualityThresholds = DEFAULT_QUALITY,
) -> FrameMetrics:
    """Decode JPEG/PNG bytes and score them; undecodable bytes give a rejected record."""
    decoded = decode_frame(data)
    if decoded.image is None:
        return FrameMetrics(ts=ts, scored=False, rejected_reason=str(decoded.failure))
    return score_frame(decoded.image, ts, scorer, tracker, thresholds)


def motion_thumbnail(bgr: np.ndarray) -> np.ndarray:
    """Small blurred grey copy used for frame differencing."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    small = cv2.resize(grey, MOTION_SIZE, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (5, 5), 0)


def motion_shares(frames: Sequence[np.ndarray]) -> list[float]:
    """Share of pixels that changed against the previous frame (the first against the second)."""
    thumbs = [motion_thumbnail(f) for f in frames]
    if len(thumbs) < 2:
        return [0.0] * len(thumbs)
    changed = [
        float(np.count_nonzero(cv2.absdiff(a, b) > MOTION_PIXEL_DELTA)) / a.size
        for a, b in zip(thumbs[:-1], thumbs[1:], strict=True)
    ]
    return [changed[0], *changed]


def select_burst_frames(
    frames: Sequence[np.ndarray],
    keep: int = 2,
    count_people: Callable[[np.ndarray], int] | None = None,
    min_motion: float = MIN_MOTION_SHARE,
) -> list[int]:
    """Indices (in time order) of the burst frames worth scoring.

    Frames with motion come first, ranked by people (when a cheap `count_people` is given)
    and then by motion; a still burst still yields its middle frame, so an empty scene is
    recorded as empty rather than skipped.
    """
    if not frames:
        return []
    motion = motion_shares(frames)
    moving = [i for i, share in enumerate(motion) if share >= min_motion]
    if not moving:
        return [len(frames) // 2]
    people = {i: count_people(frames[i]) for i in moving} if count_people else {}
    ranked = sorted(moving, key=lambda i: (people.get(i, 0), motion[i]), reverse=True)
    return sorted(ranked[:keep])
