"""The Kinesis reader: polls every shard of a stream and routes its price points by region.

Each shard is read from just after its checkpointed sequence number (TRIM_HORIZON when there
is none). A checkpoint is written to Redis only after the ingestors acknowledged the records
read up to it, so a restarted reader resumes where the last acknowledged batch ended; a
failed batch is read again from the checkpoint (at-least-once, the ingestors dedupe).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import boto3
import ray
import redis

from actors.routing import IngestRouter
from core.settings import Settings
from core.stream_sources import ShardCheckpoints, records_from_payload

log = logging.getLogger(__name__)

SOURCE = "kinesis"


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class KinesisReader:
    """One reader per stream: one shard iterator per shard, Redis checkpoints per shard."""

    def __init__(self, settings: Settings, stream: str, records_per_call: int = 1000,
                 autostart: bool = True, interval_s: float = 1.0) -> None:
        if not settings.redis_url:
            raise ValueError("KinesisReader keeps its checkpoints in Redis: set REDIS_URL")
        self.settings = settings
        self.stream = stream
        self.records_per_call = records_per_call
        self.kinesis = boto3.client("kinesis", endpoint_url=settings.aws_endpoint_url)
        self.checkpoints = ShardCheckpoints(redis.Redis.from_url(settings.redis_url),
                                            settings.namespace, stream)
        self.router: IngestRouter | None = None
        self.iterators: dict[str, str] = {}
        self.finished: set[str] = set()  # closed shards read to their end
        self.totals: Counter[str] = Counter()
        self.last_error: str | None = None
        self._poller: asyncio.Task | None = None
        self._polling = asyncio.Lock()  # one poll at a time, so no shard is read twice
        if autostart:  # also after a restart: nobody else would call start() again
            ray.get_runtime_context().current_actor.start.remote(interval_s)

    async def run_once(self) -> dict[str, int]:
        """One `get_records` per open shard, routed and checkpointed; this poll's counts."""
        async with self._polling:
            if self.router is None:
                self.router = await asyncio.to_thread(IngestRouter, self.settings)
            shards = await asyncio.to_thread(self._shard_ids)
            polled = await asyncio.gather(*(self._poll(shard) for shard in shards
                                            if shard not in self.finished))
        counts = sum(polled, Counter())
        self.totals.update(counts)
        self.totals["polls"] += 1
        return dict(counts)

    def _shard_ids(self) -> list[str]:
        shards, token = [], None
        while True:
            page = (self.kinesis.list_shards(NextToken=token) if token
                    else self.kinesis.list_shards(StreamName=self.stream))
            shards += [shard["ShardId"] for shard in page["Shards"]]
            token = page.get("NextToken")
            if not token:
                return shards

    async def _poll(self, shard: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        try:
            iterator = self.iterators.get(shard) or await asyncio.to_thread(
                lambda: self.kinesis.get_shard_iterator(
                    **self.checkpoints.iterator_request(shard))["ShardIterator"])
            response = await asyncio.to_thread(
                self.kinesis.get_records, ShardIterator=iterator, Limit=self.records_per_call)
            read = response["Records"]
            records = [record for item in read
                       for record in records_from_payload(item["Data"], item.get("PartitionKey"))]
            if records:
                assert self.router is not None
                ack = await self.router.route(records, SOURCE)
                counts.update(accepted=ack["accepted"], rejected=ack["rejected"])
            if read:
                await asyncio.to_thread(self.checkpoints.save, shard, read[-1]["SequenceNumber"])
            counts.update(kinesis_records=len(read), price_points=len(records))
        except Exception as exc:  # expired iterator, throttling, ingestor failure: from checkpoint
            self.iterators.pop(shard, None)
            self.last_error = f"shard {shard}: {exc!r}"
            log.warning("Kinesis reader %s shard %s failed: %r", self.stream, shard, exc)
            counts["failed_polls"] += 1
            return counts
        if response.get("NextShardIterator"):
            self.iterators[shard] = response["NextShardIterator"]
        else:
            self.iterators.pop(shard, None)
            self.finished.add(shard)
        return counts

    async def start(self, interval_s: float = 1.0) -> None:
        """Poll in the background: again at once after a busy poll, after `interval_s` if idle."""
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll_forever(max(interval_s, 0.2)))

    async def _poll_forever(self, interval_s: float) -> None:
        while True:
            try:
                counts = await self.run_once()
            except Exception as exc:  # listing shards failed (stream gone, network): keep trying
                self.last_error = repr(exc)
                log.warning("Kinesis reader %s poll failed: %r", self.stream, exc)
                counts = {}
            if not counts.get("kinesis_records"):
                await asyncio.sleep(interval_s)

    async def stop(self) -> dict[str, Any]:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        return self.stats()

    def stats(self) -> dict[str, Any]:
        return {"stream": self.stream, **self.totals, "open_shards": sorted(self.iterators),
                "finished_shards": sorted(self.finished),
                "running": self._poller is not None and not self._poller.done(),
                "last_error": self.last_error}
