"""Stateful ingestion for one region: validation plus dedupe and running outlier statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from core.ingest import columns
from core.ingest.received import ReceivedBatch
from core.ingest.records import Reason
from core.ingest.reference import Reference
from core.ingest.validation import BatchResult, check_batch


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
        self._learn_prices(accepted)

    def _learn_prices(self, accepted: pa.Table) -> None:
        if accepted.num_rows == 0:
            return
        encoded = columns.one_chunk(accepted["category"]).dictionary_encode()
        codes = encoded.indices.to_numpy()
        prices = accepted["price"].to_numpy()
        count = np.bincount(codes)
        mean = np.bincount(codes, prices) / np.maximum(count, 1)
        variance = np.bincount(codes, (prices - mean[codes]) ** 2) / np.maximum(count, 1)
        for i, category in enumerate(encoded.dictionary.to_pylist()):
            if count[i]:
                self.category_stats.setdefault(category, RunningStats()).merge(
                    int(count[i]), float(mean[i]), float(variance[i]))

    def _outliers(self, categories: pa.Array, prices: np.ndarray) -> np.ndarray:
        sigma, min_count = self.config.outlier_sigma, self.config.outlier_min_count
        encoded = categories.dictionary_encode()
        limits = [self.category_stats.get(c, RunningStats())
                  for c in encoded.dictionary.to_pylist()]
        mean = np.array([s.mean for s in limits])
        band = np.array([sigma * s.std if s.count >= min_count else np.inf for s in limits])
        idx = encoded.indices.to_numpy()
        return np.abs(prices - mean[idx]) > band[idx]

    def process(self, received: ReceivedBatch | Sequence[Any],
                received_at: datetime) -> BatchResult:
        """Every received record ends in `valid` or in `rejections`, never both."""
        if not isinstance(received, ReceivedBatch):
            received = ReceivedBatch.from_objects(received)
        table, verdicts = check_batch(received, self.reference, self.config.margin_tolerance,
                                      received_at)
        ids, prices = table["record_id"], table["price"]
        n = table.num_rows
        candidates = np.flatnonzero(verdicts.ok)
        candidate_ids = columns.one_chunk(ids.take(candidates))
        known = candidate_ids.to_pylist()
        seen = self.seen_ids.intersection(known)
        codes = candidate_ids.dictionary_encode().indices.to_numpy()  # in order of appearance
        again = codes <= np.maximum.accumulate(np.concatenate([[-1], codes[:-1]]))
        if seen:
            again |= np.asarray(pc.is_in(candidate_ids, value_set=pa.array(list(seen))))
        duplicate = np.zeros(n, dtype=bool)
        duplicate[candidates] = again
        verdicts.fail(duplicate, Reason.DUPLICATE_RECORD_ID,
                      lambda i: f"record id {ids[i].as_py()!r} was already ingested")
        rows = np.flatnonzero(verdicts.ok)
        outlier = np.zeros(n, dtype=bool)
        outlier[rows] = self._outliers(columns.one_chunk(table["category"].take(rows)),
                                       prices.take(rows).to_numpy())
        verdicts.fail(outlier, Reason.OUTLIER_PRICE,
                      lambda i: f"price {prices[i].as_py():.2f} USD is more than "
                                f"{self.config.outlier_sigma:g} standard deviations from the "
                                f"category mean")
        result = verdicts.result(table, received)
        self.seen_ids.update(compress(known, verdicts.ok[candidates].tolist()))
        self._learn_prices(result.valid)
        return result
