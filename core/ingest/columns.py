"""Turn a list of loosely typed JSON records into typed Arrow columns, flagging bad cells.

Each function returns (array, invalid) where `invalid` marks cells that were present but
could not be read as the column's type (those cells are null in the array). The fast path
hands the whole column to Arrow; only a column holding an unexpected type is walked in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from core.ingest.records import COMPETITOR_PRICES_TYPE

Column = tuple[pa.Array, np.ndarray]
_NONE = type(None)


def _walk(values: Sequence[Any], read: Callable[[Any], Any], arrow_type: pa.DataType) -> Column:
    """Slow path: read each cell with `read`, which raises ValueError/TypeError on bad input."""
    out: list[Any] = []
    invalid = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(read(value))
        except (ValueError, TypeError, OverflowError):
            out.append(None)
            invalid[i] = True
    return pa.array(out, arrow_type), invalid


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


def strings(values: Sequence[Any]) -> Column:
    if set(map(type, values)) <= {str, _NONE}:
        try:
            return pa.array(values, pa.string()), np.zeros(len(values), dtype=bool)
        except (pa.ArrowInvalid, UnicodeEncodeError):
            pass
    return _walk(values, _read_str, pa.string())


def floats(values: Sequence[Any]) -> Column:
    if set(map(type, values)) <= {float, int, _NONE}:
        try:
            array = pa.array(values, pa.float64())
        except pa.ArrowInvalid:  # ints beyond 2**53 are not exact doubles
            return _walk(values, _read_float, pa.float64())
        finite = np.isfinite(array.to_numpy(zero_copy_only=False))
        present = ~np.asarray(array.is_null())
        bad = present & ~finite
        if bad.any():
            array = pa.array(np.where(bad, np.nan, array.to_numpy(zero_copy_only=False)),
                             mask=~present | bad)
        return array, bad
    return _walk(values, _read_float, pa.float64())


def ints(values: Sequence[Any]) -> Column:
    if set(map(type, values)) <= {int, _NONE}:
        try:
            return pa.array(values, pa.int64()), np.zeros(len(values), dtype=bool)
        except (OverflowError, pa.ArrowInvalid):
            pass
    return _walk(values, _read_int, pa.int64())


def price_maps(values: Sequence[Any]) -> Column:
    if set(map(type, values)) <= {dict, _NONE}:
        try:
            array = pa.array(values, COMPETITOR_PRICES_TYPE)
            flat = array.items
            if np.isfinite(flat.to_numpy(zero_copy_only=False)).all() and flat.null_count == 0:
                return array, np.zeros(len(values), dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return _walk(values, _read_price_map, COMPETITOR_PRICES_TYPE)
