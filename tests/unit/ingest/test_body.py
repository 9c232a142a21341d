import pytest

from core.ingest.body import BodyShapeError, MalformedBody, parse_records


def test_array_envelope_and_ndjson():
    assert parse_records(b'[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]
    assert parse_records(b'{"records": [{"a": 1}]}') == [{"a": 1}]
    assert parse_records(b'{"a": 1}\n{"a": 2}\n', "application/x-ndjson") == [{"a": 1}, {"a": 2}]
    assert parse_records(b'{"a": 1}\n{"a": 2}') == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("body", [b"", b"{nope", b"\xff\xfe", b'{"a": 1}\n{oops}'])
def test_malformed(body):
    with pytest.raises(MalformedBody):
        parse_records(body)


def test_shape_errors_name_the_field():
    with pytest.raises(BodyShapeError) as err:
        parse_records(b'[{"a": 1}, 7]')
    assert err.value.field == "records[1]"
    with pytest.raises(BodyShapeError) as err:
        parse_records(b'"just text"')
    assert err.value.field == "records"
