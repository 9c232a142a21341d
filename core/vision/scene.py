"""Synthetic camera footage made from real face photographs, deterministic given a seed.

Faces come from photos shipped in installed packages (skimage's astronaut, camera and
lfw_subset, matplotlib's grace_hopper). They are cut out with some hair and background,
scaled, optionally mirrored and feathered onto a brick-and-gravel street backdrop, so the
renderer knows exactly how many faces a frame holds and which of them look at the camera.
`SimulatedCamera` turns that into a feed: walkers whose numbers follow time-of-day and
weekday patterns, some pausing to watch, occasional blurred or dark frames, and optionally
a camera that dies at a given time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import cv2
import matplotlib.cbook
import numpy as np
from skimage import data

FRAME_SIZE = (1920, 1080)
CROP_MARGIN = 0.45
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class FacePhoto:
    """A real photo with one face: its box (x, y, w, h) and whether it faces the camera."""

    name: str
    image: np.ndarray
    face_box: tuple[int, int, int, int]
    looking: bool


@dataclass(frozen=True, slots=True)
class Person:
    """A face to place: which photo, face centre in the frame, face width, mirrored or not."""

    photo: int
    center: tuple[float, float]
    face_px: int
    mirrored: bool = False


@dataclass(frozen=True, slots=True)
class PlacedFace:
    """Ground truth of a rendered face: box in frame pixels and pose class."""

    box: tuple[int, int, int, int]
    looking: bool
    source: str
    mirrored: bool


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if rgb.ndim == 3 else cv2.COLOR_GRAY2BGR)


@lru_cache(maxsize=1)
def face_photos() -> tuple[FacePhoto, ...]:
    """The real photos used as people; face boxes measured once with YuNet."""
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
    photos = [
        FacePhoto("astronaut", _bgr(data.astronaut()), (178, 63, 90, 114), True),
        FacePhoto("grace_hopper", hopper, (183, 120, 170, 213), True),
        FacePhoto("camera", _bgr(data.camera()), (195, 113, 61, 82), False),
    ]
    lfw = (data.lfw_subset()[:100] * 255).astype(np.uint8)
    for index in range(0, 100, 10):
        face = cv2.resize(_bgr(lfw[index]), (100, 100), interpolation=cv2.INTER_CUBIC)
        photos.append(FacePhoto(f"lfw_{index}", face, (12, 8, 76, 88), True))
    return tuple(photos)


@lru_cache(maxsize=4)
def street_background(size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A brick wall over a gravel pavement, tinted, at the given (width, height)."""
    width, height = size
    wall_height = int(height * 0.45)
    wall = cv2.resize(_bgr(data.brick()), (width, wall_height), interpolation=cv2.INTER_LINEAR)
    ground = np.tile(_bgr(data.gravel()), (2, math.ceil(width / 512), 1))
    ground = cv2.resize(ground[:, :width], (width, height - wall_height))
    backdrop = np.vstack([wall, ground]).astype(np.float32)
    backdrop *= np.array([0.85, 0.95, 1.1], dtype=np.float32)
    return np.clip(backdrop, 0, 255).astype(np.uint8)


