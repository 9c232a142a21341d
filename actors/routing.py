"""Find (or start) the region ingestors and split a request's records between them."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from actors.region_ingestor import RegionIngestor
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
        self.fallback = self.reference.region_names[0]

    def split(self, records: list[Any]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            region = self.reference.region_of(record.get("region")) if isinstance(
                record, dict) else None
            groups.setdefault(region or self.fallback, []).append(i)
        return groups

    async def route(self, records: list[Any], source: str) -> dict[str, Any]:
        """Ingest everything; the answer counts accepted and lists each rejected record."""
        groups = self.split(records)
        calls = [
            self.ingestors[region].ingest.remote([records[i] for i in idx], source)
            for region, idx in groups.items()
        ]
        acks = await asyncio.gather(*calls)
        accepted, rejects = 0, []
        for idx, ack in zip(groups.values(), acks, strict=True):
            accepted += ack["accepted"]
            rejects += [dict(r, index=idx[r["index"]]) for r in ack["rejects"]]
        rejects.sort(key=lambda r: r["index"])
        return {"accepted": accepted, "rejected": len(rejects), "rejects": rejects}
