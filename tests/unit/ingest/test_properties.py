"""Property: whatever arrives, validation never raises and every record lands exactly once."""

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingest.records import PricePoint
from tests.unit.ingest.conftest import GOOD

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
FIELDS = list(PricePoint.model_fields)


@st.composite
def damaged_record(draw):
    """A good record with some fields replaced by arbitrary JSON or removed, or not a record."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    data = dict(GOOD, record_id=draw(st.text(min_size=1, max_size=4)))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            data.pop(name, None)
        else:
            data[name] = draw(JSON_VALUES)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(damaged_record(), max_size=15), min_size=1, max_size=3))
def test_every_record_lands_once(pipeline, batches):
    landed_ids: list[str] = []
    for batch in batches:
        result = pipeline.process(batch, NOW)
        valid_positions = set(result.valid_index.tolist())
        rejected_positions = {r.index for r in result.rejections}
        assert not valid_positions & rejected_positions
        assert valid_positions | rejected_positions == set(range(len(batch)))
        assert result.valid.num_rows == len(valid_positions)
        landed_ids += result.valid["record_id"].to_pylist()
    assert len(landed_ids) == len(set(landed_ids))
