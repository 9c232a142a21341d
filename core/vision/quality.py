"""Quality gate: reject blurred, dark or overexposed frames before any scoring.

Measured on a grey copy resized to 640 px wide, so the thresholds do not depend on the
camera resolution. Calibration (real photos, `tests/unit/vision/test_quality.py`):
Laplacian variance of astronaut/camera/grace_hopper is 860-1130 and a Gaussian blur of
sigma 1.5 brings it under 30, so the bar is 60; 15% brightness reads as mean 11-19 grey.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

ANALYSIS_WIDTH = 640


class QualityIssue(StrEnum):
    """Why a frame is not worth scoring."""

    BLURRY = "blurry"
    TOO_DARK = "too_dark"
    OVEREXPOSED = "overexposed"


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    """Limits of the gate; defaults calibrated on the real test photos."""

    min_sharpness: float = 60.0
    min_brightness: float = 40.0
    max_brightness: float = 215.0
    max_dark_share: float = 0.75
    max_clipped_share: float = 0.5
    dark_level: int = 25
    clipped_level: int = 245


DEFAULT_QUALITY = QualityThresholds()


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """Outcome of the gate with the measurements behind it."""

    ok: bool
    issue: QualityIssue | None
    sharpness: float
    brightness: float
    dark_share: float
    clipped_share: float


def analysis_grey(bgr: np.ndarray) -> np.ndarray:
    """Grey copy of the frame at the fixed analysis width."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    height, width = grey.shape[:2]
    if width <= ANALYSIS_WIDTH:
        return grey
    size = (ANALYSIS_WIDTH, max(1, round(height * ANALYSIS_WIDTH / width)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def assess_quality(
    bgr: np.ndarray, thresholds: QualityThresholds = DEFAULT_QUALITY
) -> QualityVerdict:
    """Measure sharpness and lighting and decide whether the frame may be scored."""
    grey = analysis_grey(bgr)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    brightness = float(grey.mean())
    pixels = grey.size
    dark_share = float(np.count_nonzero(grey < thresholds.dark_level)) / pixels
    clipped_share = float(np.count_nonzero(grey > thresholds.clipped_level)) / pixels
    issue: QualityIssue | None = None
    if brightness < thresholds.min_brightness or dark_share > thresholds.max_dark_share:
        issue = QualityIssue.TOO_DARK
    elif brightness > thresholds.max_brightness or clipped_share > thresholds.max_clipped_share:
        issue = QualityIssue.OVEREXPOSED
    elif sharpness < thresholds.min_sharpness:
        issue = QualityIssue.BLURRY
    return QualityVerdict(issue is None, issue, sharpness, brightness, dark_share, clipped_share)
