"""Fixtures of the retail unit tests."""

from __future__ import annotations

import pyarrow as pa
import pytest
from retail_samples import make_observations


@pytest.fixture(scope="module")
def observations_table() -> pa.Table:
    return make_observations()
