import cv2
import numpy as np
import pytest

from core.vision.quality import QualityIssue, assess_quality

PHOTOS = ["astronaut", "grace_hopper", "turned_face"]


@pytest.mark.parametrize("photo", PHOTOS)
def test_real_photos_pass(photo, request):
    verdict = assess_quality(request.getfixturevalue(photo))
    assert verdict.ok and verdict.issue is None


@pytest.mark.parametrize("photo", PHOTOS)
def test_blurred_photos_are_rejected(photo, request):
    blurred = cv2.GaussianBlur(request.getfixturevalue(photo), (0, 0), 2.0)
    assert assess_quality(blurred).issue is QualityIssue.BLURRY


@pytest.mark.parametrize("photo", PHOTOS)
def test_dark_photos_are_rejected(photo, request):
    dark = (request.getfixturevalue(photo) * 0.15).astype(np.uint8)
    assert assess_quality(dark).issue is QualityIssue.TOO_DARK


@pytest.mark.parametrize("photo", PHOTOS)
def test_overexposed_photos_are_rejected(photo, request):
    washed = cv2.convertScaleAbs(request.getfixturevalue(photo), alpha=1.0, beta=170)
    assert assess_quality(washed).issue is QualityIssue.OVEREXPOSED


def test_gate_is_independent_of_resolution(astronaut):
    large = cv2.resize(astronaut, (1920, 1920), interpolation=cv2.INTER_CUBIC)
    assert assess_quality(large).ok
    blurred = cv2.GaussianBlur(large, (0, 0), 8.0)
    assert assess_quality(blurred).issue is QualityIssue.BLURRY
