"""Alerts: one model, a cool-down, and the sinks they go to (log, Redis stream, webhook, SNS)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from core.redis_text import as_text

SIGNATURE_HEADER = "X-Dynaprice-Signature"
DEFAULT_STREAM_KEY = "dynaprice:alerts"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class AlertKind(StrEnum):
    PRICE_MOVE = "price_move"
    COMPETITOR_GAP = "competitor_gap"
    COMPETITOR_MOVE = "competitor_move"
    FLASH_SALE = "flash_sale"
    GEO_ANOMALY = "geo_anomaly"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class SuggestedAction(BaseModel):
    text: str
    price: float | None = Field(None, description="suggested shelf price in USD, when there is one")


class Alert(BaseModel):
    """One alert as every sink and the `/api/retail/alerts` feed carry it."""

    id: str = Field(description="same condition at the same source time -> same id (replay-safe)")
    kind: AlertKind
    severity: Severity
    product_id: str
    location: str = Field(description="store_id")
    category: str | None = None
    region: str | None = None
    evidence: dict[str, float] = Field(default_factory=dict)
    suggested_action: SuggestedAction
    dedup_key: str
    created_at: datetime
    source_ts: datetime = Field(description="event time of the price point that raised it")

    @staticmethod
    def make_id(dedup_key: str, source_ts: datetime) -> str:
        return alert_id(dedup_key, (source_ts - _EPOCH) // _MICROSECOND)


def alert_id(dedup_key: str, source_ts_us: int) -> str:
    """32 hex digits from the condition and its source time (epoch micros)."""
    return hashlib.blake2b(f"{dedup_key}@{source_ts_us}".encode(), digest_size=16).hexdigest()


class CoolDown:
    """The same dedup key is admitted at most once per `seconds` of event time."""

    def __init__(self, seconds: float, last_admitted: dict[str, float] | None = None) -> None:
        self.seconds = seconds
        # in admission order, so pruning stops at the first key still cooling down
        self.last_admitted: OrderedDict[str, float] = OrderedDict(last_admitted or {})

    def admit(self, key: str, at_s: float) -> bool:
        last = self.last_admitted.get(key)
        if last is not None and abs(at_s - last) < self.seconds:
            return False
        self.last_admitted[key] = max(at_s, last) if last is not None else at_s
        self.last_admitted.move_to_end(key)
        return True

    def prune(self, now_s: float) -> None:
        """Forget keys whose cool-down ended before `now_s`."""
        horizon = now_s - self.seconds
        while self.last_admitted and next(iter(self.last_admitted.values())) < horizon:
            self.last_admitted.popitem(last=False)

    def state_dict(self) -> dict[str, float]:
        return dict(self.last_admitted)


# ---- sinks -----------------------------------------------------------------------------------


class AlertSink(Protocol):
    """Anything that delivers alerts; raises on failure (SinkError to say how many failed)."""

    name: str

    def send(self, alerts: Sequence[Alert]) -> None: ...


class SinkError(RuntimeError):
    """Some alerts of a batch were not delivered."""

    def __init__(self, failed: int, message: str) -> None:
        super().__init__(message)
        self.failed = failed


class AlertBatch(list):
    """Alerts with their JSON, serialised once for every sink they go to."""

    def __init__(self, alerts: Sequence[Alert]) -> None:
        super().__init__(alerts)
        self.texts = [alert.model_dump_json() for alert in self]


def with_json(alerts: Sequence[Alert]) -> list[tuple[Alert, str]]:
    """Each alert with its JSON (already there for an AlertBatch)."""
    texts = getattr(alerts, "texts", None) or [alert.model_dump_json() for alert in alerts]
    return list(zip(alerts, texts, strict=True))


class LogSink:
    """Writes each alert as one `alert {json}` line; one log record per batch and severity, at
    the level the severity calls for (a record per alert costs more than judging the row)."""

    name = "log"
    levels = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING,
              Severity.CRITICAL: logging.CRITICAL}

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("dynaprice.alerts")

    def send(self, alerts: Sequence[Alert]) -> None:
        for severity, level in self.levels.items():
            if not self.logger.isEnabledFor(level):
                continue
            lines = [f"alert {text}" for a, text in with_json(alerts) if a.severity == severity]
            if lines:
                self.logger.log(level, "%s", "\n".join(lines))


_INDEXED_FIELDS = ("kind", "severity", "region", "category")
# Adds each alert unless its id was added within the guard's TTL (replays after a restart).
# ARGV: guard seconds, maxlen, then per alert: id, JSON and the values of _INDEXED_FIELDS.
_XADD_EACH_ONCE = """
local guard_s, maxlen = ARGV[1], ARGV[2]
local added = 0
for at = 3, #ARGV, 6 do
  if redis.call('SET', KEYS[1] .. ':seen:' .. ARGV[at], '1', 'NX', 'EX', guard_s) then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'alert', ARGV[at + 1],
               'kind', ARGV[at + 2], 'severity', ARGV[at + 3], 'region', ARGV[at + 4],
               'category', ARGV[at + 5])
    added = added + 1
  end
