"""Real photographs shipped in installed packages, as BGR frames."""

from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope="session")
def turned_face() -> np.ndarray:
    """skimage's `camera()`: a man turned about 50 degrees from the lens."""
    return cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="session")
def lfw_upscaled() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """lfw_subset's 100 face and 100 non-face 25x25 crops, upscaled (cubic) to 128x128."""
    crops = [
        cv2.resize(
            cv2.cvtColor((crop * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR),
            (128, 128),
            interpolation=cv2.INTER_CUBIC,
        )
        for crop in data.lfw_subset()
    ]
    return crops[:100], crops[100:]
