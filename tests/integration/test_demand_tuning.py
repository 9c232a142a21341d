"""tuning.demand end to end on a small seeded lake: Tune search, registry, promote, predict.

The promote rule against an existing champion is unit-tested (test_retail_models.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.lake import Lake
from core.market.simulator import Market, MarketSpec
from core.retail.demand_model import DemandModel
from core.retail.feature_store import FeatureStore
from core.retail.registry import ModelRegistry
from data_jobs.seed_history import seed_history
from tuning.demand import read_daily, train_demand

pytestmark = pytest.mark.slow


def test_search_register_promote_and_predict(lake_uri: str, ray_session: None) -> None:
    lake = Lake.open(lake_uri)
    market = Market(MarketSpec(seed=9, stores_per_city=1, products=4))
    seed_history(lake, market, days=50, batch_size=10_000)
    rows = read_daily(lake)
    assert rows.num_rows == 50 * market.n_product_locations

    registry = ModelRegistry(lake, "demand")
    # a production model of an older feature list cannot be scored: the new one replaces it
    old = registry.register({"model.json": json.dumps({"features": ["gone"]}).encode()}, {})
    registry.promote(old, lambda version: 0.0)

    first = train_demand(lake, rows, trials=2, max_rounds=30, every=10)
    assert first.promotion.promoted and registry.production() == first.version
    assert first.promotion.champion_score == float("inf")
    card = registry.card(first.version)
    assert card["feature_version"] in FeatureStore(lake).versions()
    assert card["tune_config"]["kind"] in ("xgboost", "lightgbm")
    assert 0 < card["metrics"]["test_mape"] < 0.5
    assert card["split"]["valid_start"] < card["split"]["test_start"]
    # the features were computed before the validation window opened: no leakage
    manifest = FeatureStore(lake).manifest(card["feature_version"])
    assert manifest["window"]["end"] < card["split"]["valid_start"]

    model = DemandModel.load(registry)
    # Prophet components of each category, fitted on the training window, past the test days
    assert set(model.seasonality["category"].to_pylist()) == set(model.encodings.categories)
    assert str(max(model.seasonality["day"].to_pylist())) > card["split"]["test_start"]
    assert card["seasonality"]["yearly_fourier_order"] == 3
    test = first.test_rows.slice(0, 20)
    prices = test["price"].to_numpy()[:, None] * np.linspace(0.7, 1.3, 13)
    p10, p50, p90 = model.predict_units(test, prices)
    assert (np.diff(p50, axis=1) <= 1e-9).all()
    assert (p10 <= p50 + 1e-9).all() and (p90 >= np.floor(p50)).all()