end
return added
"""


class RedisStreamSink:
    """XADDs alerts to a stream (approximately trimmed to `maxlen`), each alert id at most once;
    one script call per `chunk` alerts."""

    name = "redis_stream"

    def __init__(
        self,
        client: Any,
        stream_key: str = DEFAULT_STREAM_KEY,
        maxlen: int = 100_000,
        replay_guard_s: int = 86_400,
        chunk: int = 500,
    ) -> None:
        self.client = client
        self.stream_key = stream_key
        self.maxlen = maxlen
        self.replay_guard_s = replay_guard_s
        self.chunk = chunk
        self._xadd_each_once = client.register_script(_XADD_EACH_ONCE)

    def send(self, alerts: Sequence[Alert]) -> None:
        entries = with_json(alerts)
        for start in range(0, len(entries), self.chunk):
            args: list[Any] = [self.replay_guard_s, self.maxlen]
            for alert, text in entries[start:start + self.chunk]:
                args += [alert.id, text, *(str(getattr(alert, name) or "")
                                           for name in _INDEXED_FIELDS)]
            self._xadd_each_once(keys=[self.stream_key], args=args)


class AlertQuery(BaseModel):
    """Filters and paging of the alert feed; `since`/`until` bound when alerts entered it."""

    kind: AlertKind | None = None
    severity: Severity | None = None
    region: str | None = None
    category: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(50, ge=1, le=1000)
    cursor: str | None = Field(None, description="next_cursor of the previous page")


class AlertPage(BaseModel):
    """Newest first; pass `next_cursor` back for older alerts (None: nothing older)."""

    alerts: list[Alert]
    next_cursor: str | None = None



def _fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A stream entry's fields as text, whether the client decodes responses or not."""
    return {as_text(k): as_text(v) for k, v in raw.items()}


def _stream_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def read_alerts(
    client: Any, query: AlertQuery, stream_key: str = DEFAULT_STREAM_KEY,
    chunk: int = 500, max_scan: int = 50_000,
) -> AlertPage:
    """One page of the feed matching `query`; scans at most `max_scan` entries per call."""
    wanted = {name: str(getattr(query, name)) for name in _INDEXED_FIELDS if getattr(query, name)}
    upper = f"({query.cursor}" if query.cursor else (
        str(_stream_ms(query.until)) if query.until else "+")
    lower = str(_stream_ms(query.since)) if query.since else "-"
    alerts: list[Alert] = []
    scanned, last_id = 0, None
    while scanned < max_scan:
        entries = client.xrevrange(stream_key, max=upper, min=lower, count=chunk)
        for entry_id, raw in entries:
            scanned += 1
            last_id = as_text(entry_id)
            fields = _fields(raw)
            if all(fields.get(name) == value for name, value in wanted.items()):
                alerts.append(Alert.model_validate_json(fields["alert"]))
                if len(alerts) == query.limit:
                    return AlertPage(alerts=alerts, next_cursor=last_id)
        if len(entries) < chunk:
            return AlertPage(alerts=alerts, next_cursor=None)
        upper = f"({last_id}"
    return AlertPage(alerts=alerts, next_cursor=last_id)


def follow_alerts(
    client: Any, after_id: str = "$", stream_key: str = DEFAULT_STREAM_KEY,
    block_ms: int = 1000, count: int = 100,
) -> list[tuple[str, Alert]]:
    """Alerts added after `after_id` (stream entry id; "$" = from now), waiting up to `block_ms`."""
    found = client.xread({stream_key: after_id}, count=count, block=block_ms) or []
    return [
        (as_text(entry_id), Alert.model_validate_json(_fields(raw)["alert"]))
        for _stream, entries in found
        for entry_id, raw in entries
    ]


