import pytest

from core.vision.pipeline import FrameMetrics
from core.vision.windows import AudienceWindows


def frame(ts: float, people: int, attentive: int, women: int = 0) -> FrameMetrics:
    return FrameMetrics(
        ts=ts,
        scored=True,
        people=people,
        attentive=attentive,
        age_bands={"25-34": people},
        genders={"female": women, "male": people - women},
    )


def test_tumbling_window_closes_when_the_next_one_starts():
    windows = AudienceWindows()
    assert windows.add(frame(0, 2, 1, women=2)) == []
    assert windows.add(frame(120, 4, 3)) == []
    assert windows.add(frame(240, 0, 0)) == []
    (closed,) = windows.add(frame(300, 1, 1))
    assert (closed.start, closed.end, closed.frames) == (0, 300, 3)
    assert closed.avg_crowd == pytest.approx(2.0)
    assert closed.attention_rate == pytest.approx(4 / 6)
    shares = closed.gender_distribution
    assert shares == {"female": pytest.approx(1 / 3), "male": pytest.approx(2 / 3)}
    assert (closed.peak_people, closed.peak_ts) == (4, 120)


def test_rejected_frames_are_counted_but_not_averaged():
    windows = AudienceWindows()
    windows.add(frame(10, 3, 3))
    windows.add(FrameMetrics(ts=20, scored=False, rejected_reason="blurry"))
    (live, *_) = windows.live()
    assert live.frames == 2 and live.scored_frames == 1
    assert live.rejected == {"blurry": 1}
    assert live.avg_crowd == 3.0


def test_sliding_windows_cover_their_span():
    windows = AudienceWindows()
    for minute in range(90):
        windows.add(frame(minute * 60.0, minute % 5, 0))
    quarter = windows.sliding(900)
    hour = windows.sliding(3600)
    assert (quarter.start, quarter.end, quarter.frames) == (75 * 60, 90 * 60, 15)
    assert (hour.start, hour.frames) == (30 * 60, 60)
    assert quarter.avg_crowd == pytest.approx(2.0)


def test_late_frames_are_counted_and_dropped():
    windows = AudienceWindows()
    windows.add(frame(400, 1, 1))
    assert windows.add(frame(100, 9, 9)) == []
    assert windows.late_frames == 1
    assert windows.live()[0].peak_people == 1


def test_state_round_trips_through_a_dict():
    windows = AudienceWindows()
    for ts in range(0, 600, 45):
        windows.add(frame(float(ts), ts % 4, 1 if ts % 4 else 0))
    restored = AudienceWindows.from_dict(windows.to_dict())
    assert restored.live() == windows.live()
    assert restored.add(frame(900, 2, 2)) == windows.add(frame(900, 2, 2))


def test_window_lengths_must_fit_the_buckets():
    with pytest.raises(ValueError):
        AudienceWindows(tumbling_s=90)
