"""Stateful ingestion for one region: validation plus dedupe and running outlier statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from core.ingest.received import ReceivedBatch
from core.ingest.records import Reason
from core.ingest.reference import Reference
from core.ingest.validation import BatchResult, Rejection, validate_batch


class IngestConfig(BaseModel):
    """configs/ingest.yaml."""

    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0)
    max_records_per_request: int = Field(200_000, gt=0)
    micro_batch_records: int = Field(20_000, gt=0)
    micro_batch_ms: int = Field(200, gt=0)
    outlier_sigma: float = Field(3.0, gt=0)
    outlier_min_count: int = Field(50, ge=2)
    margin_tolerance: float = Field(0.01, ge=0)
    dedupe_horizon_days: int = Field(120, gt=0)


@dataclass
class RunningStats:
    """Count, mean and sum of squared deviations (Welford/Chan), mergeable."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def std(self) -> float:
        return (self.m2 / self.count) ** 0.5 if self.count > 1 else 0.0

    def merge(self, count: int, mean: float, variance: float) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.m2 += variance * count + delta * delta * self.count * count / total
        self.mean += delta * count / total
        self.count = total


class IngestPipeline:
    """Validate, dedupe by record id, reject price outliers per category."""

    def __init__(self, reference: Reference, config: IngestConfig) -> None:
        self.reference = reference
        self.config = config
        self.seen_ids: set[str] = set()
        self.category_stats: dict[str, RunningStats] = {}

    def remember(self, accepted: pa.Table) -> None:
        """Fold accepted rows (`record_id`, `category`, `price`) into the pipeline's memory."""
        self.seen_ids.update(accepted["record_id"].to_pylist())
        if accepted.num_rows == 0:
            return
        encoded = accepted["category"].combine_chunks().dictionary_encode()
        codes = encoded.indices.to_numpy()
        prices = accepted["price"].to_numpy()
        count = np.bincount(codes)
        mean = np.bincount(codes, prices) / np.maximum(count, 1)
        variance = np.bincount(codes, (prices - mean[codes]) ** 2) / np.maximum(count, 1)
        for i, category in enumerate(encoded.dictionary.to_pylist()):
            if count[i]:
                self.category_stats.setdefault(category, RunningStats()).merge(
                    int(count[i]), float(mean[i]), float(variance[i]))

    def _outliers(self, valid: pa.Table) -> np.ndarray:
        sigma, min_count = self.config.outlier_sigma, self.config.outlier_min_count
        encoded = valid["category"].combine_chunks().dictionary_encode()
        categories = encoded.dictionary.to_pylist()
        limits = [self.category_stats.get(c, RunningStats()) for c in categories]
        mean = np.array([s.mean for s in limits])
        band = np.array([sigma * s.std if s.count >= min_count else np.inf for s in limits])
        idx = encoded.indices.to_numpy()
        return np.abs(valid["price"].to_numpy() - mean[idx]) > band[idx]

    def process(self, received: ReceivedBatch | Sequence[Any],
                received_at: datetime) -> BatchResult:
        """Every received record ends in `valid` or in `rejections`, never both."""
        if not isinstance(received, ReceivedBatch):
            received = ReceivedBatch.from_objects(received)
        result = validate_batch(received, self.reference, self.config.margin_tolerance,
                                received_at)
        valid = result.valid
        ids = valid["record_id"].to_pylist()
        first_seen: dict[str, int] = {}
        duplicate = np.zeros(len(ids), dtype=bool)
        for j, record_id in enumerate(ids):
            if record_id in self.seen_ids or record_id in first_seen:
                duplicate[j] = True
            else:
                first_seen[record_id] = j
        outlier = ~duplicate & self._outliers(valid) if valid.num_rows else duplicate
        rejected = duplicate | outlier
        for j in np.flatnonzero(rejected):
            i = int(result.valid_index[j])
            row_price = valid["price"][int(j)].as_py()
            reason, message = (
                (Reason.DUPLICATE_RECORD_ID, f"record id {ids[j]!r} was already ingested")
                if duplicate[j]
                else (Reason.OUTLIER_PRICE,
                      f"price {row_price:.2f} USD is more than {self.config.outlier_sigma:g} "
                      f"standard deviations from the category mean")
            )
            result.rejections.append(Rejection(
                index=i, record_id=ids[j], region=valid["region"][int(j)].as_py(),
                reason=reason, message=message, payload=received.payload_json(i),
            ))
        keep = pa.array(~rejected)
        accepted = valid.filter(keep)
        self.remember(accepted)
        result.rejections.sort(key=lambda r: r.index)
        return BatchResult(valid=accepted, valid_index=result.valid_index[~rejected],
                           rejections=result.rejections)