def _feather_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    axes = (max(1, int(width * 0.46)), max(1, int(height * 0.48)))
    cv2.ellipse(mask, (width // 2, height // 2), axes, 0, 0, 360, 1.0, -1)
    sigma = max(1.0, width * 0.04)
    return cv2.GaussianBlur(mask, (0, 0), sigma)[..., None]


def _paste(frame: np.ndarray, person: Person, photo: FacePhoto) -> PlacedFace:
    fx, fy, fw, fh = photo.face_box
    margin_x, margin_y = int(fw * CROP_MARGIN), int(fh * CROP_MARGIN)
    image_h, image_w = photo.image.shape[:2]
    x0, y0 = max(0, fx - margin_x), max(0, fy - margin_y)
    x1, y1 = min(image_w, fx + fw + margin_x), min(image_h, fy + fh + margin_y)
    crop = photo.image[y0:y1, x0:x1]
    face_left = fx - x0
    if person.mirrored:
        crop = crop[:, ::-1]
        face_left = (x1 - x0) - (face_left + fw)
    scale = person.face_px / fw
    patch = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    patch_h, patch_w = patch.shape[:2]
    face_w, face_h = round(fw * scale), round(fh * scale)
    cx, cy = person.center
    left = round(cx - face_w / 2 - face_left * scale)
    top = round(cy - face_h / 2 - (fy - y0) * scale)
    frame_h, frame_w = frame.shape[:2]
    clip_l, clip_t = max(0, -left), max(0, -top)
    clip_r, clip_b = min(patch_w, frame_w - left), min(patch_h, frame_h - top)
    if clip_r > clip_l and clip_b > clip_t:
        alpha = _feather_mask(patch_h, patch_w)[clip_t:clip_b, clip_l:clip_r]
        region = frame[top + clip_t : top + clip_b, left + clip_l : left + clip_r]
        blended = region * (1 - alpha) + patch[clip_t:clip_b, clip_l:clip_r] * alpha
        region[:] = blended.astype(np.uint8)
    box = (round(cx - face_w / 2), round(cy - face_h / 2), face_w, face_h)
    return PlacedFace(box, photo.looking, photo.name, person.mirrored)


def render_scene(
    people: list[Person],
    size: tuple[int, int] = FRAME_SIZE,
    *,
    blur_sigma: float = 0.0,
    brightness: float = 1.0,
) -> tuple[np.ndarray, list[PlacedFace]]:
    """Render people (far ones first) on the street backdrop; returns frame and truth."""
    frame = street_background(size).copy()
    photos = face_photos()
    truth = [_paste(frame, p, photos[p.photo]) for p in sorted(people, key=lambda p: p.face_px)]
    if blur_sigma > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), blur_sigma)
    if brightness != 1.0:
        frame = cv2.convertScaleAbs(frame, alpha=brightness)
    return frame, truth


def spread_people(
    rng: np.random.Generator,
    count: int,
    size: tuple[int, int] = FRAME_SIZE,
    face_px: tuple[int, int] = (40, 160),
    photos: tuple[int, ...] | None = None,
) -> list[Person]:
    """`count` people on a jittered grid so no two heads overlap."""
    width, height = size
    columns = max(1, math.ceil(math.sqrt(count * width / height)))
    rows = max(1, math.ceil(count / columns))
    cell_w, cell_h = width / columns, height / rows
    cells = rng.permutation(columns * rows)[:count]
    choices = photos if photos is not None else tuple(range(len(face_photos())))
    people = []
    for cell in cells:
        row, column = divmod(int(cell), columns)
        largest = int(min(face_px[1], cell_w / 1.9, cell_h / 2.6))
        px = int(rng.integers(min(face_px[0], largest), largest + 1))
        slack_x, slack_y = (cell_w - px * 1.9) / 2, (cell_h - px * 2.6) / 2
        center = (
            (column + 0.5) * cell_w + rng.uniform(-slack_x, slack_x) * 0.8,
            (row + 0.5) * cell_h + rng.uniform(-slack_y, slack_y) * 0.8,
        )
        people.append(Person(int(rng.choice(choices)), center, px, bool(rng.random() < 0.5)))
    return people


