"""`dynaprice report retail` on a seeded lake with a promoted model, a pending review item, an
audit entry and an experiment: one offline HTML file with the portal's charts, its curve the
same as the optimiser's recommendation."""

import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from core.lake import Lake
from core.reports.retail import build_report, item_curve
from core.retail.audit import AuditLog, audit_entry
from core.retail.demand_model import DemandModel
from core.retail.experiments import DEFAULT_KEY as EXPERIMENTS
from core.retail.experiments import (
    ExperimentSpec,
    ExperimentStore,
    create_experiment,
    experiment_units,
)
from core.retail.production_catalog import load_catalog
from core.retail.registry import ModelRegistry
from core.retail.review import Decision, ReviewItem, ReviewQueue, item_id
from core.retail.rules import PricingRulesConfig
from core.settings import Settings
from tests.integration.review_app import (
    ReviewKeys,
    priced_day,
)

pytestmark = pytest.mark.slow



def review_item(context: dict, recommended: float) -> ReviewItem:
    return ReviewItem(
        id=item_id("report-test", context["product_id"], context["location_id"]),
        source="batch", product_id=context["product_id"], location_id=context["location_id"],
        region=context["region"], category=context["category"],
        current_price=context["current_price"], recommended_price=recommended,
        target_date=priced_day(), method="model", created_at=datetime.now(UTC))


def test_report_holds_the_queue_audit_experiment_and_curves(review_env: Settings,
                                                            review_keys: ReviewKeys) -> None:
    lake = Lake.open(review_env.lake_uri)
    catalog = load_catalog(lake, PricingRulesConfig.load(review_env.configs_dir))
    pending, decided = catalog.contexts.slice(0, 2).to_pylist()
    model = DemandModel.load(ModelRegistry(lake, "demand"))
    curve = item_curve(catalog, model, (pending["product_id"], pending["location_id"]),
                       priced_day())
    assert curve["low"] <= curve["recommended_price"] <= curve["high"]
    units = [p["units_p50"] for p in curve["points"]]
    assert units == sorted(units, reverse=True) and units[0] > units[-1]  # demand falls

    client = redis.Redis.from_url(review_env.redis_url)
    ReviewQueue(client, review_keys.queue).add([review_item(pending, curve["recommended_price"])])
    decision = Decision(action="override", by="report-tester", role="pricing-manager",
                        at=datetime.now(UTC), price_before=decided["current_price"],
                        price=round(decided["current_price"] * 1.1, 2), reason="flyer")
    AuditLog(lake).append([audit_entry(review_item(decided, 1.0), decision)])
    spec = ExperimentSpec(name=f"report-{uuid.uuid4().hex[:6]}", seed=3,
                          start=priced_day() - timedelta(days=14), pre_days=21)
    store = ExperimentStore(client)
    store.add(create_experiment(spec, experiment_units(catalog.positions, spec), "tester"))
    try:
        page = build_report(review_env)
    finally:
        client.hdel(EXPERIMENTS, spec.name)

    assert f"{pending['product_id']} at {pending['location_id']}" in page  # the pending item
    assert "1 pending" in page and "report-tester" in page and "flyer" in page
    assert f"{spec.name} (store, seed 3)" in page and "Revenue lift" in page
    charts = page.count('class="plotly-graph-div"')
    assert charts >= 1 + 1 + 3  # regional map, the experiment's lift, the item's three charts
    assert "Demand curve (daily units)" in page and "Price history against" in page
    assert re.findall(r"<script[^>]+src=", page) == []  # plotly.js inline: opens offline


def test_report_command_writes_an_offline_html_file(review_env: Settings, tmp_path: Path) -> None:
    """The installed `dynaprice` command, as a user runs it."""
    out = tmp_path / "retail.html"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dynaprice")), "report", "retail", "--out", str(out),
         "--lake-uri", review_env.lake_uri], capture_output=True, text=True, timeout=300,
        env={**os.environ, "DYNAPRICE_CONFIGS": str(review_env.configs_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    page = out.read_text()
    version = ModelRegistry(Lake.open(review_env.lake_uri), "demand").production()
    assert f"model {version}" in page and "Regional price map" in page
