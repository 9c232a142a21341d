"""Vision scoring cost per 1080p frame, node capacity, frame-to-window delay, edge bandwidth.

Single-threaded on purpose (cv2.setNumThreads(1), onnxruntime intra-op threads 1) so the
per-core figures are honest; stage costs are the thread's CPU time (`time.thread_time`), so
teammates' load on the shared machine does not inflate them, while frame-to-window is
wall-clock latency. Frames are 1080p JPEGs from the synthetic street feed
(`core.vision.scene.SimulatedCamera`) at a weekday rush hour.

Detection runs in two passes (960x540 scan, 1280x720 crops of doubtful candidates, see
`core.vision.faces`); demographics run once per track (`core.vision.tracking`), so the
"demographics" row is the cost for every face of a frame and the pipeline row the amortised
cost over consecutive burst frames. Cameras per node comes from the camera actor's own path
per interval: decode and select the 5-frame burst, then score the chosen frames.

    python benchmarks/vision.py           # 60 frames, 4 simulated 30-s intervals for bandwidth
    python benchmarks/vision.py --quick   # 10 frames, 1 interval, sampled stream bytes
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from core.vision.attention import assess_attention, head_pose
from core.vision.decode import decode_frame
from core.vision.demographics import estimate_demographics
from core.vision.faces import COARSE_MAX_SIDE, DETECT_MAX_SIDE, detect_faces
from core.vision.pipeline import score_frame, score_frame_bytes, select_burst_frames
from core.vision.quality import assess_quality
from core.vision.scene import SimulatedCamera
from core.vision.scorer import LocalFaceScorer
from core.vision.tracking import FaceTracker
from core.vision.windows import AudienceWindows

MONDAY_RUSH = 4 * 86_400.0 + 7 * 86_400 * 2900 + 8.5 * 3600
INTERVAL_S = 30.0
BURST_FRAMES = 5
BURST_FPS = 10.0
STREAM_FPS = 10.0
NODE_CORES = 2
NODE_UTILISATION = 0.8
JPEG_QUALITY = 85


def jpeg(frame: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()


def timed_ms(action) -> tuple[float, object]:
    """CPU milliseconds this thread spent on `action`, and its result."""
    start = time.thread_time()
    result = action()
    return (time.thread_time() - start) * 1000, result


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def stage_timings(camera: SimulatedCamera, bursts: int) -> dict[str, list[float]]:
    """Per-frame milliseconds of each stage and of the whole pipeline (bytes in, window out)."""
    timings: dict[str, list[float]] = {
        name: []
        for name in ("decode", "quality", "detect", "attention", "demographics", "pipeline",
                     "frame_to_window", "camera_per_interval", "faces", "selected")
    }
    scorer, tracker, windows = LocalFaceScorer(), FaceTracker(), AudienceWindows()
    camera_tracker = FaceTracker()
    for index in range(bursts):
        shots = camera.burst(MONDAY_RUSH + index * INTERVAL_S, BURST_FRAMES, BURST_FPS)
        payloads = [jpeg(frame) for _, frame, _ in shots]
        for (ts, frame, _), data in zip(shots, payloads, strict=True):
            timings["decode"].append(timed_ms(lambda data=data: decode_frame(data))[0])
            timings["quality"].append(timed_ms(lambda frame=frame: assess_quality(frame))[0])
            detect_ms, faces = timed_ms(lambda frame=frame: detect_faces(frame))
            timings["detect"].append(detect_ms)
            timings["faces"].append(len(faces))
            timings["attention"].append(
                timed_ms(
                    lambda faces=faces: [
                        assess_attention(head_pose(f.landmarks), f.interocular_px) for f in faces
                    ]
                )[0]
            )
            timings["demographics"].append(
                timed_ms(lambda frame=frame, faces=faces: estimate_demographics(frame, faces))[0]
            )
            arrival = time.perf_counter()
            pipeline_ms, metrics = timed_ms(
                lambda data=data, ts=ts: score_frame_bytes(data, ts, scorer, tracker)
            )
            windows.add(metrics)
            timings["frame_to_window"].append((time.perf_counter() - arrival) * 1000)
            timings["pipeline"].append(pipeline_ms)
        stamps = [ts for ts, _, _ in shots]
        camera_ms, chosen = timed_ms(
            lambda payloads=payloads, stamps=stamps: camera_interval(
                payloads, stamps, scorer, camera_tracker
            )
        )
        timings["camera_per_interval"].append(camera_ms)
        timings["selected"].append(chosen)
    return timings


def camera_interval(
    payloads: list[bytes], stamps: list[float], scorer: LocalFaceScorer, tracker: FaceTracker
) -> int:
    """The camera actor's work per interval: decode the burst, choose frames, score those."""
    frames = [decode_frame(data).image for data in payloads]
    chosen = select_burst_frames(frames)
    for i in chosen:
        score_frame(frames[i], stamps[i], scorer, tracker)
    return len(chosen)


