"""Decode JPEG/PNG bytes into a BGR frame, turning every bad input into a reason code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

JPEG_START = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END_CHUNK = b"IEND"


class DecodeFailure(StrEnum):
    """Why a frame's bytes could not be turned into an image."""

    EMPTY = "empty"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A decoded BGR image, or the reason there is none."""

    image: np.ndarray | None
    failure: DecodeFailure | None = None

    @property
    def ok(self) -> bool:
        return self.image is not None


def decode_frame(data: bytes | bytearray | memoryview) -> DecodedFrame:
    """Decode JPEG or PNG bytes to a uint8 BGR array; never raises for bad input."""
    payload = bytes(data)
    if not payload:
        return DecodedFrame(None, DecodeFailure.EMPTY)
    if payload.startswith(JPEG_START):
        # libjpeg pads a cut-off stream with grey and reports success, so check the EOI marker.
        complete = JPEG_END in payload[-64:]
    elif payload.startswith(PNG_SIGNATURE):
        complete = PNG_END_CHUNK in payload[-32:]
    else:
        return DecodedFrame(None, DecodeFailure.UNSUPPORTED_FORMAT)
    if not complete:
        return DecodedFrame(None, DecodeFailure.TRUNCATED)
    try:
        image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        return DecodedFrame(None, DecodeFailure.CORRUPT)
    return DecodedFrame(image)
