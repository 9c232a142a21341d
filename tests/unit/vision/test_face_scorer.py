import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.vision.attention import ConfidenceBand
from core.vision.demographics import AgeBand, Gender
from core.vision.scorer import (
    LocalFaceScorer,
    RekognitionScorer,
    make_scorer,
    parse_rekognition_faces,
)

FIXTURE = Path(__file__).parent / "fixtures" / "rekognition_detect_faces.json"


@pytest.fixture
def recorded_response():
    return json.loads(FIXTURE.read_text())


def test_rekognition_response_is_parsed_into_observations(recorded_response):
    frontal, turned, uncertain = parse_rekognition_faces(recorded_response, 1920, 1080)
    expected_box = (0.3521 * 1920, 0.2107 * 1080, 0.0832 * 1920, 0.1874 * 1080)
    assert frontal.box == pytest.approx(expected_box)
    assert (frontal.yaw, frontal.pitch, frontal.roll) == (-6.88, 4.17, 2.41)
    assert frontal.looking and frontal.confidence_band is ConfidenceBand.HIGH
    assert frontal.age_band is AgeBand.AGE_25_34
    assert frontal.gender is Gender.FEMALE and frontal.gender_confidence == pytest.approx(0.9961)
    assert frontal.emotion == "happy"
    assert frontal.detection_score == pytest.approx(0.9999)

    assert not turned.looking
    assert turned.age_band is AgeBand.AGE_45_54 and turned.gender is Gender.MALE
    assert turned.emotion == "calm"

    assert uncertain.looking and uncertain.confidence_band is not ConfidenceBand.HIGH
    assert uncertain.age_band is AgeBand.UNKNOWN
    assert uncertain.gender is Gender.UNKNOWN


def test_rekognition_without_faces_or_optional_fields():
    assert parse_rekognition_faces({"FaceDetails": []}, 640, 480) == []
    (bare,) = parse_rekognition_faces({"FaceDetails": [{"Confidence": 90.0}]}, 640, 480)
    assert bare.age_band is AgeBand.UNKNOWN and bare.gender is Gender.UNKNOWN
    assert bare.emotion is None


class RecordingClient:
    def __init__(self, response):
        self.response = response
        self.calls = []

    def detect_faces(self, **kwargs):
        self.calls.append(kwargs)
        return self.response


def test_rekognition_scorer_sends_jpeg_and_asks_for_all_attributes(astronaut, recorded_response):
    client = RecordingClient(recorded_response)
    observations = make_scorer("rekognition", client=client).score(astronaut)
    (call,) = client.calls
    assert call["Attributes"] == ["ALL"]
    sent = np.frombuffer(call["Image"]["Bytes"], np.uint8)
    assert cv2.imdecode(sent, cv2.IMREAD_COLOR).shape == astronaut.shape
    assert len(observations) == 3
    assert observations[0].box[0] == pytest.approx(0.3521 * 512)


def test_factory_picks_the_backend():
    assert isinstance(make_scorer("local"), LocalFaceScorer)
    assert isinstance(make_scorer("rekognition", client=object()), RekognitionScorer)
    with pytest.raises(ValueError, match="unknown face scorer backend"):
        make_scorer("cloudvision")


def test_local_scorer_reports_the_astronaut(astronaut):
    (face,) = LocalFaceScorer().score(astronaut)
    assert face.looking and face.gender is Gender.FEMALE
    assert face.age_band is not AgeBand.UNKNOWN
