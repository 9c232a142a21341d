"""Taking a review decision: claim the item in the queue (exactly once), append it to the
audit log, publish the price. If the audit entry cannot be written, the claim is undone, so
no decision exists without its audit entry."""

from __future__ import annotations

from dataclasses import dataclass

from core.retail.audit import AuditEntry, AuditLog, audit_entry
from core.retail.publication import PricePublisher, publication
from core.retail.review import Decision, ReviewItem, ReviewQueue


@dataclass(frozen=True)
class Decided:
    item: ReviewItem
    audit: AuditEntry
    published: str | None  # stream entry id of the publication (None: rejected)


class ReviewDesk:
    def __init__(self, queue: ReviewQueue, audit: AuditLog, publisher: PricePublisher) -> None:
        self.queue, self.audit, self.publisher = queue, audit, publisher

    def decide(self, item_id: str, decision: Decision) -> Decided:
        """ItemNotFound or AlreadyDecided from the queue; audit errors after an undo."""
        item = self.queue.decide(item_id, decision)
        entry = audit_entry(item, decision)
        try:
            self.audit.append([entry])
        except Exception:
            self.queue.release(item_id, decision)
            raise
        published = None
        if decision.price is not None:
            published = self.publisher.publish(publication(item, decision))
        return Decided(item, entry, published)
