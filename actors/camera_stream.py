"""One long-lived actor per camera: frames in (push, MQTT, pull or simulated), numbers out.

Frames are scored with core/vision's pipeline and never stored. Every call's frames are
acknowledged only after the windows, tracker, anomaly state and the not-yet-written lake
rows are checkpointed in Redis, so a restarted actor resumes with its counts intact;
a frame is identified by a digest of its bytes, so a retried or redelivered frame is
counted once. Lake rows are written in micro-batches; the live windows go to Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import ray
import redis
from pydantic import ValidationError
from ray.util import metrics

from core.alerts import AlertsConfig, build_dispatcher
from core.config_files import load_config
from core.edge import MqttTls, broker_port, mqtt_client
from core.lake import AUDIENCE, Lake
from core.settings import Settings
from core.vision.anomalies import AnomalyDetector, CameraAlert
from core.vision.audience_records import audience_table, frame_row, window_row
from core.vision.cameras import (
    CAMERA_ALERT_STREAM,
    CameraConfig,
    camera_key,
    camera_topic,
    source_of,
)
from core.vision.pipeline import FrameMetrics, score_frame, score_frame_bytes, select_burst_frames
from core.vision.scene import SimulatedCamera
from core.vision.scorer import make_scorer
from core.vision.shadow import ShadowStore
from core.vision.tracking import FaceTracker
from core.vision.windows import AudienceWindows

log = logging.getLogger(__name__)

RECENT_FRAME_IDS = 1024
RECONNECT_DELAYS_S = (1, 2, 5, 10, 30)
BURST_FPS = 10.0


def camera_actor_name(camera_id: str) -> str:
    return f"camera:{camera_id}"


def frame_id(data: bytes) -> str:
    """Identity of a pushed frame (a digest, never pixels): repeats are counted once."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass
class _Frame:
    """A frame waiting to be scored: encoded bytes (push) or a decoded array (pull)."""

    ts: float
    data: bytes | None = None
    image: np.ndarray | None = None
    frame_id: str | None = None
    done: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0.25)
