"""Find (or start) the region ingestors and split a request's records between them."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from actors.region_ingestor import RegionIngestor
from core.ingest.received import ReceivedBatch
from core.ingest.reference import Reference
from core.settings import Settings


def ingestor_name(region: str) -> str:
    return f"ingestor:{region}"


def ensure_ingestors(settings: Settings) -> dict[str, ray.actor.ActorHandle]:
    """One detached `RegionIngestor` per configured region, created if missing."""
    reference = Reference.load(settings.configs_dir)
    return {
        region: RegionIngestor.options(
            name=ingestor_name(region), namespace=settings.namespace, lifetime="detached",
            get_if_exists=True,
        ).remote(region, settings)
        for region in reference.region_names
    }


class IngestRouter:
    """Route records by region; records with no known region go to the first ingestor's DLQ."""

    def __init__(self, settings: Settings) -> None:
        self.reference = Reference.load(settings.configs_dir)
        self.ingestors = ensure_ingestors(settings)

    async def route(self, records: ReceivedBatch | list[Any], source: str) -> dict[str, Any]:
        """Ingest everything; the answer counts accepted and lists each rejected record."""
        batch = records if isinstance(records, ReceivedBatch) else ReceivedBatch.from_objects(
            records)
        groups = batch.rows_by_region(self.reference)
        calls = [self.ingestors[region].ingest.remote(
            batch if len(groups) == 1 else batch.take(rows), source)
            for region, rows in groups.items()]
        acks = await asyncio.gather(*calls)
        accepted, rejects = 0, []
        for rows, ack in zip(groups.values(), acks, strict=True):
            accepted += ack["accepted"]
            rejects += [dict(r, index=int(rows[r["index"]])) for r in ack["rejects"]]
        rejects.sort(key=lambda r: r["index"])
        return {"accepted": accepted, "rejected": len(rejects), "rejects": rejects}
