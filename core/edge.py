"""The edge agent beside a camera: pick frames with motion, JPEG them, send only those.

Frames come from anything OpenCV's `VideoCapture` opens (RTSP, HTTP, a video file). A
frame is sent when enough of the view changed since the last frame sent (frame
differencing on a small blurred thumbnail) and at least `min_gap_s` passed, or as a
heartbeat after `heartbeat_s` of stillness, so an empty scene is still reported.
Senders publish the JPEG to MQTT `cameras/{location}/{device}/frames` (QoS 1, TLS with a
client certificate when configured) or POST it to the ingest app. `EdgeStats` counts
the bytes sent against JPEG-streaming every frame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt

from core.stream_sources import BrokerAddress
from core.vision.cameras import camera_topic
from core.vision.pipeline import MOTION_PIXEL_DELTA, motion_thumbnail

FRAME_TS_HEADER = "X-Frame-Ts"


@dataclass(frozen=True)
class MqttTls:
    """CA to trust the broker, and this device's X.509 certificate and key (mutual TLS)."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_env(cls) -> MqttTls | None:
        """From DYNAPRICE_MQTT_CA / _CERT / _KEY; None when no CA is set."""
        ca = os.environ.get("DYNAPRICE_MQTT_CA")
        if not ca:
            return None
        return cls(ca, os.environ.get("DYNAPRICE_MQTT_CERT"), os.environ.get("DYNAPRICE_MQTT_KEY"))


def mqtt_client(url: str, client_id: str, tls: MqttTls | None = None, *,
                clean_session: bool = True, manual_ack: bool = False) -> mqtt.Client:
    """A configured (not yet connected) paho client for `url`; mqtts:// or `tls` turns on TLS."""
    address = BrokerAddress.parse(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, protocol=mqtt.MQTTv311,
                         manual_ack=manual_ack)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if tls is not None:
        client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
    elif address.tls:
        client.tls_set()
    return client


def broker_port(url: str) -> tuple[str, int]:
    address = BrokerAddress.parse(url)
    return address.host, address.port


class MotionChooser:
    """Decides which frames are worth sending."""

    def __init__(self, min_motion: float = 0.01, min_gap_s: float = 1.0,
                 heartbeat_s: float = 30.0) -> None:
        self.min_motion = min_motion
        self.min_gap_s = min_gap_s
        self.heartbeat_s = heartbeat_s
        self._last_thumb: np.ndarray | None = None
        self._last_ts: float | None = None

    def choose(self, frame: np.ndarray, ts: float) -> bool:
        """True when `frame` should be sent (and it becomes the new reference)."""
        thumb = motion_thumbnail(frame)
        if self._last_thumb is None or self._last_ts is None:
            send = True
        else:
            since = ts - self._last_ts
            changed = float(np.count_nonzero(cv2.absdiff(thumb, self._last_thumb)
                                             > MOTION_PIXEL_DELTA)) / thumb.size
            send = since >= self.heartbeat_s or (
                since >= self.min_gap_s and changed >= self.min_motion)
        if send:
            self._last_thumb, self._last_ts = thumb, ts
        return send


def encode_jpeg(frame: np.ndarray, quality: int = 80, max_side: int | None = 1280) -> bytes:
    """JPEG bytes of `frame`, first shrunk so its long side is at most `max_side`."""
    if max_side and max(frame.shape[:2]) > max_side:
        scale = max_side / max(frame.shape[:2])
        frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


class FrameSender(Protocol):
    def send(self, jpeg: bytes, ts: float) -> None: ...

    def close(self) -> None: ...


class HttpFrameSender:
    """POSTs each frame to `{base_url}/cameras/{camera_id}/frames` (the ingest app)."""

    def __init__(self, base_url: str, camera_id: str, timeout_s: float = 30.0) -> None:
        self.url = f"{base_url.rstrip('/')}/cameras/{camera_id}/frames"
        self.client = httpx.Client(timeout=timeout_s)

    def send(self, jpeg: bytes, ts: float) -> None:
        response = self.client.post(self.url, content=jpeg, headers={
            "Content-Type": "image/jpeg", FRAME_TS_HEADER: f"{ts:.3f}"})
        response.raise_for_status()

    def close(self) -> None:
        self.client.close()


class MqttFrameSender:
    """Publishes each frame at QoS 1 and waits for the broker's PUBACK."""

    def __init__(self, url: str, location: str, device: str, tls: MqttTls | None = None,
                 timeout_s: float = 30.0) -> None:
        self.topic = camera_topic(location, device, "frames")
        self.timeout_s = timeout_s
        self.client = mqtt_client(url, f"edge-{device}", tls)
        self.client.connect(*broker_port(url), keepalive=30)
        self.client.loop_start()

    def send(self, jpeg: bytes, ts: float) -> None:
        info = self.client.publish(self.topic, jpeg, qos=1)
        info.wait_for_publish(self.timeout_s)
        if not info.is_published():
            raise TimeoutError(f"broker did not acknowledge a frame on {self.topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class EdgeStats:
    frames_read: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    bytes_every_frame: int = 0

    @property
    def bytes_saved_pct(self) -> float:
        if not self.bytes_every_frame:
            return 0.0
        return 100.0 * (1 - self.bytes_sent / self.bytes_every_frame)


def read_source(url: str, realtime: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    """(timestamp, frame) from `url`; a file's timestamps follow its own clock from now."""
    capture = cv2.VideoCapture(url)
    if not capture.isOpened():
        raise OSError(f"cannot open video source {url!r}")
    started = time.time()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            position_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
            ts = started + position_ms / 1000 if position_ms > 0 and not realtime else time.time()
            yield ts, frame
    finally:
        capture.release()


def run_edge(frames: Iterable[tuple[float, np.ndarray]], chooser: MotionChooser,
             sender: FrameSender | None, quality: int = 80, max_side: int | None = 1280,
             stats: EdgeStats | None = None) -> EdgeStats:
    """Choose, compress and send; every frame is also JPEG-sized for the streaming baseline."""
    stats = stats or EdgeStats()
    for ts, frame in frames:
        stats.frames_read += 1
        jpeg = encode_jpeg(frame, quality, max_side)
        stats.bytes_every_frame += len(jpeg)
        if not chooser.choose(frame, ts):
            continue
        if sender is not None:
            sender.send(jpeg, ts)
        stats.frames_sent += 1
        stats.bytes_sent += len(jpeg)
    return stats
