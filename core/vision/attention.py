"""Head pose from YuNet's five landmarks, and whether the person looks at the billboard.

Geometry: the face's midline runs from the eyes' midpoint to the mouth's midpoint; the nose
tip sits in front of that plane, so its sideways offset from the midline over the
interocular distance is `NOSE_DEPTH_RATIO * tan(yaw)`. Its drop from the eye line over the
eye-to-mouth height is `NEUTRAL_NOSE_DROP - PITCH_DEPTH_RATIO * tan(pitch)`. Roll is the
eye line's angle.

Calibration on real photos (skimage lfw_subset's 100 faces upscaled to 128 px, astronaut,
grace_hopper, camera): the nose-drop ratio has median 0.558 (5-95%: 0.49-0.62), hence the
neutral value; frontal faces give yaw ratios within +-0.24 (under 19 degrees), and the depth
ratio 0.7 makes the turned face in `camera()` read about 50 degrees (ratio 0.84). A face
counts as looking when |yaw| <= 30 and |pitch| <= 25 degrees. Sign convention: positive yaw
means the nose points to the image's right, so a mirrored photo gives the opposite yaw;
positive pitch means chin up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

NOSE_DEPTH_RATIO = 0.7
PITCH_DEPTH_RATIO = 0.5
NEUTRAL_NOSE_DROP = 0.558
MAX_LOOKING_YAW = 30.0
MAX_LOOKING_PITCH = 25.0
MARGIN_SCALE_DEG = 4.0
RELIABLE_INTEROCULAR_PX = 12.0


class ConfidenceBand(StrEnum):
    """Confidence of the looking decision: high > 90%, medium 70-90%, low < 70%."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Head rotation in degrees."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True, slots=True)
class Attention:
    """Looking decision with its confidence (0-1) and band."""

    looking: bool
    confidence: float
    band: ConfidenceBand


def head_pose(landmarks: Sequence[Sequence[float]]) -> HeadPose:
    """Yaw, pitch and roll from the five landmarks (eyes, nose tip, mouth corners)."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    right_eye, left_eye, nose, mouth_right, mouth_left = points
    eye_axis = left_eye - right_eye
    interocular = float(np.hypot(*eye_axis))
    if interocular < 1e-6:
        return HeadPose(0.0, 0.0, 0.0)
    across = eye_axis / interocular
    down = np.array([-across[1], across[0]])
    eye_mid = (right_eye + left_eye) / 2
    mouth_mid = (mouth_right + mouth_left) / 2
    face_height = max(float(np.dot(mouth_mid - eye_mid, down)), 1e-6)
    midline = mouth_mid - eye_mid
    along = float(np.dot(nose - eye_mid, midline)) / max(float(np.dot(midline, midline)), 1e-6)
    yaw_ratio = float(np.dot(nose - (eye_mid + along * midline), across)) / interocular
    drop_ratio = float(np.dot(nose - eye_mid, down)) / face_height
    yaw = math.degrees(math.atan(yaw_ratio / NOSE_DEPTH_RATIO))
    pitch = math.degrees(math.atan((NEUTRAL_NOSE_DROP - drop_ratio) / PITCH_DEPTH_RATIO))
    roll = math.degrees(math.atan2(eye_axis[1], eye_axis[0]))
    return HeadPose(yaw, pitch, roll)


def confidence_band(confidence: float) -> ConfidenceBand:
    """Map a 0-1 confidence to its band."""
    if confidence > 0.9:
        return ConfidenceBand.HIGH
    if confidence >= 0.7:
        return ConfidenceBand.MEDIUM
    return ConfidenceBand.LOW


def assess_attention(pose: HeadPose, interocular_px: float | None = None) -> Attention:
    """Decide looking from the pose; confidence grows with the distance to the threshold.

    Small faces have landmarks a pixel or two off, so below `RELIABLE_INTEROCULAR_PX`
    the confidence shrinks in proportion; `None` means the pose came from a trusted source.
    """
    yaw_margin = MAX_LOOKING_YAW - abs(pose.yaw)
    pitch_margin = MAX_LOOKING_PITCH - abs(pose.pitch)
    looking = yaw_margin >= 0 and pitch_margin >= 0
    margin = min(yaw_margin, pitch_margin) if looking else -min(yaw_margin, pitch_margin, 0.0)
    confidence = 1.0 / (1.0 + math.exp(-margin / MARGIN_SCALE_DEG))
    if interocular_px is not None:
        confidence *= min(1.0, interocular_px / RELIABLE_INTEROCULAR_PX)
    return Attention(looking, confidence, confidence_band(confidence))
