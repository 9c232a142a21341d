"""Turn a list of loosely typed JSON records into typed Arrow columns, flagging bad cells.

Each reader returns (array, invalid) where `invalid` marks cells that were present but could
not be read as the column's type (those cells are null in the array). Cells of the expected
Python types go to Arrow in bulk; only the odd cells are read one by one, strictly (a JSON
boolean is not a number, a numeric string is), and a bulk conversion Arrow still refuses is
halved until the offending cells stand alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.ingest.records import COMPETITOR_PRICES_TYPE

Column = tuple[pa.Array, np.ndarray]
Reader = Callable[[Any], Any]
_NONE = type(None)
_ARROW_REFUSALS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError)


def _read_str(value: Any) -> str:
    if isinstance(value, str):
        value.encode("utf-8")  # lone surrogates raise UnicodeEncodeError, a ValueError
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(type(value).__name__)


def _read_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("bool")
    number = float(value)  # accepts int, float and numeric strings
    if not math.isfinite(number):
        raise ValueError("not finite")
    return number


def _read_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        whole = _read_float(value)
        if not whole.is_integer():
            raise ValueError("not a whole number")
        number = int(whole)
    if not -(2**63) <= number < 2**63:
        raise OverflowError("outside int64")
    return number


def _read_price_map(value: Any) -> list[tuple[str, float]]:
    if not isinstance(value, dict):
        raise TypeError(type(value).__name__)
    return [(_read_str(name), _read_float(price)) for name, price in value.items()]


def _read_cell(value: Any, read: Reader) -> tuple[Any, bool]:
    """(converted value, invalid?)"""
    try:
        return read(value), False
    except (ValueError, TypeError, OverflowError):
        return None, True


def _bulk(values: list[Any], arrow_type: pa.DataType, read: Reader,
          invalid: np.ndarray, offset: int = 0) -> pa.Array:
    """pa.array(values); a refused chunk is halved, and a refused single cell read strictly."""
    try:
        return pa.array(values, arrow_type)
    except _ARROW_REFUSALS:
        if len(values) == 1:
            value, bad = _read_cell(values[0], read)
            invalid[offset] = bad
            return pa.array([value], arrow_type)
        middle = len(values) // 2
        return pa.concat_arrays([
            _bulk(values[:middle], arrow_type, read, invalid, offset),
            _bulk(values[middle:], arrow_type, read, invalid, offset + middle),
        ])


def _column(values: Sequence[Any], expected: set[type], arrow_type: pa.DataType,
            read: Reader) -> Column:
    invalid = np.zeros(len(values), dtype=bool)
    if set(map(type, values)) <= expected:
        return _bulk(list(values), arrow_type, read, invalid), invalid
    clean = list(values)
    for i, kind in enumerate(map(type, values)):
        if kind not in expected:
            clean[i], invalid[i] = _read_cell(values[i], read)
    return _bulk(clean, arrow_type, read, invalid), invalid


def null_non_finite(array: pa.Array, invalid: np.ndarray) -> pa.Array:
    """NaN and infinities are not prices: flag those cells (in `invalid`) and null them."""
    values = array.to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(values) & np.asarray(array.is_valid())
    if not bad.any():
        return array
    invalid |= bad
    return pc.if_else(pa.array(~bad), array, pa.nulls(len(array), array.type))


def strings(values: Sequence[Any]) -> Column:
    return _column(values, {str, _NONE}, pa.string(), _read_str)


def floats(values: Sequence[Any]) -> Column:
    array, invalid = _column(values, {float, int, _NONE}, pa.float64(), _read_float)
    return null_non_finite(array, invalid), invalid


def ints(values: Sequence[Any]) -> Column:
    return _column(values, {int, _NONE}, pa.int64(), _read_int)


def price_maps(values: Sequence[Any]) -> Column:
    array, invalid = _column(values, {dict, _NONE}, COMPETITOR_PRICES_TYPE, _read_price_map)
    return null_non_finite_maps(array, invalid), invalid


def null_non_finite_maps(array: pa.MapArray, invalid: np.ndarray) -> pa.MapArray:
    """A map holding a NaN or infinite price is flagged (in `invalid`) and nulled whole."""
    prices = array.items.to_numpy(zero_copy_only=False)
    bad_items = ~np.isfinite(prices)
    if bad_items.any():
        rows = pc.list_parent_indices(pa.ListArray.from_arrays(array.offsets, array.items))
        bad_rows = np.zeros(len(array), dtype=bool)
        bad_rows[np.asarray(rows)[bad_items]] = True
        invalid |= bad_rows
        array = pc.if_else(pa.array(~bad_rows), array, pa.nulls(len(array), array.type))
    return array


def one_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array; no copy when it is one chunk already (combine_chunks copies)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
