"""tuning.seasonality on a tiny lake seeded through real validation, on the session's Ray."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from core.lake import PRICE_POINTS, Lake
from core.market.simulator import Market, MarketSpec
from core.retail.observations import LAKE_COLUMNS, daily, observations, region_timezones
from core.retail.seasonality import ProphetSettings, SeasonalityStore, read_components
from core.retail.seasonality import seasonal_factors as join_factors
from data_jobs.seed_history import seed_history
from tuning.seasonality import fit_seasonality

pytestmark = pytest.mark.slow
SPEC = MarketSpec(seed=3, stores_per_city=1, products=2)  # grocery and household
DAYS = 42
HORIZON = 7


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake.open(str(tmp_path_factory.mktemp("lake")))
    seed_history(lake, Market(SPEC), days=DAYS, bad_fraction=0.0, batch_size=5000)
    return lake


def test_one_prophet_task_per_category_and_components_join_onto_rows(
        seeded: Lake, ray_session: None) -> None:
    manifest = fit_seasonality(seeded, ProphetSettings(horizon_days=HORIZON))
    assert set(manifest["categories"]) == {"grocery", "household"}
    assert manifest["skipped_short_history"] == {}
    assert SeasonalityStore(seeded).current() == manifest["version"]
    for category, facts in manifest["categories"].items():
        components = read_components(seeded, category)
        assert pc.all(pc.equal(components["category"], category)).as_py()
        # local days of 42 UTC-stamped days, then the horizon
        assert facts["observed_days"] in (DAYS, DAYS + 1)
        assert components.num_rows == facts["observed_days"] + HORIZON
        weekly = components["weekly"].to_numpy()[:7]
        assert np.ptp(weekly) > 0.1  # the simulator's weekly shape swings about +-20%
        assert np.all(components["yearly"].to_numpy() == 0.0)  # too short for a year

    rows = daily(observations(seeded.read(PRICE_POINTS, list(LAKE_COLUMNS)),
                              region_timezones()))
    joined = join_factors(rows, read_components(seeded))
    factor = joined["seasonal_factor"].to_numpy(zero_copy_only=False)
    assert joined.num_rows == rows.num_rows and np.isfinite(factor).all()
    weekday = (rows["day"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
               .astype(np.int64) + 3) % 7
    # Saturday (5) sells most in the simulator, Tuesday (1) least
    assert factor[weekday == 5].mean() > factor[weekday == 1].mean()