def sign_body(secret: str, body: bytes) -> str:
    """Value of the signature header: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header_value: str) -> bool:
    return hmac.compare_digest(sign_body(secret, body), header_value)


class WebhookMessage(Protocol):
    """What a webhook delivers: an id and a JSON body (an Alert, a published price, ...)."""

    id: str

    def model_dump_json(self) -> str: ...


class WebhookSink:
    """POSTs each message as JSON, HMAC-signed, retrying 5xx/429/transport errors with back-off;
    the message id goes in `id_header`."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        id_header: str = "X-Dynaprice-Alert-Id",
    ) -> None:
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.client = client or httpx.Client(timeout=timeout_s)
        self.sleep = sleep
        self.id_header = id_header

    def send(self, alerts: Sequence[WebhookMessage]) -> None:
        errors = []
        for alert in alerts:
            try:
                self._post(alert)
            except (httpx.HTTPError, SinkError) as exc:
                errors.append(f"{alert.id}: {exc}")
        if errors:
            raise SinkError(len(errors), "; ".join(errors[:3]))

    def _post(self, alert: WebhookMessage) -> None:
        body = alert.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(self.secret, body),
            self.id_header: alert.id,
        }
        problem = ""
        for attempt in range(self.max_attempts):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                problem = repr(exc)
                continue
            if response.status_code < 400:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break
        raise SinkError(1, f"webhook gave up after {attempt + 1} attempts: {problem}")


class SnsSink:
    """Publishes each alert to its severity's topic with `category`/`region` attributes."""

    name = "sns"

    def __init__(self, client: Any, topic_arns: Mapping[Severity, str]) -> None:
        self.client = client
        self.topic_arns = dict(topic_arns)

    def send(self, alerts: Sequence[Alert]) -> None:
        failed = 0
        problem = ""
        for alert in alerts:
            topic = self.topic_arns.get(alert.severity)
            if topic is None:
                continue
            attributes = {
                name: {"DataType": "String", "StringValue": str(value)}
                for name, value in (
                    ("category", alert.category), ("region", alert.region),
                    ("kind", alert.kind), ("severity", alert.severity),
                )
                if value
            }
            try:
                self.client.publish(
                    TopicArn=topic, Message=alert.model_dump_json(),
                    Subject=f"dynaprice {alert.severity} {alert.kind}"[:100],
                    MessageAttributes=attributes,
                )
            except Exception as exc:  # botocore raises many unrelated types
                failed += 1
                problem = repr(exc)
        if failed:
            raise SinkError(failed, f"sns: {failed} publish calls failed, last: {problem}")


# ---- dispatch --------------------------------------------------------------------------------


