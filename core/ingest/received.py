"""Price points as received, column-wise: typed cells (odd cells null and flagged) and payloads.

A `ReceivedBatch` is what travels from a source (HTTP body, MQTT, Kinesis, a test) through the
router to a region's ingestor: one Arrow table, cheap to slice, concatenate and ship, plus
each record as it arrived for the dead letters: NDJSON lines as one Arrow binary array, or
the decoded JSON values as a list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.ingest import columns
from core.ingest.records import (
    COMPETITOR_PRICES_TYPE,
    FLOAT_FIELDS,
    INT_FIELDS,
    STRING_FIELDS,
)
from core.ingest.reference import Reference

_READERS = {**dict.fromkeys(STRING_FIELDS, (pa.string(), columns.strings)),
            **dict.fromkeys(FLOAT_FIELDS, (pa.float64(), columns.floats)),
            **dict.fromkeys(INT_FIELDS, (pa.int64(), columns.ints)),
            "competitor_prices": (COMPETITOR_PRICES_TYPE, columns.price_maps)}
CELL_FIELDS: tuple[str, ...] = tuple(_READERS)
ODD_FIELDS = "_odd_fields"  # bit k set: field CELL_FIELDS[k] was present but not of its type
IS_OBJECT = "_is_object"  # false: the record was not a JSON object (all its cells are null)
RECEIVED_SCHEMA = pa.schema(
    [(name, arrow_type) for name, (arrow_type, _read) in _READERS.items()]
    + [(ODD_FIELDS, pa.int32()), (IS_OBJECT, pa.bool_())]
)


def odd_bits(invalid_by_field: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Fold per-field 'present but unreadable' masks into the ODD_FIELDS bitmask."""
    bits = np.zeros(n, dtype=np.int32)
    for k, name in enumerate(CELL_FIELDS):
        if name in invalid_by_field:
            bits |= invalid_by_field[name].astype(np.int32) << k
    return bits


@dataclass(frozen=True)
class ReceivedBatch:
    """Typed cells (RECEIVED_SCHEMA) and, row for row, each record as it arrived."""

    cells: pa.Table
    payloads: pa.Array | list[Any]  # NDJSON lines (binary), or a list of decoded JSON values

    def __len__(self) -> int:
        return self.cells.num_rows

    @classmethod
    def from_objects(cls, records: Sequence[Any]) -> ReceivedBatch:
        """Decoded JSON values; cells are read strictly, one by one only where types are odd."""
        n = len(records)
        is_object = np.fromiter((isinstance(r, dict) for r in records), dtype=bool, count=n)
        objects = records if is_object.all() else [r if isinstance(r, dict) else {}
                                                   for r in records]
        arrays, invalid = {}, {}
        for name, (_type, read) in _READERS.items():
            arrays[name], invalid[name] = read(list(map(dict.get, objects, repeat(name))))
        arrays[ODD_FIELDS] = pa.array(odd_bits(invalid, n), pa.int32())
        arrays[IS_OBJECT] = pa.array(is_object)
        return cls(pa.table(arrays, schema=RECEIVED_SCHEMA), list(records))

    @classmethod
    def concat(cls, batches: Iterable[ReceivedBatch]) -> ReceivedBatch:
        batches = list(batches)
        if len(batches) == 1:
            return batches[0]
        cells = pa.concat_tables([b.cells for b in batches]).combine_chunks()
        if all(isinstance(b.payloads, pa.Array) for b in batches):
            return cls(cells, pa.concat_arrays([b.payloads for b in batches]))
        return cls(cells, [p for b in batches for p in _as_list(b.payloads)])

    def take(self, rows: Sequence[int] | np.ndarray) -> ReceivedBatch:
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(self.payloads, pa.Array):
            return ReceivedBatch(self.cells.take(rows), self.payloads.take(rows))
        return ReceivedBatch(self.cells.take(rows), [self.payloads[i] for i in rows.tolist()])

    def rows_by_region(self, reference: Reference) -> dict[str, np.ndarray]:
        """Row positions per canonical region; rows of no known region go to the first one."""
        if len(self) == 0:
            return {}
        fallback = reference.region_names[0]
        regions = pc.fill_null(reference.regions(columns.one_chunk(self.cells["region"])),
                               fallback).dictionary_encode()
        codes = regions.indices.to_numpy()
        order = np.argsort(codes, kind="stable")
        bounds = np.cumsum(np.bincount(codes, minlength=len(regions.dictionary)))[:-1]
        return dict(zip(regions.dictionary.to_pylist(), np.split(order, bounds), strict=True))

    def invalid(self, name: str) -> np.ndarray:
        """Rows whose `name` cell was present but could not be read as its type."""
        bit = np.int32(1 << CELL_FIELDS.index(name))
        return (self.cells[ODD_FIELDS].to_numpy() & bit) != 0

    def payload_json(self, row: int) -> str:
        """Record `row` as received, as JSON text (an NDJSON line verbatim)."""
        payload = self.payloads[row]
        if isinstance(payload, pa.Scalar):
            payload = payload.as_py()
        if isinstance(payload, bytes):
            return payload.decode("utf-8").strip()
        return json.dumps(payload, default=str)  # ASCII escapes keep lone surrogates intact


def _as_list(payloads: pa.Array | list[Any]) -> list[Any]:
    return payloads.to_pylist() if isinstance(payloads, pa.Array) else payloads
