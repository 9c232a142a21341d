"""The monitor benchmark's probes must reach the monitor: a probe that ingestion dead-letters
(its fixed $10 price was a category outlier) looked like a lost alert."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from types import ModuleType

import pytest

from core.config_files import load_config
from core.ingest.pipeline import IngestConfig, IngestPipeline
from core.ingest.reference import Reference
from core.settings import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"


@pytest.fixture
def benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/monitor.py as a module (it imports its sibling `ingest`)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("monitor_benchmark", BENCHMARKS / "monitor.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "monitor_benchmark", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CHUNK", 100)  # many probes, in many categories
    return module


def test_ingestion_accepts_every_probe_and_each_moves_past_the_threshold(benchmark) -> None:
    records = benchmark.live_stream(benchmark.generate(4000), rate=20_000)
    _, accepted = benchmark.accepted_rows(records)
    chunks, probes = benchmark.with_probes(records, accepted)
    assert len(probes) == len(chunks) == 40

    pipeline = IngestPipeline(Reference.load(), load_config("ingest", IngestConfig))
    pipeline.process(records, datetime.now(UTC))  # category price statistics of the feed
    probe_records = [r for chunk in chunks for r in chunk
                     if str(r.get("record_id")).startswith("probe-")]
    result = pipeline.process(probe_records, datetime.now(UTC))
    assert [(r.record_id, str(r.reason)) for r in result.rejections] == []
    prices = result.valid.sort_by([("product_id", "ascending"), ("ts", "ascending")])
    pairs = prices["price"].to_pylist()
    rises = [later / first - 1 for first, later in zip(pairs[::2], pairs[1::2], strict=True)]
    assert len(rises) == len(probes)
    assert min(rises) > 0.15  # every probe is a move the monitor must alert on