class AlertDispatcher:
    """Fans alerts out to every sink, each on its own thread: a slow or failing sink never
    blocks the caller nor the other sinks. Counts sent/failed/dropped alerts per sink."""

    def __init__(self, sinks: Sequence[AlertSink], max_pending_per_sink: int = 100_000) -> None:
        self.sinks = list(sinks)
        self.max_pending = max_pending_per_sink
        self._executors = {
            sink.name: ThreadPoolExecutor(1, thread_name_prefix=f"alert-{sink.name}")
            for sink in self.sinks
        }
        self._lock = threading.Lock()
        self._pending = {sink.name: 0 for sink in self.sinks}
        self._futures: set[Future[None]] = set()
        self._counts = {sink.name: {"sent": 0, "failed": 0, "dropped": 0} for sink in self.sinks}

    def dispatch(self, alerts: Sequence[Alert]) -> None:
        """Queue `alerts` for every sink and return at once."""
        if not alerts:
            return
        batch = AlertBatch(alerts)
        for sink in self.sinks:
            with self._lock:
                if self._pending[sink.name] + len(batch) > self.max_pending:
                    self._counts[sink.name]["dropped"] += len(batch)
                    logging.getLogger("dynaprice.alerts").error(
                        "sink %s is %d alerts behind: dropped %d", sink.name,
                        self._pending[sink.name], len(batch))
                    continue
                self._pending[sink.name] += len(batch)
                future = self._executors[sink.name].submit(self._deliver, sink, batch)
                self._futures.add(future)
            future.add_done_callback(self._forget)

    def _deliver(self, sink: AlertSink, batch: AlertBatch) -> None:
        failed = 0
        try:
            sink.send(batch)
        except SinkError as exc:
            failed = min(exc.failed, len(batch))
            logging.getLogger("dynaprice.alerts").warning("sink %s: %s", sink.name, exc)
        except Exception:  # a sink's bug must not kill delivery to the others
            failed = len(batch)
            logging.getLogger("dynaprice.alerts").exception("sink %s failed", sink.name)
        with self._lock:
            self._pending[sink.name] -= len(batch)
            self._counts[sink.name]["failed"] += failed
            self._counts[sink.name]["sent"] += len(batch) - failed

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything queued so far was delivered or failed; False on timeout."""
        with self._lock:
            futures = list(self._futures)
        return not wait(futures, timeout=timeout_s).not_done

    def counters(self) -> dict[str, dict[str, int]]:
        """{sink name: {"sent": n, "failed": n, "dropped": n}}, totals since start."""
        with self._lock:
            return {name: dict(counts) for name, counts in self._counts.items()}

    def close(self) -> None:
        for executor in self._executors.values():
            executor.shutdown(wait=True)


# ---- configs/alerts.yaml ---------------------------------------------------------------------


class StrictConfig(BaseModel):
    """A config section that rejects unknown keys (a typo must not silently keep a default)."""

    model_config = ConfigDict(extra="forbid")


class RedisStreamConfig(StrictConfig):
    key: str = DEFAULT_STREAM_KEY
    maxlen: int = Field(100_000, gt=0, description="approximate (MAXLEN ~) trim length")
    replay_guard_s: int = Field(86_400, gt=0, description="an alert id is added once this long")


class WebhookConfig(StrictConfig):
    url: str
    secret: str | None = Field(None, description="HMAC secret; prefer secret_env")
    secret_env: str = Field("DYNAPRICE_WEBHOOK_SECRET", description="env var holding the secret")
    max_attempts: int = Field(4, ge=1)
    backoff_s: float = Field(0.5, ge=0)
    timeout_s: float = Field(5.0, gt=0)

    def resolved_secret(self) -> str:
        secret = self.secret or os.environ.get(self.secret_env)
        if not secret:
            raise ValueError(f"webhook: no secret (set `secret` or ${self.secret_env})")
        return secret


class SnsConfig(StrictConfig):
    region_name: str = "us-east-1"
    endpoint_url: str | None = Field(None, description="e.g. a moto server; else AWS_ENDPOINT_URL")
    topics: dict[Severity, str] = Field(description="severity -> topic ARN or topic name")


class AlertsConfig(StrictConfig):
    """The whole of configs/alerts.yaml."""

    log: bool = True
    redis_stream: RedisStreamConfig = RedisStreamConfig()
    webhook: WebhookConfig | None = None
    sns: SnsConfig | None = None
    max_pending_per_sink: int = Field(
        100_000, gt=0, description="alerts queued for one sink beyond this are dropped (counted)")


def sns_sink_from_config(config: SnsConfig) -> SnsSink:
    """An SnsSink whose topic names are resolved (created if absent) to ARNs."""
    import boto3

    client = boto3.client("sns", region_name=config.region_name, endpoint_url=config.endpoint_url)
    arns = {
        severity: topic if topic.startswith("arn:") else client.create_topic(Name=topic)["TopicArn"]
        for severity, topic in config.topics.items()
    }
    return SnsSink(client, arns)


def build_dispatcher(config: AlertsConfig, redis_client: Any | None) -> AlertDispatcher:
    """The dispatcher over every sink the config turns on (the stream needs `redis_client`)."""
    sinks: list[AlertSink] = [LogSink()] if config.log else []
    if redis_client is not None:
        stream = config.redis_stream
        sinks.append(
            RedisStreamSink(redis_client, stream.key, stream.maxlen, stream.replay_guard_s)
        )
    if config.webhook is not None:
        hook = config.webhook
        sinks.append(WebhookSink(
            hook.url, hook.resolved_secret(), hook.max_attempts, hook.backoff_s, hook.timeout_s
        ))
    if config.sns is not None:
        sinks.append(sns_sink_from_config(config.sns))
    return AlertDispatcher(sinks, config.max_pending_per_sink)

