"""CameraStream and CameraFleet on the session's Ray: windows, restarts, MQTT, HTTP push."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import paho.mqtt.client as mqtt
import pytest
import ray
import redis

from actors.camera_fleet import CameraFleet, fleet_key
from actors.camera_stream import CAMERA_ALERT_STREAM, CameraStream, camera_actor_name
from core.lake import AUDIENCE, Lake
from core.settings import Settings
from core.stream_sources import BrokerAddress
from core.vision.cameras import CameraConfig, SimulatedFeed, camera_key, camera_topic
from core.vision.scene import Person, render_scene

pytestmark = pytest.mark.slow
SIZE = (960, 540)
WINDOW_START = 1_700_000_100.0  # a 5-minute boundary
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"\x93NUMPY")


def scene_jpeg(people: int, shift: int = 0) -> bytes:
    """A frame with `people` frontal faces (distinct bytes per `shift`)."""
    crowd = [Person(i % 2, (150 + 250 * i + shift, 200 + 60 * (i % 2)), 100)
             for i in range(people)]
    frame, truth = render_scene(crowd, SIZE)
    assert len(truth) == people
    return cv2.imencode(".jpg", frame)[1].tobytes()


def camera(camera_id: str | None = None, **fields) -> CameraConfig:
    return CameraConfig(id=camera_id or f"cam-{uuid.uuid4().hex[:8]}", location="test-loc",
                        location_type="station", **fields)


def forget(settings: Settings, *cameras: CameraConfig) -> None:
    """Kill the test's camera actors and drop their Redis keys."""
    client = redis.Redis.from_url(settings.redis_url)
    for cam in cameras:
        try:
            ray.kill(ray.get_actor(camera_actor_name(cam.id), namespace=settings.namespace))
        except ValueError:
            pass
        client.delete(*(camera_key(cam.id, part)
                        for part in ("checkpoint", "window", "shadow", "telemetry")))
    client.delete(fleet_key(settings))


