import pytest

from core.vision.attention import (
    ConfidenceBand,
    HeadPose,
    assess_attention,
    confidence_band,
    head_pose,
)
from core.vision.faces import detect_faces


def _pose(image):
    (face,) = detect_faces(image)
    return head_pose(face.landmarks), face.interocular_px


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_frontal_photos_are_looking(photo, request):
    pose, interocular = _pose(request.getfixturevalue(photo))
    attention = assess_attention(pose, interocular)
    assert abs(pose.yaw) < 10 and abs(pose.pitch) < 10 and abs(pose.roll) < 5
    assert attention.looking and attention.band is ConfidenceBand.HIGH


def test_turned_face_is_not_looking(turned_face):
    pose, interocular = _pose(turned_face)
    assert 40 < pose.yaw < 60
    assert not assess_attention(pose, interocular).looking


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper", "turned_face"])
def test_mirrored_photo_gives_mirrored_yaw(photo, request):
    image = request.getfixturevalue(photo)
    pose, _ = _pose(image)
    mirrored, _ = _pose(image[:, ::-1].copy())
    assert mirrored.yaw == pytest.approx(-pose.yaw, abs=6)
    assert mirrored.pitch == pytest.approx(pose.pitch, abs=4)


def test_turned_face_mirrored_turns_the_other_way(turned_face):
    mirrored, _ = _pose(turned_face[:, ::-1].copy())
    assert mirrored.yaw < -40


@pytest.mark.parametrize(
    ("confidence", "band"),
    [(0.95, ConfidenceBand.HIGH), (0.9, ConfidenceBand.MEDIUM), (0.7, ConfidenceBand.MEDIUM),
     (0.69, ConfidenceBand.LOW)],
)
def test_confidence_bands(confidence, band):
    assert confidence_band(confidence) is band


def test_confidence_drops_near_the_threshold_and_for_tiny_faces():
    clear = assess_attention(HeadPose(0, 0, 0), 30)
    borderline = assess_attention(HeadPose(29, 0, 0), 30)
    tiny = assess_attention(HeadPose(0, 0, 0), 4)
    assert clear.band is ConfidenceBand.HIGH
    assert borderline.looking and borderline.band is ConfidenceBand.LOW
    assert tiny.confidence < clear.confidence / 2
