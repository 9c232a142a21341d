import cv2
import numpy as np

from core.vision.pipeline import (
    FrameMetrics,
    score_frame,
    score_frame_bytes,
    select_burst_frames,
)
from core.vision.scene import Person, render_scene
from core.vision.scorer import LocalFaceScorer
from core.vision.tracking import FaceTracker

SCENE = [
    Person(0, (400, 300), 110),
    Person(1, (1000, 350), 120, mirrored=True),
    Person(2, (1500, 700), 110),
]


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_scene_frame_gives_counts_and_no_pixels():
    frame, _ = render_scene(SCENE)
    metrics = score_frame_bytes(_jpeg(frame), 10.0, LocalFaceScorer(), FaceTracker())
    assert metrics.scored and metrics.rejected_reason is None
    assert metrics.people == 3 and metrics.attentive == 2
    assert sum(metrics.age_bands.values()) == 3 and sum(metrics.genders.values()) == 3
    assert metrics.dwell.tracks == 3
    dumped = metrics.model_dump_json()
    assert len(dumped) < 1000 and FrameMetrics.model_validate_json(dumped) == metrics


def test_a_burst_of_frames_builds_dwell_and_engagement():
    scorer, tracker = LocalFaceScorer(demographics=False), FaceTracker()
    for step in range(3):
        people = [Person(0, (400 + 20 * step, 300), 110), Person(2, (1500, 700), 110)]
        frame, _ = render_scene(people)
        metrics = score_frame(frame, 100.0 + step * 0.2, scorer, tracker)
    assert metrics.people == 2
    assert metrics.dwell.engaged == 1
    assert abs(metrics.dwell.max_s - 0.4) < 1e-9


def test_corrupt_and_truncated_bytes_are_rejected_with_reason():
    scorer, tracker = LocalFaceScorer(), FaceTracker()
    frame, _ = render_scene(SCENE)
    data = _jpeg(frame)
    truncated = score_frame_bytes(data[: len(data) // 2], 1.0, scorer, tracker)
    garbage = score_frame_bytes(b"not an image", 2.0, scorer, tracker)
    assert (truncated.scored, truncated.rejected_reason) == (False, "truncated")
    assert (garbage.scored, garbage.rejected_reason) == (False, "unsupported_format")
    assert truncated.people == 0


def test_blurred_and_dark_frames_are_rejected_not_scored():
    scorer, tracker = LocalFaceScorer(), FaceTracker()
    blurred, _ = render_scene(SCENE, blur_sigma=4)
    dark, _ = render_scene(SCENE, brightness=0.1)
    assert score_frame(blurred, 1.0, scorer, tracker).rejected_reason == "blurry"
    assert score_frame(dark, 2.0, scorer, tracker).rejected_reason == "too_dark"
    assert tracker.tracks == []


def test_burst_selection_prefers_motion():
    still, _ = render_scene([Person(0, (400, 300), 110)])
    moved, _ = render_scene([Person(0, (700, 300), 110)])
    moved_more, _ = render_scene([Person(0, (1200, 500), 110), Person(1, (300, 700), 110)])
    burst = [still, still.copy(), moved, moved_more, moved_more.copy()]
    assert select_burst_frames(burst, keep=2) == [2, 3]


def test_burst_selection_prefers_people_when_it_can_count_them():
    empty, _ = render_scene([])
    one, _ = render_scene([Person(0, (400, 300), 110)])
    three, _ = render_scene(SCENE)
    burst = [empty, one, empty.copy(), three]
    counts = {id(empty): 0, id(one): 1, id(three): 3}
    chosen = select_burst_frames(burst, keep=1, count_people=lambda f: counts.get(id(f), 0))
    assert chosen == [3]


def test_a_still_burst_still_yields_one_frame():
    frame, _ = render_scene([])
    assert select_burst_frames([frame] * 5) == [2]
    assert select_burst_frames([]) == []
