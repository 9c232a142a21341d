"""The review queue, decisions, publication and alert intake on the real Redis (no Ray)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis

from core.alerts import WebhookConfig, signature_matches
from core.lake import Lake
from core.retail.alert_intake import AlertIntake
from core.retail.audit import AuditLog, AuditQuery
from core.retail.decisions import ReviewDesk
from core.retail.publication import PricePublished, PricePublisher, read_published
from core.retail.review import (
    AlreadyDecided,
    Decision,
    ItemNotFound,
    PublishedStream,
    QueueFilter,
    ReviewConfig,
    ReviewItem,
    ReviewQueue,
)
from tests.integration.test_alert_sinks import make_alert, receiver  # noqa: F401

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


def _item(product: str, location: str = "st-1", minutes: int = 0, region: str = "west",
          source: str = "batch") -> ReviewItem:
    return ReviewItem(id=f"{product}{location}{minutes}".ljust(32, "0")[:32], source=source,
                      product_id=product, location_id=location, region=region,
                      category="grocery", current_price=2.0, recommended_price=2.49,
                      target_date=NOW.date(), method="model", model_version="m1",
                      created_at=NOW + timedelta(minutes=minutes))


def _decision(action: str = "approve", by: str = "ann", price: float | None = 2.49
              ) -> Decision:
    return Decision(action=action, by=by, role="pricing-manager", at=datetime.now(UTC),
                    price_before=2.0, price=price, reason="ok")


@pytest.fixture
def queue(redis_client: redis.Redis, key_prefix: str) -> ReviewQueue:
    return ReviewQueue(redis_client, f"{key_prefix}review")


def test_adding_is_idempotent_and_newer_items_supersede_pending_ones(queue):
    assert queue.add([_item("P1"), _item("P2", region="south")]) == 2
    assert queue.add([_item("P1")]) == 0  # a replay adds nothing
    assert queue.add([_item("P1", minutes=5)]) == 1
    assert queue.add([_item("P1", minutes=-5)]) == 1  # older than the newest: superseded
    pending = queue.page(QueueFilter())
    assert sorted(i.id for i in pending.items) == sorted([_item("P1", minutes=5).id,
                                                          _item("P2").id])
    assert queue.get(_item("P1").id).status == "superseded"
    assert queue.get(_item("P1").id).superseded_by == _item("P1", minutes=5).id
    assert queue.get(_item("P1", minutes=-5).id).status == "superseded"
    south = queue.page(QueueFilter(region="south"))
    assert [i.product_id for i in south.items] == ["P2"] and south.count == 1
    assert queue.counts() == {"pending": 2, "approved": 0, "rejected": 0, "overridden": 0,
                              "superseded": 2}
    with pytest.raises(ItemNotFound):
        queue.get("f" * 32)


def test_an_item_is_decided_exactly_once_even_when_racing(queue):
    queue.add([_item("P1")])
    item_id = _item("P1").id
    results: list[str] = []

    def decide(who: str) -> None:
        try:
            queue.decide(item_id, _decision(by=who))
            results.append(f"won:{who}")
        except AlreadyDecided:
            results.append("409")

    threads = [threading.Thread(target=decide, args=(f"user{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results)[:7] == ["409"] * 7 and sum(r.startswith("won") for r in results) == 1
    decided = queue.get(item_id)
    assert decided.status == "approved" and f"won:{decided.decision.by}" in results
    assert queue.page(QueueFilter(status="approved")).items[0].id == item_id
    with pytest.raises(AlreadyDecided):
        queue.decide(item_id, _decision("reject", price=None))


def test_a_decision_without_its_audit_entry_is_undone(queue, redis_client, key_prefix,
                                                      tmp_path):
    (tmp_path / "lake").write_text("a file where the lake's folder should be")
    config = ReviewConfig(published_stream=PublishedStream(key=f"{key_prefix}published"))
    desk = ReviewDesk(queue, AuditLog(Lake.open(str(tmp_path / "lake"))),
                      PricePublisher(redis_client, config))
    queue.add([_item("P1")])
    with pytest.raises(OSError):
        desk.decide(_item("P1").id, _decision())
    assert queue.get(_item("P1").id).status == "pending"
    assert redis_client.xlen(f"{key_prefix}published") == 0


def test_decisions_are_audited_and_prices_published_with_a_signed_webhook(
        queue, redis_client, key_prefix, tmp_path, receiver, monkeypatch):  # noqa: F811
    url, handler = receiver
    handler.failures = 0
    monkeypatch.setenv("TEST_PRICES_SECRET", "s3cret")
    config = ReviewConfig(published_stream=PublishedStream(key=f"{key_prefix}published"),
                          webhook=WebhookConfig(url=url, secret_env="TEST_PRICES_SECRET",
                                                backoff_s=0.01))
    publisher = PricePublisher(redis_client, config)
    audit = AuditLog(Lake.open(str(tmp_path / "lake")))
    desk = ReviewDesk(queue, audit, publisher)
    queue.add([_item("P1"), _item("P2")])
    approved = desk.decide(_item("P1").id, _decision())
    rejected = desk.decide(_item("P2").id, _decision("reject", price=None))
    assert approved.published and rejected.published is None
    assert {e.action for e in audit.read(AuditQuery())} == {"approve", "reject"}
    events = read_published(redis_client, f"{key_prefix}published")
    assert [(e.product_id, e.price, e.previous_price) for e in events] == [("P1", 2.49, 2.0)]
    assert publisher.webhook.flush(10)
    body, signature = handler.received[-1]
    assert signature_matches("s3cret", body, signature)
    assert PricePublished.model_validate_json(body).id == _item("P1").id


def test_alert_intake_hands_each_alert_to_one_reader_and_reclaims_abandoned_ones(
        redis_client, key_prefix):
    stream = f"{key_prefix}alerts"
    first = AlertIntake(redis_client, stream, "review", "a", claim_idle_ms=50)
    second = AlertIntake(redis_client, stream, "review", "b", claim_idle_ms=50)
    assert first.take() == [] and second.take() == []  # the group starts at the end
    for key in ("k1", "k2", "k3"):
        redis_client.xadd(stream, {"alert": make_alert(key).model_dump_json()})
    taken_a = first.take(count=2)
    taken_b = second.take()
    assert len(taken_a) == 2 and len(taken_b) == 1
    assert {a.dedup_key for _, a in taken_a + taken_b} == {"k1", "k2", "k3"}
    first.ack([taken_a[0][0]])  # "a" dies before acknowledging its second alert
    second.ack([entry for entry, _ in taken_b])
    threading.Event().wait(0.1)
    reclaimed = second.take()
    assert [a.dedup_key for _, a in reclaimed] == [taken_a[1][1].dedup_key]
    second.ack([entry for entry, _ in reclaimed])
    assert redis_client.xpending(stream, "review")["pending"] == 0
