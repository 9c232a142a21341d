"""The retail app with a promoted demand model and a filled review queue, for tests of the
review workflow through the API and the portal: a simulated lake, configs whose alert
stream, review queue and published-prices stream are keys of the test's own, and the nightly
catalogue job run before the app starts."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import redis
import yaml

from core.lake import Lake
from core.market.simulator import Market, MarketSpec
from core.settings import Settings
from data_jobs.recommend_catalog import CatalogRun, recommend_catalog
from data_jobs.seed_history import seed_history
from serve_apps.retail import RetailPricingAPI
from serve_apps.retail_pricing import DemandModel
from tests.integration.edited_configs import edited_configs
from tests.integration.serve_route import running_app
from tests.integration.test_retail_pricing import train_and_promote

SPEC = MarketSpec(seed=12, products=4, stores_per_city=1)
DAYS = 45
MANAGER = {"X-API-Key": "demo-pricing-manager"}
ANALYST = {"X-API-Key": "demo-analyst"}


@dataclass(frozen=True)
class ReviewKeys:
    """Redis keys of one test module (all under `prefix`)."""

    prefix: str

    @classmethod
    def fresh(cls) -> "ReviewKeys":
        return cls(f"test:{uuid.uuid4().hex}:")

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def published(self) -> str:
        return f"{self.prefix}published"

    @property
    def queue(self) -> str:
        return f"{self.prefix}review"


def priced_day() -> date:
    """The day after the simulated history: the day the catalogue job prices."""
    return Market(SPEC).spec.start + timedelta(days=DAYS)


@contextmanager
def review_settings(folder: Path, redis_url: str, keys: ReviewKeys) -> Iterator[Settings]:
    """Settings over a seeded lake with a promoted model; the test's Redis keys are deleted
    afterwards."""
    lake = Lake.open(str(folder / "lake"))
    seed_history(lake, Market(SPEC), days=DAYS, batch_size=2000)
    train_and_promote(lake, rounds=40)
    configs = edited_configs(folder / "configs", "alerts",
                             lambda c: c["redis_stream"].update(key=keys.alerts))
    review = configs / "review.yaml"
    data = yaml.safe_load(review.read_text())
    data |= {"queue_prefix": keys.queue, "published_stream": {"key": keys.published}}
    review.write_text(yaml.safe_dump(data))
    try:
        yield Settings(lake_uri=lake.uri, redis_url=redis_url, configs_dir=configs,
                       namespace=f"test-{uuid.uuid4().hex[:8]}")
    finally:
        client = redis.Redis.from_url(redis_url)
        found = list(client.scan_iter(match=f"{keys.prefix}*"))
        if found:
            client.delete(*found)


@contextmanager
def running_review_app(settings: Settings, serve_port: int) -> Iterator[tuple[str, CatalogRun]]:
    """Queue the catalogue's recommendations, then run the retail app (a DemandModel polling
    the registry every 0.5 s); yield its base URL and the catalogue run."""
    run = recommend_catalog(settings, priced_day())
    model = DemandModel.options(user_config={"name": "demand", "version": None,
                                             "poll_s": 0.5}).bind(settings)
    with running_app(RetailPricingAPI.bind(settings, model), f"retail-review-{settings.namespace}",
                     serve_port) as url:
        yield url, run