def edge_bytes(camera: SimulatedCamera, intervals: int, sample_every: int) -> tuple[float, int]:
    """Bytes of streaming every frame at 10 fps (every `sample_every`-th frame encoded and
    scaled up) vs the edge's motion-chosen burst frames."""
    streamed, sent = 0.0, 0
    for index in range(intervals):
        start = MONDAY_RUSH + index * 3 * 3600.0
        for shot in range(0, int(INTERVAL_S * STREAM_FPS), sample_every):
            rendered = camera.frame(start + shot / STREAM_FPS)
            if rendered is not None:
                streamed += len(jpeg(rendered[0])) * sample_every
        burst = [frame for _, frame, _ in camera.burst(start, BURST_FRAMES, BURST_FPS)]
        sent += sum(len(jpeg(burst[i])) for i in select_burst_frames(burst))
    return streamed, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, under a minute")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    bursts, intervals, sample_every = (2, 1, 10) if args.quick else (12, 4, 1)
    camera = SimulatedCamera("bench", seed=11, peak_arrivals_per_min=24.0)

    warm = camera.frame(MONDAY_RUSH)[0]
    score_frame(warm, 0.0, LocalFaceScorer(), FaceTracker())
    t = stage_timings(camera, bursts)
    streamed, sent = edge_bytes(camera, intervals, sample_every)

    pipeline_p50 = p(t["pipeline"], 50)
    frames_per_s = 1000.0 / float(np.mean(t["pipeline"]))
    selected = float(np.mean(t["selected"]))
    camera_cpu_ms = float(np.mean(t["camera_per_interval"]))
    cameras_per_node = int(NODE_CORES * NODE_UTILISATION * INTERVAL_S * 1000 / camera_cpu_ms)
    figures = {
        "quality_ms_p50": round(p(t["quality"], 50), 2),
        "detect_ms_p50": round(p(t["detect"], 50), 2),
        "attention_ms_p50": round(p(t["attention"], 50), 3),
        "demographics_ms_p50": round(p(t["demographics"], 50), 2),
        "pipeline_ms_p50": round(pipeline_p50, 2),
        "pipeline_ms_p95": round(p(t["pipeline"], 95), 2),
        "frames_per_s_per_core": round(frames_per_s, 2),
        "cameras_per_node": cameras_per_node,
        "frame_to_window_p95_ms": round(p(t["frame_to_window"], 95), 2),
        "edge_bytes_saved_pct": round(100.0 * (1 - sent / streamed), 2),
    }

    table = Table(
        title=f"vision scoring, 1080p in, 1 thread ({len(t['pipeline'])} frames); detection at "
        f"{COARSE_MAX_SIDE}x{COARSE_MAX_SIDE * 9 // 16} + {DETECT_MAX_SIDE}x"
        f"{DETECT_MAX_SIDE * 9 // 16} crops"
    )
    table.add_column("stage")
    table.add_column("p50 ms (CPU; wall for frame_to_window)", justify="right")
    table.add_column("p95 ms", justify="right")
    for stage in ("decode", "quality", "detect", "attention", "demographics", "pipeline",
                  "frame_to_window"):
        table.add_row(stage, f"{p(t[stage], 50):.2f}", f"{p(t[stage], 95):.2f}")
    console = Console()
    console.print(table)
    console.print(
        f"faces per frame: mean {np.mean(t['faces']):.1f}, max {max(t['faces'])}; "
        f"frames kept per {BURST_FRAMES}-frame burst: {selected:.1f}\n"
        f"per camera every {INTERVAL_S:.0f} s: decode+select a {BURST_FRAMES}-frame burst and "
        f"score {selected:.1f} frames = {camera_cpu_ms:.1f} ms CPU -> {cameras_per_node} "
        f"cameras on {NODE_CORES} cores "
        f"at {NODE_UTILISATION:.0%} load (aim 100, reach 300)\n"
        f"frames/s per core {frames_per_s:.2f} (aim >= 10)\n"
        f"edge bandwidth over {intervals} x {INTERVAL_S:.0f} s: streaming every frame at "
        f"{STREAM_FPS:.0f} fps {streamed / 1e6:.1f} MB vs motion-chosen burst frames "
        f"{sent / 1e6:.2f} MB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
