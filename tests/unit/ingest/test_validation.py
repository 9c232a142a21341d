"""Each validation rule rejects with its reason code; good records are normalised."""

from datetime import UTC, datetime

import pytest

from core.ingest.records import LAKE_SCHEMA, Reason

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def test_good_record_is_normalised(pipeline, record):
    result = pipeline.process([record(currency="eur", price=10.0, cost=5.0)], NOW)
    assert result.rejections == []
    assert result.valid.schema == LAKE_SCHEMA
    row = result.valid.to_pylist()[0]
    assert row["region"] == "northeast" and row["city"] == "Boston"
    assert row["postal_code"] == "02134"
    assert row["category_path"] == "grocery/canned/tuna"
    assert (row["category"], row["subcategory"]) == ("grocery", "canned")
    assert row["price"] == pytest.approx(10.8) and row["cost"] == pytest.approx(5.4)
    assert row["margin"] == pytest.approx(0.5)
    assert row["ts"] == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert row["date"] == "2026-11-25"
    assert row["competitor_min_price"] == pytest.approx(2.4 * 1.08)
    assert row["revenue"] == pytest.approx(10.8 * 3)
    assert row["urban"] is True


@pytest.mark.parametrize(
    ("overrides", "drop", "reason"),
    [
        ({}, ("price",), Reason.MISSING_FIELD),
        ({"price": "cheap"}, (), Reason.INVALID_TYPE),
        ({"price": True}, (), Reason.INVALID_TYPE),
        ({"units_sold": 2.5}, (), Reason.INVALID_TYPE),
        ({"competitor_prices": {"acme": "x"}}, (), Reason.INVALID_TYPE),
        ({"timestamp": "yesterday+01:00"}, (), Reason.INVALID_TIMESTAMP),
        ({"timestamp": "2026-02-30T10:00:00-05:00"}, (), Reason.INVALID_TIMESTAMP),
        ({"timestamp": "2026-11-25T10:00:00"}, (), Reason.MISSING_TIMEZONE),
        ({"region": "atlantis"}, (), Reason.UNKNOWN_REGION),
        ({"city": "Gotham"}, (), Reason.UNKNOWN_CITY),
        ({"category_path": "weapons/swords"}, (), Reason.UNKNOWN_CATEGORY),
        ({"currency": "XYZ"}, (), Reason.UNKNOWN_CURRENCY),
        ({"price": 1.5, "cost": 1.5}, (), Reason.PRICE_NOT_ABOVE_COST),
        ({"discount_pct": 100}, (), Reason.DISCOUNT_OUT_OF_RANGE),
        ({"discount_pct": -1}, (), Reason.DISCOUNT_OUT_OF_RANGE),
        ({"margin": 0.2}, (), Reason.MARGIN_INCONSISTENT),
        ({"inventory_level": -3}, (), Reason.NEGATIVE_QUANTITY),
        ({"competitor_prices": {"acme": 0}}, (), Reason.NEGATIVE_QUANTITY),
    ],
)
def test_bad_record_is_rejected_with_its_reason(pipeline, record, overrides, drop, reason):
    result = pipeline.process([record(drop=drop, **overrides)], NOW)
    assert result.valid.num_rows == 0
    [rejection] = result.rejections
    assert rejection.reason == reason
    assert rejection.message


def test_consistent_margin_and_numeric_strings_pass(pipeline, record):
    result = pipeline.process([record(margin=0.4, price="2.5", units_sold="3")], NOW)
    assert result.rejections == []


def test_non_object_is_rejected(pipeline, record):
    result = pipeline.process([record(), 42, None], NOW)
    assert [r.reason for r in result.rejections] == [Reason.NOT_AN_OBJECT] * 2
    assert list(result.valid_index) == [0]


def test_duplicates_within_and_across_batches(pipeline, record):
    first = pipeline.process([record(record_id="a"), record(record_id="a")], NOW)
    assert first.valid.num_rows == 1
    assert first.rejections[0].reason == Reason.DUPLICATE_RECORD_ID
    second = pipeline.process([record(record_id="a"), record(record_id="b")], NOW)
    assert [r.reason for r in second.rejections] == [Reason.DUPLICATE_RECORD_ID]
    assert second.valid["record_id"].to_pylist() == ["b"]


def test_outlier_needs_history_then_rejects_far_prices(pipeline, record):
    history = [record(record_id=f"h{i}", price=2.0 + 0.1 * (i % 5), cost=1.0) for i in range(20)]
    assert pipeline.process(history, NOW).valid.num_rows == 20
    near_and_far = [record(record_id="near", price=2.6, cost=1.0),
                    record(record_id="far", price=250.0, cost=1.0)]
    result = pipeline.process(near_and_far, NOW)
    assert result.valid["record_id"].to_pylist() == ["near"]
    assert [r.reason for r in result.rejections] == [Reason.OUTLIER_PRICE]


def test_no_outlier_check_before_enough_history(pipeline, record):
    result = pipeline.process([record(record_id="x", price=250.0)], NOW)
    assert result.rejections == []
