"""data_jobs.price_features on a lake seeded through real validation, on the session's Ray."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow.compute as pc
import pytest

from core.lake import PRICE_POINTS, Lake
from core.market.simulator import Market, MarketSpec
from core.retail.feature_store import FeatureStore
from core.retail.features import ALL_SEASONS, compute_features
from core.retail.observations import LAKE_COLUMNS, in_window, observations, region_timezones
from data_jobs.price_features import compute_features as job_features
from data_jobs.price_features import main, source_partitions
from data_jobs.seed_history import seed_history

pytestmark = pytest.mark.slow
SPEC = MarketSpec(seed=5, stores_per_city=1, products=5)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake.open(str(tmp_path_factory.mktemp("lake")))
    result = seed_history(lake, Market(SPEC), days=12, bad_fraction=0.02, batch_size=5000)
    assert result.accepted > 0 and result.rejected > 0
    return lake


def test_job_prunes_partitions_and_matches_a_single_pass(seeded: Lake, ray_session: None
                                                         ) -> None:
    start, end = date(2025, 1, 8), date(2025, 1, 14)
    features, window = job_features(seeded, start, end, ["west", "south"])
    read = {(p["region"], p["date"]) for p in window.source_partitions}
    assert {region for region, _ in read} == {"west", "south"}
    assert min(d for _, d in read) == "2025-01-08" and max(d for _, d in read) == "2025-01-15"

    raw = seeded.read(PRICE_POINTS, columns=list(LAKE_COLUMNS),
                      filter=pc.field("region").isin(["west", "south"]))
    expected_obs = in_window(observations(raw, region_timezones()), np.datetime64(start),
                             np.datetime64(end))
    assert window.records_read == expected_obs.num_rows
    expected = compute_features(expected_obs, np.datetime64(end)).product_locations
    got = features.product_locations
    assert got.num_rows == expected.num_rows
    for name in ("n_obs", "price_mean", "price_median", "elasticity", "price_avg_7d"):
        np.testing.assert_allclose(got[name].to_numpy(), expected[name].to_numpy(), rtol=1e-9)
    every = got.filter(pc.equal(got["season"], ALL_SEASONS))
    assert set(every["region"].to_pylist()) == {"west", "south"}
    assert str(pc.max(every["last_day"]).as_py()) == "2025-01-14"


def test_main_writes_a_current_version_with_its_manifest(seeded: Lake, ray_session: None
                                                          ) -> None:
    main(lake=seeded.uri, start=None, end=None, regions=None)
    store = FeatureStore(seeded)
    version = store.current()
    manifest = store.manifest(version)
    assert all(check["passed"] for check in manifest["checks"])
    assert len(manifest["source_partitions"]) == len(source_partitions(seeded, None, None, None))
    assert manifest["records_read"] == seeded.read(PRICE_POINTS, columns=["price"]).num_rows
    assert manifest["row_counts"]["product_locations"] == store.read(version).num_rows
    health = manifest["features"]["product_locations"]
    assert health["price_mean"]["completeness"] == 1.0
    assert health["price_mean"]["fresh_through"] >= "2025-01-16"
