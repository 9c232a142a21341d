from core.vision.anomalies import AnomalyDetector, CameraAnomaly
from core.vision.cameras import CameraConfig, OperatingHours
from core.vision.pipeline import FrameMetrics
from core.vision.windows import WindowAggregate, WindowRecord

NOON = 1_700_000_000 - 1_700_000_000 % 86_400 + 12 * 3600  # 12:00 UTC
CAMERA = CameraConfig(id="c1", location="loc", location_type="station",
                      operating_hours=OperatingHours(start="06:00", end="23:00"),
                      offline_after_s=120)


def frame(ts: float, people: int) -> FrameMetrics:
    return FrameMetrics(ts=ts, scored=True, people=people)


def window(start: float, crowd: float) -> WindowRecord:
    aggregate = WindowAggregate(start=start, end=start + 300, frames=10, scored_frames=10,
                                people_sum=int(crowd * 10))
    return WindowRecord.of("300s", aggregate)


def test_empty_view_for_ten_minutes_in_hours_raises_one_failure_until_faces_return():
    detector = AnomalyDetector(CAMERA)
    assert detector.observe_frame(frame(NOON, 2)) == []
    quiet = [detector.observe_frame(frame(NOON + s, 0)) for s in range(30, 1300, 30)]
    raised = [alert for alerts in quiet for alert in alerts]
    assert [a.kind for a in raised] == [CameraAnomaly.CAMERA_FAILURE]
    assert raised[0].source_ts == NOON + 630 and raised[0].region == "loc"
    detector.observe_frame(frame(NOON + 1400, 1))
    assert detector.observe_frame(frame(NOON + 2100, 0))[0].kind is CameraAnomaly.CAMERA_FAILURE


def test_empty_view_at_night_is_no_failure():
    detector = AnomalyDetector(CAMERA)
    night = NOON + 12 * 3600  # midnight
    detector.observe_frame(frame(night, 0))
    assert detector.observe_frame(frame(night + 3600, 0)) == []


def test_crowd_three_times_its_trailing_average_is_a_surge():
    detector = AnomalyDetector(CAMERA)
    for i in range(4):
        assert detector.observe_window(window(NOON + 300 * i, 2.0)) == []
    assert detector.observe_window(window(NOON + 1200, 6.0)) == []  # exactly 3x: not more
    surge = detector.observe_window(window(NOON + 1500, 12.0))
    assert [a.kind for a in surge] == [CameraAnomaly.CROWD_SURGE]
    assert surge[0].evidence["avg_crowd"] == 12.0


def test_offline_raises_once_and_state_survives_a_checkpoint():
    detector = AnomalyDetector(CAMERA)
    assert detector.check_offline(NOON + 100, NOON) == []
    assert [a.kind for a in detector.check_offline(NOON + 121, NOON)] == [
        CameraAnomaly.CAMERA_OFFLINE]
    restored = AnomalyDetector.from_dict(CAMERA, detector.to_dict())
    assert restored.check_offline(NOON + 200, NOON) == []
    restored.observe_frame(frame(NOON + 210, 1))
    assert len(restored.check_offline(NOON + 400, NOON + 210)) == 1