class CameraStream:
    """Sample, score and aggregate one camera; checkpoint after every acknowledged batch."""

    def __init__(self, camera: CameraConfig, settings: Settings,
                 lake_batch_rows: int = 500, lake_flush_s: float = 60.0) -> None:
        if not settings.redis_url:
            raise ValueError("CameraStream needs REDIS_URL for checkpoints and live windows")
        self.camera = camera
        self.settings = settings
        self.lake_batch_rows = lake_batch_rows
        self.lake_flush_s = lake_flush_s
        self.lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.scorer = make_scorer(camera.scorer)
        self.shadows = ShadowStore(self.redis)
        self.shadow = self.shadows.load_or_create(camera)
        alerts = load_config("alerts", AlertsConfig, settings.configs_dir)
        alerts.redis_stream.key = CAMERA_ALERT_STREAM
        self.alerts = build_dispatcher(alerts, self.redis)
        self.started_at = time.time()
        self._restore()
        self.status = "active"
        self.connected = source_of(camera) != "url"
        self.last_error: str | None = None
        self._pending: list[_Frame] = []
        self._lock: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._mqtt: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        tags = ("camera",)
        self._frames_metric = metrics.Counter("dynaprice_camera_frames",
                                              "Frames scored or rejected", ("camera", "outcome"))
        self._latency = metrics.Histogram(
            "dynaprice_camera_frame_to_window_seconds", "Frame arrival to window update",
            boundaries=[0.05, 0.1, 0.25, 0.5, 1, 2, 5], tag_keys=tags)

    # ---- state -------------------------------------------------------------------------------

    def _restore(self) -> None:
        raw = self.redis.get(camera_key(self.camera.id, "checkpoint"))
        state = json.loads(raw) if raw else None
        if state is None:
            self.windows = AudienceWindows()
            self.tracker = FaceTracker()
            self.anomalies = AnomalyDetector(self.camera)
            self.counts: dict[str, Any] = {"frames": 0, "scored": 0, "duplicates": 0,
                                           "rejected": {}, "lake_rows": 0, "alerts": 0}
            self.unwritten: list[dict[str, Any]] = []
            self.recent_ids: deque[str] = deque(maxlen=RECENT_FRAME_IDS)
            self.last_frame_at = self.started_at
            return
        self.windows = AudienceWindows.from_dict(state["windows"])
        self.tracker = FaceTracker.from_dict(state["tracker"])
        self.anomalies = AnomalyDetector.from_dict(self.camera, state["anomalies"])
        self.counts = state["counts"]
        self.unwritten = state["unwritten"]
        self.recent_ids = deque(state["recent_ids"], maxlen=RECENT_FRAME_IDS)
        self.last_frame_at = state["last_frame_at"] or self.started_at
        log.info("camera %s resumed from checkpoint: %d frames", self.camera.id,
                 self.counts["frames"])

    def _checkpoint(self) -> None:
        state = {"windows": self.windows.to_dict(), "tracker": self.tracker.to_dict(),
                 "anomalies": self.anomalies.to_dict(), "counts": self.counts,
                 "unwritten": self.unwritten, "recent_ids": list(self.recent_ids),
                 "last_frame_at": self.last_frame_at}
        self.redis.set(camera_key(self.camera.id, "checkpoint"), json.dumps(state))

    def _publish_live(self) -> None:
        live = {"camera_id": self.camera.id, "location": self.camera.location,
                "location_type": str(self.camera.location_type), "updated_at": time.time(),
                "windows": [w.model_dump() for w in self.windows.live()]}
        self.redis.set(camera_key(self.camera.id, "window"), json.dumps(live))

    # ---- frames in ---------------------------------------------------------------------------

    async def submit_frame(self, data: bytes, ts: float | None = None) -> dict[str, Any]:
        """Score one JPEG/PNG frame; the answer comes once its counts are checkpointed."""
        self._ensure_started()
        frame = _Frame(ts=ts if ts is not None else time.time(), data=data,
                       frame_id=frame_id(data))
        return (await self._submit([frame]))[0]

    async def _submit(self, frames: list[_Frame]) -> list[dict[str, Any]]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        self._pending.extend(frames)
        async with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                try:
                    acks = await asyncio.to_thread(self._process, batch)
                except Exception as exc:  # nothing acknowledged; callers see the failure
                    for frame in batch:
                        frame.done.set_exception(exc)
                else:
                    for frame, ack in zip(batch, acks, strict=True):
                        frame.done.set_result(ack)
        return list(await asyncio.gather(*(frame.done for frame in frames)))

    def _process(self, batch: list[_Frame]) -> list[dict[str, Any]]:
        """Score, aggregate and checkpoint a batch (runs on a worker thread, under the lock)."""
        acks, alerts = [], []
        for frame in batch:
            if frame.frame_id is not None and frame.frame_id in self.recent_ids:
                self.counts["duplicates"] += 1
                acks.append({"accepted": False, "duplicate": True, "ts": frame.ts})
                continue
            if frame.data is not None:
                result = score_frame_bytes(frame.data, frame.ts, self.scorer, self.tracker)
            else:
                assert frame.image is not None
                result = score_frame(frame.image, frame.ts, self.scorer, self.tracker)
            alerts += self._count(result)
            if frame.frame_id is not None:
                self.recent_ids.append(frame.frame_id)
            acks.append({"accepted": result.scored, "duplicate": False, "ts": frame.ts,
                         "reason": result.rejected_reason, "people": result.people,
                         "attentive": result.attentive})
        self.last_frame_at = time.time()
        if len(self.unwritten) >= self.lake_batch_rows:
            self._write_lake()
        self._checkpoint()
        self._publish_live()
        for frame in batch:
            self._latency.observe(max(0.0, time.time() - frame.ts), {"camera": self.camera.id})
        self._raise(alerts)
        return acks

    def _count(self, result: FrameMetrics) -> list[CameraAlert]:
        self.counts["frames"] += 1
        outcome = "scored" if result.scored else str(result.rejected_reason)
        if result.scored:
            self.counts["scored"] += 1
        else:
            rejected = self.counts["rejected"]
            rejected[outcome] = rejected.get(outcome, 0) + 1
        self._frames_metric.inc(1, {"camera": self.camera.id, "outcome": outcome})
        alerts = self.anomalies.observe_frame(result)
        for window in self.windows.add(result):
            self.unwritten.append(window_row(self.camera, window))
            alerts += self.anomalies.observe_window(window)
        self.unwritten.append(frame_row(self.camera, result))
        return alerts

    def _write_lake(self) -> None:
        """Write the unwritten rows (the checkpoint that follows forgets them)."""
        if not self.unwritten:
            return
        self.lake.write_partitioned(audience_table(self.unwritten), AUDIENCE,
                                    ["location", "date"])
        self.counts["lake_rows"] += len(self.unwritten)
        self.unwritten = []

    def _raise(self, alerts: list[CameraAlert]) -> None:
        if alerts:
            self.counts["alerts"] += len(alerts)
            self.alerts.dispatch(alerts)  # type: ignore[arg-type]  # same fields the sinks read

    async def flush(self) -> dict[str, Any]:
        """Write every buffered row to the lake now (also run every `lake_flush_s`)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            await asyncio.to_thread(self._flush_and_checkpoint)
        return self.stats()

    def _flush_and_checkpoint(self) -> None:
        self._write_lake()
        self._checkpoint()

    # ---- background loops: sampling, offline watch, lake flush, MQTT --------------------------

    async def start(self) -> dict[str, Any]:
        """Start the sampling, watch and MQTT loops (idempotent; the fleet calls it)."""
        self._ensure_started()
        return self.stats()

    def _ensure_started(self) -> None:
        if self._tasks and not all(task.done() for task in self._tasks):
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._tasks = [asyncio.ensure_future(self._watch()),
                       asyncio.ensure_future(self._flush_every())]
        if source_of(self.camera) != "push":
            self._tasks.append(asyncio.ensure_future(self._sample_forever()))
        if self.settings.mqtt_url:
            self._start_mqtt()

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.lake_flush_s)
            try:
                await self.flush()
            except Exception as exc:  # the rows stay in the checkpoint for the next try
                self.last_error = f"lake write failed: {exc!r}"
                log.warning("camera %s: %s", self.camera.id, self.last_error)

    async def _watch(self) -> None:
        period = min(5.0, self.camera.offline_after_s / 4)
        while True:
            await asyncio.sleep(period)
            alerts = self.anomalies.check_offline(time.time(), self.last_frame_at)
            if alerts:
                self.status = "offline"
                self._raise(alerts)
            elif self.status == "offline" and time.time() - self.last_frame_at < period * 2:
                self.status = self.shadow.desired.status

    async def _sample_forever(self) -> None:
        """Every `interval_s` (read from the shadow each time) take a burst and score the best."""
        source = self._open_source()
        failures = 0
        while True:
            desired = self.shadow.desired
            if desired.status == "active":
                burst = await asyncio.to_thread(source.burst, desired.burst)
                if burst:
                    failures, self.connected = 0, True
                    images = [image for _, image in burst]
                    chosen = select_burst_frames(images, keep=self.camera.keep_per_burst)
                    await self._submit([_Frame(ts=burst[i][0], image=images[i]) for i in chosen])
                else:
                    self.connected = False
                    delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
                    failures += 1
                    await asyncio.sleep(delay)
                    continue
            assert self._wake is not None
            try:
                await asyncio.wait_for(self._wake.wait(), desired.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()

    def _open_source(self) -> BurstSource:
        if self.camera.url:
            return CaptureSource(self.camera.url)
        assert self.camera.simulated is not None
        sim = self.camera.simulated
        dies_at = self.started_at + sim.dies_after_s if sim.dies_after_s else None
        return SimulatedSource(SimulatedCamera(
            self.camera.id, seed=sim.seed, peak_arrivals_per_min=sim.peak_arrivals_per_min,
            size=(sim.width, sim.height), dies_at=dies_at))

    # ---- device shadow -------------------------------------------------------------------------

    async def set_desired(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Change the desired config; sampling follows at once (no restart)."""
        self._ensure_started()
        self._apply_desired(patch)
        if self._mqtt is not None:
            self._mqtt.publish(camera_topic(self.camera.location, self.camera.id,
                                            "shadow/desired"),
                               self.shadow.desired.model_dump_json(), qos=1, retain=True)
        return self.shadow.model_dump(mode="json")

    def _apply_desired(self, patch: dict[str, Any]) -> None:
        self.shadow = self.shadows.load_or_create(self.camera).with_desired(patch)
        # this actor applies sampling changes itself, so it reports the desired state as done
        self.shadow = self.shadow.with_reported(self.shadow.desired)
        self.shadows.save(self.shadow)
        if self.status != "offline":
            self.status = self.shadow.desired.status
        if self._wake is not None:
            self._wake.set()
        if self._mqtt is not None:
            self._mqtt.publish(camera_topic(self.camera.location, self.camera.id,
                                            "shadow/reported"),
                               self.shadow.desired.model_dump_json(), qos=1, retain=True)

    def shadow_state(self) -> dict[str, Any]:
        return self.shadow.model_dump(mode="json")

    # ---- MQTT: frames, telemetry and desired shadow of this camera ----------------------------

    def _start_mqtt(self) -> None:
        if self._mqtt is not None:
            return
        assert self.settings.mqtt_url is not None
        client = mqtt_client(self.settings.mqtt_url,
                             f"{self.settings.namespace}-camera-{self.camera.id}",
                             MqttTls.from_env(), clean_session=False, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        client.connect_async(*broker_port(self.settings.mqtt_url), keepalive=30)
        client.loop_start()
        self._mqtt = client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"MQTT connect refused: {reason_code}"
            return
        for leaf in ("frames", "telemetry", "shadow/desired"):
            client.subscribe(camera_topic(self.camera.location, self.camera.id, leaf), qos=1)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(self._handle_message(message)))

    async def _handle_message(self, message: mqtt.MQTTMessage) -> None:
        """Handle one message, then PUBACK it (a crash before that makes the broker resend)."""
        leaf = message.topic.split("/", 3)[-1]
        try:
            if leaf == "frames":
                await self.submit_frame(bytes(message.payload), time.time())
            elif leaf == "telemetry":
                self._store_telemetry(message.payload)
            elif leaf == "shadow/desired":
                self._apply_desired_message(message.payload)
        except Exception as exc:  # unacknowledged: the broker redelivers it
            self.last_error = f"MQTT {leaf} message failed: {exc!r}"
            log.warning("camera %s: %s", self.camera.id, self.last_error)
            return
        assert self._mqtt is not None
        self._mqtt.ack(message.mid, message.qos)

    def _store_telemetry(self, payload: bytes) -> None:
        try:
            values = json.loads(payload)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            self.counts["bad_telemetry"] = self.counts.get("bad_telemetry", 0) + 1
            return
        fields = {str(k): json.dumps(v) for k, v in values.items()} | {"received_at": time.time()}
        self.redis.hset(camera_key(self.camera.id, "telemetry"), mapping=fields)

    def _apply_desired_message(self, payload: bytes) -> None:
        try:
            patch = json.loads(payload)
            if not isinstance(patch, dict):
                raise ValueError("desired shadow must be a JSON object")
            if patch == self.shadow.desired.model_dump():
                return  # our own retained publication
            self._apply_desired(patch)
        except (ValueError, ValidationError) as exc:
            self.last_error = f"rejected desired shadow: {exc}"

    # ---- reading ---------------------------------------------------------------------------------

    def live_windows(self) -> list[dict[str, Any]]:
        return [w.model_dump() for w in self.windows.live()]

    def stats(self) -> dict[str, Any]:
        return {"camera_id": self.camera.id, "location": self.camera.location,
                "source": source_of(self.camera), "status": self.status,
                "connected": self.connected, "last_frame_at": self.last_frame_at,
                "interval_s": self.shadow.desired.interval_s, **self.counts,
                "unwritten_rows": len(self.unwritten), "late_frames": self.windows.late_frames,
                "last_error": self.last_error}

    async def stop(self) -> dict[str, Any]:
        """Write buffered rows and stop the loops (the fleet calls it before removing us)."""
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
            self._mqtt = None
        result = await self.flush()
        self.alerts.flush(5.0)
        return result


class BurstSource(Protocol):
    """Where bursts of (ts, frame) come from; an empty burst means no frames."""

    def burst(self, frames: int) -> list[tuple[float, np.ndarray]]: ...


class CaptureSource:
    """An OpenCV VideoCapture (RTSP/HTTP/file), reopened when a read fails."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.capture: Any = None

    def burst(self, frames: int) -> list[tuple[float, np.ndarray]]:
        if self.capture is None or not self.capture.isOpened():
            self.capture = cv2.VideoCapture(self.url)
        shots = []
        for _ in range(frames):
            ok, image = self.capture.read()
            if not ok:
                self.capture.release()
                self.capture = None
                break
            shots.append((time.time(), image))
        return shots


class SimulatedSource:
    """A SimulatedCamera rendered at wall-clock time."""

    def __init__(self, camera: SimulatedCamera) -> None:
        self.camera = camera

    def burst(self, frames: int) -> list[tuple[float, np.ndarray]]:
        return [(ts, image) for ts, image, _ in self.camera.burst(time.time(), frames, BURST_FPS)]