@pytest.fixture
def push_settings(ray_session, lake_dir: Path, redis_url: str) -> Settings:
    """Settings without MQTT (the push tests need no broker connection per actor)."""
    return Settings(lake_uri=str(lake_dir), redis_url=redis_url,
                    namespace=f"test-cam-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def pushed_camera(push_settings: Settings) -> Iterator[tuple[CameraConfig, object]]:
    cam = camera()
    handle = CameraStream.options(name=camera_actor_name(cam.id),
                                  namespace=push_settings.namespace).remote(cam, push_settings)
    yield cam, handle
    forget(push_settings, cam)


def image_like_files(*roots: Path) -> list[str]:
    """Files that start with JPEG/PNG/NumPy magic or hold such bytes anywhere, or are huge."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if data.startswith(IMAGE_MAGIC) or b"\xff\xd8\xff\xe0" in data or \
                    b"\x89PNG" in data or len(data) > 5_000_000:
                found.append(str(path))
    return found


def test_pushed_scenes_fill_windows_lake_and_redis(pushed_camera, push_settings, lake_dir):
    cam, handle = pushed_camera
    temp_before = set(Path(tempfile.gettempdir()).glob("*"))
    people = [2, 3, 2, 3]
    acks = ray.get([handle.submit_frame.remote(scene_jpeg(n, shift=i), WINDOW_START + 10 + 30 * i)
                    for i, n in enumerate(people)])
    assert [ack["people"] for ack in acks] == people
    # corrupt and truncated frames are rejected with a reason, counted, and the actor goes on
    good = scene_jpeg(1)
    bad = ray.get([handle.submit_frame.remote(b"not an image", WINDOW_START + 200),
                   handle.submit_frame.remote(good[: len(good) // 2], WINDOW_START + 201)])
    assert [ack["reason"] for ack in bad] == ["unsupported_format", "truncated"]
    # a frame of the next window closes the first one
    ray.get(handle.submit_frame.remote(scene_jpeg(1, shift=5), WINDOW_START + 310))
    stats = ray.get(handle.flush.remote())
    assert stats["frames"] == 7 and stats["scored"] == 5
    assert stats["rejected"] == {"unsupported_format": 1, "truncated": 1}

    table = Lake.open(str(lake_dir)).read(AUDIENCE)
    rows = table.to_pylist()
    assert {row["location"] for row in rows} == {"test-loc"}
    frames = [row for row in rows if row["record"] == "frame"]
    assert len(frames) == 7
    closed = [row for row in rows if row["record"] == "300s"]
    assert len(closed) == 1
    assert closed[0]["frames"] == 6 and closed[0]["scored_frames"] == 4
    assert closed[0]["avg_crowd"] == pytest.approx(2.5)
    assert dict(closed[0]["rejected"]) == {"unsupported_format": 1, "truncated": 1}

    live = json.loads(redis.Redis.from_url(push_settings.redis_url).get(
        camera_key(cam.id, "window")))
    assert live["windows"][0]["start"] == WINDOW_START + 300
    assert live["windows"][0]["frames"] == 1
    # only numbers left the actor: nothing image-like in the lake or new temp files
    new_temp = [p for p in Path(tempfile.gettempdir()).glob("*") if p not in temp_before]
    assert image_like_files(lake_dir, *[p for p in new_temp if p.is_dir()]) == []
    assert ray.get(handle.stats.remote())["frames"] == 7  # still alive


def test_killed_actor_keeps_every_acknowledged_frame(pushed_camera):
    cam, handle = pushed_camera
    payloads = [scene_jpeg(1 + i % 3, shift=7 * i) for i in range(8)]
    ray.get(handle.submit_frame.remote(payloads[0], WINDOW_START + 1))
    refs = [handle.submit_frame.remote(data, WINDOW_START + 2 + i)
            for i, data in enumerate(payloads[1:])]
    ray.wait(refs, num_returns=2)
    ray.kill(handle, no_restart=False)  # mid-stream; Ray restarts it and retries the calls
    acks = ray.get(refs, timeout=120)
    assert len(acks) == 7
    windows = ray.get(handle.live_windows.remote())
    stats = ray.get(handle.stats.remote())
    assert windows[0]["frames"] == 8, (windows[0], stats)
    assert stats["frames"] == 8


def test_mqtt_frames_telemetry_and_desired_shadow(ray_session, lake_dir, redis_url, mqtt_url):
    settings = Settings(lake_uri=str(lake_dir), redis_url=redis_url, mqtt_url=mqtt_url,
                        namespace=f"test-cam-{uuid.uuid4().hex[:8]}")
    cam = camera()
    handle = CameraStream.options(name=camera_actor_name(cam.id),
                                  namespace=settings.namespace).remote(cam, settings)
    address = BrokerAddress.parse(mqtt_url)
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{cam.id}")
    device.connect(address.host, address.port)
    device.loop_start()
    try:
        ray.get(handle.start.remote())
        time.sleep(1.0)  # subscription settles
        for i, people in enumerate((2, 1)):
            info = device.publish(camera_topic(cam.location, cam.id, "frames"),
                                  scene_jpeg(people, shift=i), qos=1)
            info.wait_for_publish(10)
        device.publish(camera_topic(cam.location, cam.id, "telemetry"),
                       json.dumps({"temp_c": 41.5}), qos=1).wait_for_publish(10)
        device.publish(camera_topic(cam.location, cam.id, "shadow/desired"),
                       json.dumps({"interval_s": 5, "burst": 3}), qos=1).wait_for_publish(10)
        deadline = time.monotonic() + 60
        while True:
            stats = ray.get(handle.stats.remote())
            if stats["frames"] == 2 and stats["interval_s"] == 5:
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.3)
        windows = ray.get(handle.live_windows.remote())
        assert windows[0]["scored_frames"] == 2 and windows[0]["avg_crowd"] == 1.5
        client = redis.Redis.from_url(redis_url)
        assert json.loads(client.hget(camera_key(cam.id, "telemetry"), "temp_c")) == 41.5
        shadow = json.loads(client.get(camera_key(cam.id, "shadow")))
        assert shadow["desired"]["interval_s"] == 5 and shadow["reported"]["burst"] == 3
        assert shadow["version"] == 2
    finally:
        ray.get(handle.stop.remote())
        device.disconnect()
        device.loop_stop()
        forget(settings, cam)


def test_http_push_route(ray_session, serve_port, push_settings):
    from ray import serve

    from serve_apps.ingest import IngestAPI

    cam = camera()
    handle = CameraStream.options(name=camera_actor_name(cam.id), namespace=push_settings.namespace,
                                  ).remote(cam, push_settings)
    name = f"ingest-{push_settings.namespace}"
    serve.run(IngestAPI.bind(push_settings), name=name, route_prefix=f"/{name}")
    base = f"http://127.0.0.1:{serve_port}/{name}/cameras"
    try:
        with httpx.Client(timeout=120) as client:
            ok = client.post(f"{base}/{cam.id}/frames", content=scene_jpeg(2),
                             headers={"Content-Type": "image/jpeg", "X-Frame-Ts": "1700000000"})
            assert ok.status_code == 200, ok.text
            assert ok.json()["people"] == 2 and ok.json()["accepted"] is True
            broken = client.post(f"{base}/{cam.id}/frames", content=b"\xff\xd8\xff garbage",
                                 headers={"Content-Type": "image/jpeg"})
            assert broken.status_code == 422 and broken.json()["error"] == "undecodable_image"
            unknown = client.post(f"{base}/nope/frames", content=scene_jpeg(1),
                                  headers={"Content-Type": "image/jpeg"})
            assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
            text = client.post(f"{base}/{cam.id}/frames", content=b"hello",
                               headers={"Content-Type": "text/plain"})
            assert text.status_code == 415
            huge = client.post(f"{base}/{cam.id}/frames", content=b"\0" * (9 * 1024 * 1024),
                               headers={"Content-Type": "image/png"})
            assert huge.status_code == 413 and huge.json()["error"] == "payload_too_large"
        stats = ray.get(handle.stats.remote())
        assert stats["frames"] == 2 and stats["rejected"] == {"truncated": 1}
    finally:
        serve.delete(name)
        forget(push_settings, cam)


def test_fleet_reconciles_and_desired_interval_changes_sampling(push_settings):
    sim = SimulatedFeed(seed=5, peak_arrivals_per_min=30, width=640, height=360)
    simulated = camera(simulated=sim, interval_s=3600, burst=2)
    pushed = camera()
    fleet = CameraFleet.options(namespace=push_settings.namespace).remote(push_settings)
    try:
        result = ray.get(fleet.reconcile.remote([simulated, pushed]))
        assert result["added"] == sorted([simulated.id, pushed.id])
        rows = ray.get(fleet.status.remote())
        assert [row["camera_id"] for row in rows] == sorted([simulated.id, pushed.id])
        sim_handle = ray.get_actor(camera_actor_name(simulated.id),
                                   namespace=push_settings.namespace)
        deadline = time.monotonic() + 60
        while ray.get(sim_handle.stats.remote())["frames"] < 1:  # the first burst at start
            assert time.monotonic() < deadline
            time.sleep(0.3)
        time.sleep(2)
        before = ray.get(sim_handle.stats.remote())["frames"]
        ray.get(sim_handle.set_desired.remote({"interval_s": 0.5}))  # no restart
        while ray.get(sim_handle.stats.remote())["frames"] < before + 3:
            assert time.monotonic() < deadline
            time.sleep(0.3)

        result = ray.get(fleet.reconcile.remote([pushed]))
        assert result == {"added": [], "replaced": [], "removed": [simulated.id],
                          "kept": [pushed.id]}
        with pytest.raises(ValueError):
            ray.get_actor(camera_actor_name(simulated.id), namespace=push_settings.namespace)
        assert [row["camera_id"] for row in ray.get(fleet.status.remote())] == [pushed.id]
    finally:
        ray.kill(fleet)
        forget(push_settings, simulated, pushed)


def test_frames_carry_no_pixels_into_checkpoints(pushed_camera, push_settings):
    cam, handle = pushed_camera
    ray.get(handle.submit_frame.remote(scene_jpeg(2), WINDOW_START))
    checkpoint = redis.Redis.from_url(push_settings.redis_url).get(camera_key(cam.id, "checkpoint"))
    assert checkpoint is not None and len(checkpoint) < 20_000
    assert not any(magic in checkpoint for magic in IMAGE_MAGIC)


def test_pull_from_a_video_file_and_offline_when_the_source_is_gone(push_settings, tmp_path):
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5, SIZE)
    for i in range(10):
        writer.write(render_scene([Person(0, (200 + 40 * i, 250), 100)], SIZE)[0])
    writer.release()
    pulled = camera(url=str(clip), interval_s=0.5, burst=3)
    gone = camera(url=str(tmp_path / "missing.avi"), offline_after_s=2)
    handles = [CameraStream.options(name=camera_actor_name(c.id), namespace=push_settings.namespace
                                    ).remote(c, push_settings) for c in (pulled, gone)]
    try:
        ray.get([handle.start.remote() for handle in handles])
        deadline = time.monotonic() + 60
        while True:
            pulled_stats, gone_stats = ray.get([handle.stats.remote() for handle in handles])
            if pulled_stats["scored"] >= 2 and gone_stats["status"] == "offline":
                break
            assert time.monotonic() < deadline, (pulled_stats, gone_stats)
            time.sleep(0.5)
        assert pulled_stats["connected"] and not gone_stats["connected"]
        assert gone_stats["alerts"] == 1 and gone_stats["frames"] == 0
        client = redis.Redis.from_url(push_settings.redis_url)
        while True:  # the alert sinks deliver on their own threads
            entries = client.xrevrange(CAMERA_ALERT_STREAM, count=200)
            alerts = [json.loads(fields[b"alert"]) for _, fields in entries]
            mine = [a for a in alerts if a["camera_id"] == gone.id]
            if mine:
                break
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert [a["kind"] for a in mine] == ["camera_offline"]
    finally:
        forget(push_settings, pulled, gone)
