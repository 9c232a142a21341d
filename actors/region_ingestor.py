"""One long-lived actor per region: micro-batches records, writes them durably, then acks."""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray
import redis
from ray.util import metrics

from actors.price_monitor import MonitorFeed
from core.config_files import load_config
from core.events import PRICE_UPDATED_CHANNEL, encode_price_updated, price_updates
from core.ingest.dead_letters import write_dead_letters
from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.received import ReceivedBatch
from core.ingest.records import LAKE_SCHEMA
from core.ingest.reference import Reference
from core.lake import PRICE_POINTS, Lake
from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    records: ReceivedBatch
    source: str
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class RegionIngestor:
    """Validate, dedupe, write and publish the price points of one region."""

    def __init__(self, region: str, settings: Settings) -> None:
        self.region = region
        self.settings = settings
        self.lake = Lake.open(settings.lake_uri, settings.aws_endpoint_url)
        self.config = load_config("ingest", IngestConfig, settings.configs_dir)
        self.pipeline = IngestPipeline(Reference.load(settings.configs_dir), self.config)
        self.redis = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
        self.monitor_feed = MonitorFeed(settings, region)
        self.totals: dict[str, int] = {"accepted": 0, "rejected": 0, "batches": 0}
        self.rejected_by_reason: dict[str, int] = {}
        self._pending: list[_Pending] = []
        self._pending_records = 0
        self._flush_timer: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None
        self._accepted = metrics.Counter("dynaprice_records_accepted",
                                         "Price points written to the lake", ("region",))
        self._dead = metrics.Counter("dynaprice_records_dead_lettered",
                                     "Price points sent to the DLQ", ("region", "reason"))
        self._write_latency = metrics.Histogram(
            "dynaprice_batch_write_seconds", "Micro-batch validate+write latency",
            boundaries=[0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], tag_keys=("region",))
        self._recover()

    def _recover(self) -> None:
        """Reload the record ids and category statistics this region already wrote."""
        horizon = (datetime.now(UTC) - timedelta(days=self.config.dedupe_horizon_days))
        condition = (pc.field("region") == self.region) & (
            pc.field("date") >= horizon.strftime("%Y-%m-%d"))
        known = self.lake.read(PRICE_POINTS, ["record_id", "category", "price"], condition,
                               LAKE_SCHEMA)
        self.pipeline.remember(known)
        log.info("ingestor %s recovered %d known records", self.region, known.num_rows)

    async def ingest(self, records: ReceivedBatch, source: str = "http") -> dict[str, Any]:
        """Acknowledge `records` once they are durable in the lake or the DLQ."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        pending = _Pending(records, source)
        self._pending.append(pending)
        self._pending_records += len(records)
        if self._pending_records >= self.config.micro_batch_records:
            asyncio.ensure_future(self._flush())
        elif self._flush_timer is None or self._flush_timer.done():
            self._flush_timer = asyncio.ensure_future(self._flush_later())
        return await pending.done

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.config.micro_batch_ms / 1000)
        await self._flush()

    async def _flush(self) -> None:
        assert self._lock is not None
        async with self._lock:
            batch, self._pending, self._pending_records = self._pending, [], 0
            if not batch:
                return
            try:
                acks, accepted = await asyncio.to_thread(self._write, batch)
                self.monitor_feed.send(accepted)
                for pending, ack in zip(batch, acks, strict=True):
                    pending.done.set_result(ack)
            except Exception as exc:  # nothing acknowledged: every sender sees the failure
                log.exception("ingestor %s failed to write a batch", self.region)
                for pending in batch:
                    pending.done.set_exception(exc)
        if self._pending:  # records that came in during this write need their own timer
            self._flush_timer = asyncio.ensure_future(self._flush_later())

    def _write(self, batch: list[_Pending]) -> tuple[list[dict[str, Any]], pa.Table]:
        """Write a micro-batch; each sender's ack and the accepted rows."""
        started = time.perf_counter()
        received_at = datetime.now(UTC)
        records = ReceivedBatch.concat(pending.records for pending in batch)
        starts = [0]
        for pending in batch:
            starts.append(starts[-1] + len(pending.records))
        result = self.pipeline.process(records, received_at)
        self.lake.write_partitioned(result.valid, PRICE_POINTS, ["region", "date"])
        sources = {pending.source for pending in batch}
        write_dead_letters(self.lake, result.rejections, ",".join(sorted(sources)), received_at)
        self._count(result.valid.num_rows, result.rejections)
        self._write_latency.observe(time.perf_counter() - started, {"region": self.region})
        self._publish(result.valid)
        acks = [{"accepted": len(p.records), "rejected": 0, "rejects": []} for p in batch]
        for rejection in result.rejections:
            which = bisect.bisect_right(starts, rejection.index) - 1
            ack = acks[which]
            ack["accepted"] -= 1
            ack["rejected"] += 1
            ack["rejects"].append({
                "index": rejection.index - starts[which], "record_id": rejection.record_id,
                "reason": str(rejection.reason), "message": rejection.message,
            })
        return acks, result.valid

    def _count(self, accepted: int, rejections: list) -> None:
        self.totals["accepted"] += accepted
        self.totals["rejected"] += len(rejections)
        self.totals["batches"] += 1
        if accepted:
            self._accepted.inc(accepted, {"region": self.region})
        for rejection in rejections:
            reason = str(rejection.reason)
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + 1
            self._dead.inc(1, {"region": self.region, "reason": reason})

    def _publish(self, accepted) -> None:
        """Tell caches and monitors; the data is durable already, so failures only log."""
        if self.redis is None or accepted.num_rows == 0:
            return
        try:
            self.redis.publish(PRICE_UPDATED_CHANNEL,
                               encode_price_updated(self.region, price_updates(accepted)))
        except redis.RedisError:
            log.warning("ingestor %s could not publish price-updated", self.region)

    def stats(self) -> dict[str, Any]:
        return {"region": self.region, **self.totals, "by_reason": dict(self.rejected_by_reason),
                "known_record_ids": len(self.pipeline.seen_ids)}
