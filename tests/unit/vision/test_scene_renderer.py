import numpy as np
import pytest

from core.vision.faces import detect_faces
from core.vision.scene import (
    CameraFailure,
    Person,
    SimulatedCamera,
    crowd_factor,
    face_photos,
    render_scene,
    spread_people,
)

REAL_PHOTOS = (0, 1, 2)  # astronaut, grace_hopper, camera


def _found(truth, detections) -> int:
    hits = 0
    for placed in truth:
        x, y, w, h = placed.box
        hits += any(
            abs(d.box[0] + d.box[2] / 2 - x - w / 2) < w / 2
            and abs(d.box[1] + d.box[3] / 2 - y - h / 2) < h / 2
            for d in detections
        )
    return hits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detector_finds_exactly_the_faces_the_scene_claims(seed):
    rng = np.random.default_rng(seed)
    frame, truth = render_scene(spread_people(rng, 8, face_px=(50, 150), photos=REAL_PHOTOS))
    detections = detect_faces(frame)
    assert frame.shape == (1080, 1920, 3)
    assert len(truth) == 8
    assert _found(truth, detections) == 8
    assert len(detections) == 8


def test_mixed_scene_with_lfw_faces_is_mostly_found():
    rng = np.random.default_rng(7)
    frame, truth = render_scene(spread_people(rng, 16, face_px=(70, 120)))
    assert _found(truth, detect_faces(frame)) >= 0.85 * len(truth)


def test_mirrored_people_are_rendered_mirrored_and_keep_their_pose_class():
    frame, truth = render_scene(
        [Person(2, (500, 500), 120, mirrored=False), Person(2, (1400, 500), 120, mirrored=True)]
    )
    assert [t.mirrored for t in truth] == [False, True]
    assert not any(t.looking for t in truth)
    assert np.array_equal(frame[440:560, 440:560], frame[440:560, 1460:1340:-1]) is False


def test_rendering_is_deterministic():
    people = spread_people(np.random.default_rng(3), 5)
    assert people == spread_people(np.random.default_rng(3), 5)
    assert np.array_equal(render_scene(people)[0], render_scene(people)[0])
    camera = SimulatedCamera("cam-1", seed=5)
    ts = 1_700_000_000.0
    first, second = camera.frame(ts), camera.frame(ts)
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]


def test_face_photos_are_real_photos_with_known_poses():
    photos = face_photos()
    names = [p.name for p in photos]
    assert names[:3] == ["astronaut", "grace_hopper", "camera"]
    assert [p.looking for p in photos[:3]] == [True, True, False]


def test_crowd_follows_time_of_day_and_weekday():
    monday = 4 * 86_400.0  # 1970-01-05 was a Monday
    saturday = monday + 5 * 86_400
    assert crowd_factor(monday + 8.5 * 3600) > 0.9
    assert crowd_factor(monday + 3 * 3600) < 0.1
    assert crowd_factor(saturday + 8.5 * 3600) < crowd_factor(monday + 8.5 * 3600)
    assert crowd_factor(saturday + 14.5 * 3600) > crowd_factor(saturday + 8.5 * 3600)


def test_simulated_camera_is_busier_at_rush_hour():
    camera = SimulatedCamera("cam-1", seed=1)
    monday = 4 * 86_400.0 + 7 * 86_400 * 2000

    def average(hour: float) -> float:
        return np.mean([len(camera.people_at(monday + hour * 3600 + k * 97)) for k in range(20)])

    assert average(8.5) > 3 * average(3.0)


def test_burst_walkers_move_between_frames():
    camera = SimulatedCamera("cam-1", seed=1)
    ts = 4 * 86_400.0 + 8.5 * 3600
    burst = camera.burst(ts, frames=3, fps=2)
    assert [shot[0] for shot in burst] == [ts, ts + 0.5, ts + 1.0]
    assert not np.array_equal(burst[0][1], burst[2][1])


@pytest.mark.parametrize("failure", list(CameraFailure))
def test_a_camera_dies(failure):
    ts = 4 * 86_400.0 + 8.5 * 3600
    camera = SimulatedCamera("cam-dies", seed=1, dies_at=ts, failure=failure)
    assert camera.frame(ts - 1) is not None
    after = camera.frame(ts + 1)
    if failure is CameraFailure.OFFLINE:
        assert after is None and camera.burst(ts + 1) == []
    else:
        assert after is not None and after[1] == []
