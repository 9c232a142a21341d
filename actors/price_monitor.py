"""The one `PriceMonitor` actor: judges every accepted price point and dispatches the alerts.

One monitor for all regions, not one per region partition. Measured with
benchmarks/monitor.py --quick on this shared 2-core box (load 10-25, so noisy): one monitor
sustained 4.7k-14.5k rows/s with every alert delivered, four per-region monitors 4.0k-16.5k
rows/s, and the single monitor was ahead in 3 of 5 runs. Four actors split the same
two cores, and each pays the rules' fixed cost per batch on a quarter of the rows. Every
rule's state is keyed within a region, so a split on a bigger cluster would only need a router
in actors/routing.py and one actor name per region.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from typing import Any

import pyarrow as pa
import ray
import redis
from ray.exceptions import RayActorError
from ray.util import metrics

from core.alerts import AlertsConfig, build_dispatcher
from core.config_files import load_config
from core.ingest.records import LAKE_SCHEMA
from core.monitor import MonitorConfig
from core.monitor_journal import JournaledMonitor, monitor_rows
from core.settings import Settings

log = logging.getLogger(__name__)
PRICE_MONITOR_NAME = "price-monitor"


def monitor_key_prefix(settings: Settings) -> str:
    """Redis prefix of the monitor's checkpoint, journal and batch ids."""
    return f"dynaprice:{settings.namespace}:price-monitor"


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class PriceMonitor:
    """Runs `Monitor` over batches from the RegionIngestors; restart-safe via Redis. A sync
    actor on purpose: Ray runs a caller's calls in order, retried ones too, so a batch retried
    after a restart is not judged after newer ones (it could then count as late)."""

    def __init__(self, settings: Settings, checkpoint_every_s: float = 5.0) -> None:
        if not settings.redis_url:
            raise ValueError("PriceMonitor needs REDIS_URL for its checkpoint and alert stream")
        self.redis = redis.Redis.from_url(settings.redis_url)
        alerts = load_config("alerts", AlertsConfig, settings.configs_dir)
        self.dispatcher = build_dispatcher(alerts, self.redis)
        self.monitor = JournaledMonitor(
            load_config("monitor", MonitorConfig, settings.configs_dir), self.redis,
            monitor_key_prefix(settings), self.dispatcher.dispatch, checkpoint_every_s)
        log.info("price monitor resumed: %s rows seen, %d journal batches replayed",
                 self.monitor.monitor.stats["rows"], self.monitor.replayed_batches)
        # pay pyarrow's lazy imports (to_numpy pulls in pandas) now, not on the first batch
        self.monitor.monitor.process(LAKE_SCHEMA.empty_table())
        self._rows = metrics.Counter("dynaprice_monitor_rows", "Price points judged")
        self._alerts = metrics.Counter("dynaprice_monitor_alerts", "Alerts raised",
                                       ("kind", "severity"))
        self._latency = metrics.Histogram(
            "dynaprice_monitor_batch_seconds", "Judge + dispatch + journal one batch",
            boundaries=[0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 1], tag_keys=())
        self._sinks = metrics.Gauge("dynaprice_alert_sink_alerts",
                                    "Alerts per sink and outcome since start", ("sink", "outcome"))

    def observe(self, batch_id: str, rows: pa.Table) -> int:
        """Judge one batch of accepted rows; the number of alerts raised."""
        started = time.perf_counter()
        alerts = self.monitor.observe(batch_id, rows)
        self._latency.observe(time.perf_counter() - started)
        if rows.num_rows:  # Ray counters refuse an increment of 0
            self._rows.inc(rows.num_rows)
        for (kind, severity), count in Counter((a.kind, a.severity) for a in alerts).items():
            self._alerts.inc(count, {"kind": str(kind), "severity": str(severity)})
        for sink, counts in self.dispatcher.counters().items():
            for outcome, count in counts.items():
                self._sinks.set(count, {"sink": sink, "outcome": outcome})
        return len(alerts)

    def checkpoint(self) -> int:
        """Checkpoint now (also runs every few seconds); the checkpoint's size in bytes."""
        return self.monitor.checkpoint()

    def flush_alerts(self, timeout_s: float = 10.0) -> bool:
        """Wait until every alert so far reached every sink (or failed); False on timeout."""
        return self.dispatcher.flush(timeout_s)

    def stats(self) -> dict[str, Any]:
        return {**self.monitor.monitor.stats, "journal_batches": self.monitor.journal_length(),
                "replayed_batches": self.monitor.replayed_batches,
                "sinks": self.dispatcher.counters()}


def ensure_price_monitor(settings: Settings) -> ray.actor.ActorHandle:
    """The detached monitor of `settings.namespace`, created if missing."""
    return PriceMonitor.options(
        name=PRICE_MONITOR_NAME, namespace=settings.namespace, lifetime="detached",
        get_if_exists=True,
    ).remote(settings)


class MonitorFeed:
    """A RegionIngestor's link to the monitor: fire-and-forget, found lazily, absence tolerated."""

    def __init__(self, settings: Settings) -> None:
        self.namespace = settings.namespace
        self._monitor: ray.actor.ActorHandle | None = None
        self._last_call: ray.ObjectRef | None = None

    def send(self, accepted: pa.Table) -> None:
        if accepted.num_rows == 0 or not self._reachable():
            return
        self._last_call = self._monitor.observe.remote(uuid.uuid4().hex, monitor_rows(accepted))

    def _reachable(self) -> bool:
        """True with a live handle; forgets one whose actor is gone for good."""
        if self._last_call is not None and ray.wait([self._last_call], timeout=0)[0]:
            try:
                ray.get(self._last_call)
            except RayActorError:
                self._monitor = None
            except Exception:  # a failed batch is the monitor's to log; keep feeding it
                log.warning("price monitor failed a batch", exc_info=True)
            self._last_call = None
        if self._monitor is None:
            try:
                self._monitor = ray.get_actor(PRICE_MONITOR_NAME, namespace=self.namespace)
            except ValueError:
                return False
        return True
