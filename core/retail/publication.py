"""Publishing an approved (or overridden) price as the store's new price: a `price-published`
event on the Redis stream `dynaprice:prices:published` (configs/review.yaml) for the stores'
systems to read, and, when configured, the same event POSTed to a webhook signed with
HMAC-SHA256 (the alert webhook sink: header X-Dynaprice-Signature: sha256=<hex>)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from core.alerts import AlertDispatcher, WebhookSink
from core.redis_text import as_text
from core.retail.review import Decision, ReviewConfig, ReviewItem

log = logging.getLogger(__name__)
EVENT_ID_HEADER = "X-Dynaprice-Event-Id"


class PricePublished(BaseModel):
    """The store's new price, as the stream and the webhook carry it."""

    event: Literal["price-published"] = "price-published"
    id: str  # the recommendation id: one publication per decided item
    product_id: str
    location_id: str
    region: str
    category: str
    price: float
    previous_price: float
    action: Literal["approve", "override"]
    decided_by: str
    decided_at: datetime
    reason: str | None = None
    model_version: str | None = None


def publication(item: ReviewItem, decision: Decision) -> PricePublished:
    assert decision.price is not None and decision.action != "reject"
    return PricePublished(
        id=item.id, product_id=item.product_id, location_id=item.location_id,
        region=item.region, category=item.category, price=decision.price,
        previous_price=decision.price_before, action=decision.action,
        decided_by=decision.by, decided_at=decision.at, reason=decision.reason,
        model_version=item.model_version)


class PricePublisher:
    """XADDs each publication to the stream; hands it to the webhook (its own thread, with
    retries) when one is configured."""

    def __init__(self, client: Any, config: ReviewConfig) -> None:
        self.client = client
        self.stream = config.published_stream
        self.webhook: AlertDispatcher | None = None
        if config.webhook is not None:
            hook = config.webhook
            self.webhook = AlertDispatcher([WebhookSink(
                hook.url, hook.resolved_secret(), hook.max_attempts, hook.backoff_s,
                hook.timeout_s, id_header=EVENT_ID_HEADER)])

    def publish(self, event: PricePublished) -> str:
        """The stream entry id of the event."""
        entry = self.client.xadd(self.stream.key, {"event": event.model_dump_json()},
                                 maxlen=self.stream.maxlen, approximate=True)
        if self.webhook is not None:
            self.webhook.dispatch([event])
        return as_text(entry)


def read_published(client: Any, stream_key: str, count: int = 100) -> list[PricePublished]:
    """The newest publications on the stream, newest first."""
    return [PricePublished.model_validate(json.loads(fields[b"event"] if b"event" in fields
                                                     else fields["event"]))
            for _, fields in client.xrevrange(stream_key, count=count)]
