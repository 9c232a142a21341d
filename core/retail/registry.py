"""The model registry in the lake: `models/NAME/VERSION/` holds the model's files and
`card.json` (metrics, feature version, tune config); `models/NAME/production.json` points at
the version serving traffic. `promote` moves that pointer only when the challenger beats
the champion on the same test split.

    registry = ModelRegistry(lake, "demand")
    version = registry.register(files, card={"metrics": {"test_mape": 0.08}, ...})
    registry.promote(version, score=lambda v: test_mape_of(v))   # lower is better
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from core.lake import MODELS, Lake
from core.retail.documents import read_bytes, read_json, write_bytes, write_json

CARD = "card.json"
PRODUCTION = "production.json"


@dataclass(frozen=True)
class Promotion:
    """What `promote` decided, with both scores (lower is better)."""

    promoted: bool
    version: str
    production: str | None  # the production version after the decision
    challenger_score: float
    champion_score: float | None


class ModelRegistry:
    """Versions of one model name in a lake."""

    def __init__(self, lake: Lake, name: str) -> None:
        self.lake = lake
        self.name = name

    def _folder(self, version: str) -> str:
        return f"{MODELS}/{self.name}/{version}"

    def register(self, files: dict[str, bytes], card: dict[str, Any]) -> str:
        """Store a new version (files first, the card last: a version with a card is whole)."""
        version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:4]}"
        for name, data in files.items():
            write_bytes(self.lake, f"{self._folder(version)}/{name}", data)
        write_json(self.lake, f"{self._folder(version)}/{CARD}",
                   {**card, "name": self.name, "version": version, "files": sorted(files),
                    "registered_at": datetime.now(UTC).isoformat()})
        return version

    def versions(self) -> list[str]:
        """Every complete version, oldest first."""
        base = self.lake.path(MODELS, self.name)
        if self.lake.fs.get_file_info(base).type == pafs.FileType.NotFound:
            return []
        infos = self.lake.fs.get_file_info(pafs.FileSelector(base))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory
                      and self.card(i.base_name) is not None)

    def card(self, version: str) -> dict[str, Any] | None:
        return read_json(self.lake, f"{self._folder(version)}/{CARD}")

    def files(self, version: str) -> dict[str, bytes]:
        card = self.card(version)
        if card is None:
            raise KeyError(f"model {self.name!r} has no version {version!r}")
        return {name: read_bytes(self.lake, f"{self._folder(version)}/{name}")
                for name in card["files"]}

    def production(self) -> str | None:
        pointer = read_json(self.lake, f"{MODELS}/{self.name}/{PRODUCTION}")
        return pointer["version"] if pointer else None

    def promote(self, version: str, score: Callable[[str], float]) -> Promotion:
        """Point production at `version` if there is none yet or `score(version)` is lower
        than `score(production)`; `score` evaluates a version on one test split."""
        if self.card(version) is None:
            raise KeyError(f"model {self.name!r} has no version {version!r}")
        champion = self.production()
        challenger_score = float(score(version))
        champion_score = float(score(champion)) if champion and champion != version else None
        promoted = champion is None or (champion_score is not None
                                        and challenger_score < champion_score)
        if promoted:
            write_json(self.lake, f"{MODELS}/{self.name}/{PRODUCTION}",
                       {"version": version, "score": challenger_score,
                        "previous": champion, "promoted_at": datetime.now(UTC).isoformat()})
        return Promotion(promoted, version, version if promoted else champion,
                         challenger_score, champion_score)
