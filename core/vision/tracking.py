"""Follow faces across frames and bursts: identity, dwell time and engagement.

Association is a global assignment (scipy `linear_sum_assignment`) on a cost of 1 - IoU
for overlapping boxes and 1 + centroid shift (in face widths) for nearby ones, so a face
that moved a little between a burst's frames, or a person standing still between bursts,
keeps its track. A track that is not seen for `max_gap_s` is closed and its dwell time
(first to last seen) is kept in the totals. `ENGAGED_STREAK` or more consecutive frames
seen looking make a track engaged for the rest of its life.

Demographics are estimated once per track, not per frame: `update` asks for them when a
track is new, every `REDESCRIBE_EVERY` frames, or when the face has grown by
`REDESCRIBE_GROWTH` (a person walking closer is read better); in between the track's
last estimate is reused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.vision.demographics import AgeBand, Gender
from core.vision.scorer import FaceObservation

ENGAGED_STREAK = 3
UNMATCHABLE = 1e6
REDESCRIBE_EVERY = 10
REDESCRIBE_GROWTH = 1.3

Describe = Callable[[list[FaceObservation]], list[FaceObservation]]


@dataclass(slots=True)
class Track:
    """One person's face over time."""

    track_id: int
    box: tuple[float, float, float, float]
    first_seen: float
    last_seen: float
    frames_seen: int = 1
    attentive_streak: int = 0
    engaged: bool = False
    age_band: str | None = None
    gender: str | None = None
    gender_confidence: float = 0.0
    described_width: float = 0.0
    frames_since_described: int = 0

    @property
    def dwell_s(self) -> float:
        return self.last_seen - self.first_seen

    def needs_description(self, face_width: float) -> bool:
        return (
            self.age_band is None
            or self.frames_since_described >= REDESCRIBE_EVERY
            or face_width >= REDESCRIBE_GROWTH * self.described_width
        )

    def remember(self, observation: FaceObservation) -> None:
        self.age_band = str(observation.age_band)
        self.gender = str(observation.gender)
        self.gender_confidence = observation.gender_confidence
        self.described_width = observation.box[2]
        self.frames_since_described = 0

    def described(self, observation: FaceObservation) -> FaceObservation:
        """The observation with this track's remembered demographics."""
        return replace(
            observation,
            age_band=AgeBand(self.age_band),
            gender=Gender(self.gender),
            gender_confidence=self.gender_confidence,
            described=True,
        )


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """An observation with the track it was assigned to."""

    track_id: int
    observation: FaceObservation
    dwell_s: float
    engaged: bool


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    overlap_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    overlap = overlap_w * overlap_h
    union = aw * ah + bw * bh - overlap
    return overlap / union if union > 0 else 0.0


def match_cost(track_box: Sequence[float], face_box: Sequence[float], max_shift: float) -> float:
    """Cost of giving a face to a track; `UNMATCHABLE` when they are too far apart."""
    iou = box_iou(track_box, face_box)
    if iou > 0:
        return 1.0 - iou
    tx, ty, tw, th = track_box
    fx, fy, fw, fh = face_box
    size = max(tw, fw, 1.0)
    shift = float(np.hypot(tx + tw / 2 - fx - fw / 2, ty + th / 2 - fy - fh / 2)) / size
    return 1.0 + shift / max_shift if shift <= max_shift else UNMATCHABLE


class FaceTracker:
    """Matches faces to tracks frame by frame and keeps dwell and engagement counts."""

    def __init__(self, max_gap_s: float = 45.0, max_shift: float = 1.5) -> None:
        self.max_gap_s = max_gap_s
        self.max_shift = max_shift
        self.tracks: list[Track] = []
        self.next_id = 1
        self.closed_tracks = 0
        self.closed_dwell_s = 0.0
        self.engaged_total = 0

    def update(
        self,
        observations: Sequence[FaceObservation],
        ts: float,
        describe: Describe | None = None,
    ) -> list[TrackedFace]:
        """Assign this frame's faces to tracks (opening new ones) and close stale tracks.

        With `describe`, faces without demographics get their track's, and `describe` is
        called once, on the faces whose track has none or an outdated estimate.
        """
        self._close_stale(ts)
        assigned: dict[int, Track] = {}
        if self.tracks and observations:
            costs = np.array(
                [
                    [match_cost(track.box, o.box, self.max_shift) for o in observations]
                    for track in self.tracks
                ]
            )
            for row, column in zip(*linear_sum_assignment(costs), strict=True):
                if costs[row, column] < UNMATCHABLE:
                    assigned[int(column)] = self.tracks[int(row)]
        matched_ids = {track.track_id for track in assigned.values()}
        for track in self.tracks:
            if track.track_id not in matched_ids:
                track.attentive_streak = 0
        tracks = []
        for index, observation in enumerate(observations):
            track = assigned.get(index)
            if track is None:
                track = Track(self.next_id, observation.box, ts, ts, frames_seen=0)
                self.next_id += 1
                self.tracks.append(track)
            tracks.append(track)
        if describe is not None:
            observations = self._describe(observations, tracks, describe)
        tracked = []
        for track, observation in zip(tracks, observations, strict=True):
            track.box = observation.box
            track.last_seen = ts
            track.frames_seen += 1
            track.attentive_streak = track.attentive_streak + 1 if observation.looking else 0
            if not track.engaged and track.attentive_streak >= ENGAGED_STREAK:
                track.engaged = True
                self.engaged_total += 1
            tracked.append(TrackedFace(track.track_id, observation, track.dwell_s, track.engaged))
        return tracked

    @staticmethod
    def _describe(
        observations: Sequence[FaceObservation], tracks: list[Track], describe: Describe
    ) -> list[FaceObservation]:
        stale = [
            i
            for i, (o, t) in enumerate(zip(observations, tracks, strict=True))
            if not o.described and t.needs_description(o.box[2])
        ]
        described = describe([observations[i] for i in stale]) if stale else []
        fresh = dict(zip(stale, described, strict=True))
        result = []
        for index, (observation, track) in enumerate(zip(observations, tracks, strict=True)):
            observation = fresh.get(index, observation)
            if observation.described:
                track.remember(observation)
            elif track.age_band is not None:
                track.frames_since_described += 1
                observation = track.described(observation)
            result.append(observation)
        return result

    def _close_stale(self, ts: float) -> None:
        stale = [t for t in self.tracks if ts - t.last_seen > self.max_gap_s]
        for track in stale:
            self.closed_tracks += 1
            self.closed_dwell_s += track.dwell_s
        self.tracks = [t for t in self.tracks if ts - t.last_seen <= self.max_gap_s]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data state for checkpointing."""
        return {
            "max_gap_s": self.max_gap_s,
            "max_shift": self.max_shift,
            "tracks": [asdict(t) for t in self.tracks],
            "next_id": self.next_id,
            "closed_tracks": self.closed_tracks,
            "closed_dwell_s": self.closed_dwell_s,
            "engaged_total": self.engaged_total,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FaceTracker:
        """Rebuild a tracker from `to_dict` output."""
        tracker = cls(max_gap_s=state["max_gap_s"], max_shift=state["max_shift"])
        tracker.tracks = [Track(**{**t, "box": tuple(t["box"])}) for t in state["tracks"]]
        tracker.next_id = state["next_id"]
        tracker.closed_tracks = state["closed_tracks"]
        tracker.closed_dwell_s = state["closed_dwell_s"]
        tracker.engaged_total = state["engaged_total"]
        return tracker
