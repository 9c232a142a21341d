"""Parse a POSTed body of price points: a JSON array, {"records": [...]}, or NDJSON."""

from __future__ import annotations

import json
from typing import Any

from core.ingest.ndjson import Lines, read_ndjson
from core.ingest.received import IS_OBJECT, ReceivedBatch


class MalformedBody(ValueError):
    """The body is not JSON / NDJSON at all (HTTP 400)."""


class BodyShapeError(ValueError):
    """The body is JSON but not a list of records (HTTP 422); `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _loads(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedBody(f"{where}: {exc}") from exc


def _text(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"body is not UTF-8: {exc}") from exc
    if not text or text.isspace():
        raise MalformedBody("empty body")
    return text


def _is_ndjson(text: str, content_type: str) -> bool:
    if "ndjson" in content_type or "jsonl" in content_type:
        return True
    stripped = text.strip()
    return stripped[0] == "{" and "\n" in stripped and not stripped.startswith('{"records"')


def _not_an_object(where: str, record: Any) -> BodyShapeError:
    return BodyShapeError(where, f"expected an object, got {type(record).__name__}")


def _json_records(text: str) -> list[Any]:
    data = _loads(text, "body")
    if isinstance(data, dict) and "records" in data:
        data = data["records"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise BodyShapeError("records", "expected a JSON array of price-point objects")
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            raise _not_an_object(f"records[{i}]", record)
    return data


def parse_records(body: bytes, content_type: str = "application/json") -> list[Any]:
    """The records in `body` as decoded JSON objects (their fields are checked later)."""
    text = _text(body)
    if not _is_ndjson(text, content_type):
        return _json_records(text)
    lines = Lines.of(body)
    records = [_loads(lines[i], f"line {lines.numbers[i]}") for i in range(len(lines))]
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise _not_an_object(f"line[{i + 1}]", record)
    return records


def parse_body(body: bytes, content_type: str = "application/json") -> ReceivedBatch:
    """The records in `body`, column-wise; NDJSON goes straight into Arrow."""
    text = _text(body)
    if not _is_ndjson(text, content_type):
        return ReceivedBatch.from_objects(_json_records(text))
    lines = Lines.of(body)
    batch = read_ndjson(lines, lambda i: _loads(lines[i], f"line {lines.numbers[i]}"))
    is_object = batch.cells[IS_OBJECT].to_numpy(zero_copy_only=False)
    if not is_object.all():
        first = int(is_object.argmin())
        raise _not_an_object(f"line[{first + 1}]", _loads(lines[first], "line"))
    return batch
