"""NDJSON goes straight into Arrow, yet decides every record exactly as the per-record reader."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingest.body import BodyShapeError, MalformedBody, parse_body, parse_records
from core.ingest.received import ReceivedBatch
from core.ingest.records import Reason
from tests.unit.ingest.test_properties import JSON_VALUES, damaged_record

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
NDJSON = "application/x-ndjson"
GARBAGE = st.sampled_from(["{oops", "[1, 2", '{"a": 1} {"b": 2}', "nul", '{"price": 01}'])
# how clients write JSON: Python's default, and compact UTF-8 as orjson and most others do
DUMPS = st.sampled_from([
    json.dumps, lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":"))])


def _rows(batch: ReceivedBatch) -> list[dict]:
    """Cells as dicts, competitor prices as a dict (their order is not part of a record)."""
    rows = batch.cells.to_pylist()
    for row in rows:
        if row["competitor_prices"] is not None:
            row["competitor_prices"] = dict(row["competitor_prices"])
    return rows


def _outcome(parse, body: bytes):
    try:
        return parse(body, NDJSON)
    except (MalformedBody, BodyShapeError) as exc:
        return type(exc)


@st.composite
def ndjson_body(draw) -> bytes:
    """Damaged records one per line, some lines raw garbage, blank lines in between."""
    lines, dumps = [], draw(DUMPS)
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            lines.append(draw(GARBAGE))
        elif kind == 1:
            lines.append("   ")
        else:
            lines.append(dumps(draw(damaged_record())))
    return "\n".join(lines).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=ndjson_body())
def test_arrow_reading_agrees_with_the_per_record_reader(body):
    fast = _outcome(parse_body, body)
    strict = _outcome(parse_records, body)
    if isinstance(strict, type):
        assert fast is strict
        return
    assert _rows(fast) == _rows(ReceivedBatch.from_objects(strict))
    assert [json.loads(fast.payload_json(i)) for i in range(len(fast))] == strict


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(JSON_VALUES, min_size=1, max_size=6), dumps=DUMPS)
def test_competitor_prices_of_any_shape(values, dumps):
    records = [{"record_id": str(i), "competitor_prices": v} for i, v in enumerate(values)]
    body = "\n".join(map(dumps, records)).encode()
    assert _rows(parse_body(body, NDJSON)) == _rows(ReceivedBatch.from_objects(records))


def test_odd_cells_get_the_same_reasons(pipeline, record):
    records = [record(record_id="ok"), record(record_id="s", price="n/a"),
               record(record_id="n", competitor_prices={"acme": None}),
               record(record_id="b", units_sold=2**60), record(record_id="f", units_sold=2.0),
               record(record_id="q", price="2.75")]
    body = "\n\n".join(map(json.dumps, records)).encode()
    result = pipeline.process(parse_body(body, NDJSON), NOW)
    assert {r.record_id: r.reason for r in result.rejections} == {
        "s": Reason.INVALID_TYPE, "n": Reason.INVALID_TYPE}
    assert result.valid["units_sold"].to_pylist() == [3, 2**60, 2, 3]
    assert json.loads(result.rejections[0].payload)["price"] == "n/a"


def test_errors_name_the_line():
    with pytest.raises(MalformedBody, match="line 3"):
        parse_body(b'{"a": 1}\n\n{"a": 1} {"a": 2}\n{"a": 3}', NDJSON)
    with pytest.raises(BodyShapeError) as err:
        parse_body(b'{"a": 1}\n[1]\n', NDJSON)
    assert err.value.field == "line[2]"
