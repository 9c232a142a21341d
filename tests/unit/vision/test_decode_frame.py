import cv2
import numpy as np
import pytest

from core.vision.decode import DecodeFailure, decode_frame


def _encoded(image: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_valid_images_decode_to_bgr(astronaut, ext):
    decoded = decode_frame(_encoded(astronaut, ext))
    assert decoded.ok and decoded.failure is None
    assert decoded.image.shape == astronaut.shape


@pytest.mark.parametrize("ext", [".jpg", ".png"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_images_are_rejected(astronaut, ext, keep):
    data = _encoded(astronaut, ext)
    decoded = decode_frame(data[: int(len(data) * keep)])
    assert decoded.image is None
    assert decoded.failure is DecodeFailure.TRUNCATED


def test_corrupt_jpeg_body_is_rejected(astronaut):
    data = bytearray(_encoded(astronaut, ".jpg"))
    data[2:-2] = b"\x00" * (len(data) - 4)
    data[2] = 0xFF
    decoded = decode_frame(bytes(data))
    assert decoded.failure is DecodeFailure.CORRUPT


def test_corrupt_png_body_is_rejected(astronaut):
    data = bytearray(_encoded(astronaut, ".png"))
    data[40:-40] = np.random.default_rng(0).integers(0, 256, len(data) - 80, np.uint8).tobytes()
    decoded = decode_frame(bytes(data))
    assert decoded.failure is DecodeFailure.CORRUPT


@pytest.mark.parametrize(
    ("payload", "failure"),
    [
        (b"", DecodeFailure.EMPTY),
        (b"GIF89a\x01\x00", DecodeFailure.UNSUPPORTED_FORMAT),
        (b"\xff\xd8\xff", DecodeFailure.TRUNCATED),
    ],
)
def test_non_images_are_rejected_with_reason(payload, failure):
    assert decode_frame(payload).failure is failure
