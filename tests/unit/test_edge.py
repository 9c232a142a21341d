import cv2
import numpy as np

from core.edge import EdgeStats, MotionChooser, encode_jpeg, read_source, run_edge
from core.vision.decode import decode_frame
from core.vision.scene import Person, render_scene

SIZE = (640, 360)


class Collect:
    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []

    def send(self, jpeg: bytes, ts: float) -> None:
        self.sent.append((ts, jpeg))

    def close(self) -> None:
        pass


def footage(seconds: int = 20, fps: int = 5):
    """Mostly still street; one person walks through between seconds 5 and 8."""
    empty, _ = render_scene([], SIZE)
    for i in range(seconds * fps):
        ts = i / fps
        if 5 <= ts < 8:
            frame, _ = render_scene([Person(0, (80 + (ts - 5) * 160, 180), 70)], SIZE)
        else:
            frame = empty
        yield ts, frame


def test_only_moving_frames_and_heartbeats_are_sent():
    sender = Collect()
    stats = run_edge(footage(), MotionChooser(min_gap_s=0.5, heartbeat_s=10), sender,
                     max_side=None)
    times = [ts for ts, _ in sender.sent]
    assert stats.frames_read == 100 and stats.frames_sent == len(times)
    assert times[0] == 0.0 and times[-1] == 18.0  # first frame; a heartbeat 10 s after the last
    moving = [t for t in times if 5 <= t <= 8.2]
    assert len(moving) >= 4  # the walker is followed
    assert len(times) <= 12
    assert stats.bytes_saved_pct > 80
    assert all(decode_frame(jpeg).ok for _, jpeg in sender.sent)


def test_jpeg_is_shrunk_to_max_side():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    image = decode_frame(encode_jpeg(frame, 70, max_side=960)).image
    assert image is not None and image.shape[:2] == (540, 960)


def test_a_video_file_is_read_frame_by_frame(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, SIZE)
    for _, frame in footage(seconds=2):
        writer.write(frame)
    writer.release()
    stats = run_edge(read_source(str(path)), MotionChooser(), None, stats=EdgeStats())
    assert stats.frames_read == 10 and stats.frames_sent == 1
