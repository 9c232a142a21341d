"""Audience windows over frame metrics: 5-minute tumbling, 15-minute and 1-hour sliding.

Frames land in one-minute buckets; a tumbling window is emitted when the first frame of
the next window arrives, and sliding windows are read on demand from the buckets of their
span (so they hop by one minute). Frames older than the open tumbling window are counted
as late and dropped. The whole state is plain data for checkpointing.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from core.vision.pipeline import FrameMetrics


class WindowAggregate(BaseModel):
    """Running sums over the frames of a span of time."""

    start: float
    end: float
    frames: int = 0
    scored_frames: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)
    people_sum: int = 0
    attentive_sum: int = 0
    peak_people: int = 0
    peak_ts: float | None = None
    age_bands: dict[str, int] = Field(default_factory=dict)
    genders: dict[str, int] = Field(default_factory=dict)

    def add(self, metrics: FrameMetrics) -> None:
        self.frames += 1
        if not metrics.scored:
            reason = metrics.rejected_reason or "rejected"
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            return
        self.scored_frames += 1
        self.people_sum += metrics.people
        self.attentive_sum += metrics.attentive
        if self.peak_ts is None or metrics.people > self.peak_people:
            self.peak_people, self.peak_ts = metrics.people, metrics.ts
        self.age_bands = dict(Counter(self.age_bands) + Counter(metrics.age_bands))
        self.genders = dict(Counter(self.genders) + Counter(metrics.genders))

    @classmethod
    def combine(cls, start: float, end: float, parts: list[WindowAggregate]) -> WindowAggregate:
        """One aggregate over several (bucket) aggregates."""
        total = cls(start=start, end=end)
        for part in parts:
            total.frames += part.frames
            total.scored_frames += part.scored_frames
            total.rejected = dict(Counter(total.rejected) + Counter(part.rejected))
            total.people_sum += part.people_sum
            total.attentive_sum += part.attentive_sum
            if part.peak_ts is not None and (
                total.peak_ts is None or part.peak_people > total.peak_people
            ):
                total.peak_people, total.peak_ts = part.peak_people, part.peak_ts
            total.age_bands = dict(Counter(total.age_bands) + Counter(part.age_bands))
            total.genders = dict(Counter(total.genders) + Counter(part.genders))
        return total


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {key: value / total for key, value in sorted(counts.items())} if total else {}


class WindowRecord(BaseModel):
    """What a window reports: average crowd, attention rate, demographic mix, peak time."""

    kind: str
    start: float
    end: float
    frames: int
    scored_frames: int
    rejected: dict[str, int]
    avg_crowd: float
    attention_rate: float
    age_distribution: dict[str, float]
    gender_distribution: dict[str, float]
    peak_people: int
    peak_ts: float | None

    @classmethod
    def of(cls, kind: str, aggregate: WindowAggregate) -> WindowRecord:
        scored = aggregate.scored_frames
        return cls(
            kind=kind,
            start=aggregate.start,
            end=aggregate.end,
            frames=aggregate.frames,
            scored_frames=scored,
            rejected=aggregate.rejected,
            avg_crowd=aggregate.people_sum / scored if scored else 0.0,
            attention_rate=(
                aggregate.attentive_sum / aggregate.people_sum if aggregate.people_sum else 0.0
            ),
            age_distribution=_shares(aggregate.age_bands),
            gender_distribution=_shares(aggregate.genders),
            peak_people=aggregate.peak_people,
            peak_ts=aggregate.peak_ts,
        )


class AudienceWindows:
    """Tumbling and sliding audience windows of one camera."""

    def __init__(
        self,
        tumbling_s: int = 300,
        sliding_s: tuple[int, ...] = (900, 3600),
        bucket_s: int = 60,
    ) -> None:
        if tumbling_s % bucket_s or any(span % bucket_s for span in sliding_s):
            raise ValueError("window lengths must be whole multiples of the bucket length")
        self.tumbling_s = tumbling_s
        self.sliding_s = sliding_s
        self.bucket_s = bucket_s
        self.buckets: dict[int, WindowAggregate] = {}
        self.open_start: float | None = None
        self.latest_ts: float | None = None
        self.late_frames = 0

    def add(self, metrics: FrameMetrics) -> list[WindowRecord]:
        """Count one frame; returns the tumbling windows this frame closed (oldest first)."""
        window_start = math.floor(metrics.ts / self.tumbling_s) * self.tumbling_s
        if self.open_start is not None and window_start < self.open_start:
            self.late_frames += 1
            return []
        closed = []
        if self.open_start is not None and window_start > self.open_start:
            closed.append(self.tumbling(self.open_start))
        self.open_start = window_start
        self.latest_ts = max(metrics.ts, self.latest_ts or metrics.ts)
        bucket = math.floor(metrics.ts / self.bucket_s) * self.bucket_s
        if bucket not in self.buckets:
            self.buckets[bucket] = WindowAggregate(start=bucket, end=bucket + self.bucket_s)
        self.buckets[bucket].add(metrics)
        horizon = bucket - max(self.tumbling_s, *self.sliding_s)
        self.buckets = {start: agg for start, agg in self.buckets.items() if start > horizon}
        return closed

    def _span(self, start: float, end: float) -> WindowAggregate:
        parts = [agg for key, agg in sorted(self.buckets.items()) if start <= key < end]
        return WindowAggregate.combine(start, end, parts)

    def tumbling(self, start: float) -> WindowRecord:
        """The tumbling window starting at `start` (complete or still open)."""
        return WindowRecord.of(f"{self.tumbling_s}s", self._span(start, start + self.tumbling_s))

    def sliding(self, span_s: int) -> WindowRecord:
        """The sliding window of `span_s` seconds ending with the latest frame's minute."""
        if self.latest_ts is None:
            return WindowRecord.of(f"{span_s}s", WindowAggregate(start=0.0, end=0.0))
        end = (math.floor(self.latest_ts / self.bucket_s) + 1) * self.bucket_s
        return WindowRecord.of(f"{span_s}s", self._span(end - span_s, end))

    def live(self) -> list[WindowRecord]:
        """The open tumbling window and every sliding window, for dashboards and pricing."""
        current = [self.tumbling(self.open_start)] if self.open_start is not None else []
        return current + [self.sliding(span) for span in self.sliding_s]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data state for checkpointing."""
        return {
            "tumbling_s": self.tumbling_s,
            "sliding_s": list(self.sliding_s),
            "bucket_s": self.bucket_s,
            "buckets": [agg.model_dump() for agg in self.buckets.values()],
            "open_start": self.open_start,
            "latest_ts": self.latest_ts,
            "late_frames": self.late_frames,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> AudienceWindows:
        """Rebuild windows from `to_dict` output."""
        windows = cls(state["tumbling_s"], tuple(state["sliding_s"]), state["bucket_s"])
        for dumped in state["buckets"]:
            aggregate = WindowAggregate.model_validate(dumped)
            windows.buckets[int(aggregate.start)] = aggregate
        windows.open_start = state["open_start"]
        windows.latest_ts = state["latest_ts"]
        windows.late_frames = state["late_frames"]
        return windows
