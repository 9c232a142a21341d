from dataclasses import replace

import pytest

from core.vision.attention import ConfidenceBand
from core.vision.demographics import AgeBand, Gender
from core.vision.scorer import FaceObservation
from core.vision.tracking import ENGAGED_STREAK, FaceTracker, box_iou


def face(x: float, y: float, size: float = 80, looking: bool = True) -> FaceObservation:
    return FaceObservation(
        box=(x, y, size, size * 1.2),
        detection_score=0.9,
        yaw=0.0,
        pitch=0.0,
        roll=0.0,
        looking=looking,
        attention_confidence=0.95,
        confidence_band=ConfidenceBand.HIGH,
        age_band=AgeBand.AGE_25_34,
        gender=Gender.FEMALE,
        gender_confidence=0.9,
    )


def test_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0


def test_identity_kept_across_shifted_frames_and_dwell_measured():
    tracker = FaceTracker()
    ids = []
    for step in range(6):
        faces = [face(100 + 25 * step, 200), face(900 - 30 * step, 400)]
        tracked = tracker.update(faces, step * 0.1)
        ids.append([t.track_id for t in tracked])
    assert all(frame_ids == ids[0] for frame_ids in ids)
    assert len(set(ids[0])) == 2
    assert tracked[0].dwell_s == pytest.approx(0.5)


def test_faces_jumping_past_each_other_are_not_swapped_by_order():
    tracker = FaceTracker()
    first = tracker.update([face(100, 200), face(600, 200)], 0.0)
    second = tracker.update([face(620, 205), face(110, 198)], 0.1)
    assert second[0].track_id == first[1].track_id
    assert second[1].track_id == first[0].track_id


def test_a_far_away_face_opens_a_new_track():
    tracker = FaceTracker()
    (first,) = tracker.update([face(100, 200)], 0.0)
    (second,) = tracker.update([face(1500, 800)], 0.1)
    assert second.track_id != first.track_id


def test_consecutive_attentive_frames_make_an_engaged_track():
    tracker = FaceTracker()
    flags = []
    for step, looking in enumerate([True, True, False, True, True, True, False]):
        (tracked,) = tracker.update([face(100 + step, 200, looking=looking)], step * 0.1)
        flags.append(tracked.engaged)
    assert ENGAGED_STREAK == 3
    assert flags == [False, False, False, False, False, True, True]
    assert tracker.engaged_total == 1


def test_a_missed_frame_breaks_the_streak():
    tracker = FaceTracker()
    tracker.update([face(100, 200)], 0.0)
    tracker.update([face(100, 200)], 0.1)
    tracker.update([], 0.2)
    (tracked,) = tracker.update([face(100, 200)], 0.3)
    assert not tracked.engaged


def test_stale_tracks_close_and_keep_their_dwell():
    tracker = FaceTracker(max_gap_s=10)
    tracker.update([face(100, 200)], 0.0)
    tracker.update([face(102, 200)], 4.0)
    (later,) = tracker.update([face(100, 200)], 30.0)
    assert tracker.closed_tracks == 1 and tracker.closed_dwell_s == pytest.approx(4.0)
    assert later.dwell_s == 0.0


def test_state_round_trips_through_a_dict():
    tracker = FaceTracker()
    for step in range(2):
        tracker.update([face(100 + step, 200), face(700, 300, looking=False)], step * 0.1)
    restored = FaceTracker.from_dict(tracker.to_dict())
    original_next = tracker.update([face(103, 200), face(701, 300)], 0.2)
    restored_next = restored.update([face(103, 200), face(701, 300)], 0.2)
    assert restored_next == original_next
    assert original_next[0].engaged
    assert restored.to_dict() == tracker.to_dict()


def test_observation_fields_are_passed_through():
    observation = replace(face(0, 0), gender=Gender.MALE)
    (tracked,) = FaceTracker().update([observation], 0.0)
    assert tracked.observation is observation


def test_demographics_are_estimated_once_per_track_and_refreshed_when_the_face_grows():
    tracker, calls = FaceTracker(), []

    def describe(faces):
        calls.append(len(faces))
        return [replace(f, age_band=AgeBand.AGE_35_44, described=True) for f in faces]

    def undescribed(x, size=80.0):
        return replace(face(x, 100, size), age_band=AgeBand.UNKNOWN, described=False)

    first = tracker.update([undescribed(100), undescribed(600)], 0.0, describe=describe)
    second = tracker.update([undescribed(105), undescribed(605)], 0.1, describe=describe)
    grown = tracker.update([undescribed(110, 120.0), undescribed(610)], 0.2, describe=describe)
    assert calls == [2, 1]
    assert all(t.observation.age_band is AgeBand.AGE_35_44 for t in first + second + grown)
    assert [t.track_id for t in second] == [t.track_id for t in first]
    restored = FaceTracker.from_dict(tracker.to_dict())
    (again,) = restored.update([undescribed(612)], 0.3, describe=describe)
    assert calls == [2, 1] and again.observation.age_band is AgeBand.AGE_35_44