def crowd_factor(ts: float, utc_offset_h: float = 0.0) -> float:
    """Relative footfall (0-1) at a time: commute peaks on weekdays, afternoons at weekends."""
    local = ts + utc_offset_h * 3600
    hour = (local % SECONDS_PER_DAY) / 3600
    weekday = int(local // SECONDS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0

    def peak(center: float, width: float) -> float:
        return math.exp(-(((hour - center) / width) ** 2))

    if weekday < 5:
        level = 0.05 + 0.95 * peak(8.5, 1.2) + 0.6 * peak(12.5, 1.0) + 0.9 * peak(18.0, 1.5)
    else:
        level = 0.05 + 0.7 * peak(14.5, 3.0) + 0.3 * peak(20.0, 1.5)
    return min(1.0, level)


class CameraFailure(StrEnum):
    """How a simulated camera dies: it stops sending, or keeps sending an empty view."""

    OFFLINE = "offline"
    BLANK = "blank"


@dataclass(frozen=True, slots=True)
class Walker:
    """One passer-by: when they enter, how long they take to cross, where, and who."""

    enter_ts: float
    crossing_s: float
    pause_s: float
    depth: float
    left_to_right: bool
    photo: int
    mirrored: bool


@dataclass(frozen=True)
class SimulatedCamera:
    """A camera feed of walkers whose numbers follow `crowd_factor`; deterministic per seed."""

    camera_id: str
    seed: int = 0
    peak_arrivals_per_min: float = 12.0
    size: tuple[int, int] = FRAME_SIZE
    blur_chance: float = 0.03
    dark_chance: float = 0.02
    dies_at: float | None = None
    failure: CameraFailure = CameraFailure.OFFLINE
    utc_offset_h: float = 0.0

    def walkers_in_minute(self, minute: int) -> list[Walker]:
        """Everyone who enters the scene during one minute (seeded by camera and minute)."""
        rng = np.random.default_rng([self.seed, minute])
        rate = self.peak_arrivals_per_min * crowd_factor(minute * 60.0, self.utc_offset_h)
        photos = len(face_photos())
        return [
            Walker(
                enter_ts=minute * 60.0 + float(rng.uniform(0, 60)),
                crossing_s=float(rng.uniform(12, 30)),
                pause_s=float(rng.uniform(5, 25)) if rng.random() < 0.3 else 0.0,
                depth=float(rng.uniform(0, 1)),
                left_to_right=bool(rng.random() < 0.5),
                photo=int(rng.integers(photos)),
                mirrored=bool(rng.random() < 0.5),
            )
            for _ in range(int(rng.poisson(rate)))
        ]

    def people_at(self, ts: float) -> list[Person]:
        """Where every walker on screen is at `ts`; a pausing walker stands mid-frame."""
        width, height = self.size
        people = []
        longest_stay = 60.0 + 30.0 + 25.0
        first_minute = math.floor((ts - longest_stay) / 60)
        for minute in range(first_minute, math.floor(ts / 60) + 1):
            for walker in self.walkers_in_minute(minute):
                elapsed = ts - walker.enter_ts
                moving = walker.crossing_s
                if not 0 <= elapsed <= moving + walker.pause_s:
                    continue
                half = moving / 2
                if elapsed <= half:
                    progress = elapsed / moving
                elif elapsed <= half + walker.pause_s:
                    progress = 0.5
                else:
                    progress = (elapsed - walker.pause_s) / moving
                if not walker.left_to_right:
                    progress = 1 - progress
                face_px = int(48 + 100 * walker.depth)
                x = -face_px + progress * (width + 2 * face_px)
                y = height * (0.3 + 0.45 * walker.depth)
                people.append(Person(walker.photo, (x, y), face_px, walker.mirrored))
        return people

    def frame(self, ts: float) -> tuple[np.ndarray, list[PlacedFace]] | None:
        """The frame at `ts` with its truth, or None once an offline camera has died."""
        dead = self.dies_at is not None and ts >= self.dies_at
        if dead and self.failure is CameraFailure.OFFLINE:
            return None
        rng = np.random.default_rng([self.seed, int(ts * 1000)])
        roll = rng.random()
        people = [] if dead else self.people_at(ts)
        blur = 4.0 if roll < self.blur_chance else 0.0
        dark = 0.1 if self.blur_chance <= roll < self.blur_chance + self.dark_chance else 1.0
        return render_scene(people, self.size, blur_sigma=blur, brightness=dark)

    def burst(
        self, ts: float, frames: int = 5, fps: float = 10.0
    ) -> list[tuple[float, np.ndarray, list[PlacedFace]]]:
        """A short burst starting at `ts`: (timestamp, frame, truth) per frame that exists."""
        shots = []
        for index in range(frames):
            shot_ts = ts + index / fps
            rendered = self.frame(shot_ts)
            if rendered is not None:
                shots.append((shot_ts, *rendered))
        return shots
