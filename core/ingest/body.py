"""Parse a POSTed body of price points: a JSON array, {"records": [...]}, or NDJSON."""

from __future__ import annotations

import json
from typing import Any


class MalformedBody(ValueError):
    """The body is not JSON / NDJSON at all (HTTP 400)."""


class BodyShapeError(ValueError):
    """The body is JSON but not a list of records (HTTP 422); `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise MalformedBody(f"{where}: {exc}") from exc


def parse_records(body: bytes, content_type: str = "application/json") -> list[Any]:
    """The records in `body`. Each item must be an object; its fields are checked later."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"body is not UTF-8: {exc}") from exc
    stripped = text.strip()
    if not stripped:
        raise MalformedBody("empty body")
    ndjson = "ndjson" in content_type or "jsonl" in content_type or (
        stripped[0] == "{" and "\n" in stripped and not stripped.startswith('{"records"'))
    if ndjson:
        records = [_loads(line, f"line {n}") for n, line in enumerate(text.splitlines(), 1)
                   if line.strip()]
        where = "line"
    else:
        data = _loads(text, "body")
        if isinstance(data, dict) and "records" in data:
            data = data["records"]
        elif isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise BodyShapeError("records", "expected a JSON array of price-point objects")
        records, where = data, "records"
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise BodyShapeError(f"{where}[{i + (where == 'line')}]",
                                 f"expected an object, got {type(record).__name__}")
    return records
