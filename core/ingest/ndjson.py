"""NDJSON lines straight into Arrow (pyarrow.json); only lines Arrow refuses are read one by one.

Good input never becomes Python objects. Arrow reads every known field with its explicit type
and skips unknown ones unread (so no inference over what clients add, however wide or deep).
It refuses a whole run of lines at the first cell of an unexpected JSON kind ("price": "n/a"),
at malformed JSON, at a second value on one line; its error names the row, so the lines
before it are kept as one run and the refused line alone takes the strict per-record path
(`ReceivedBatch.from_objects`), which decides its type errors as for any other source. A
hint that does not check out (a run whose row count differs from its line count) only makes
the run smaller, never wrong. Lines that do not start with "{" go the strict way unread.

`competitor_prices` is a map of free names: Arrow only checks that it is an object, and its
entries are read column-wise from the line's text when the text leaves no doubt (one nested
object, plain "name": number pairs, no repeated name); otherwise the line reads strictly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from core.ingest import columns
from core.ingest.received import (
    CELL_FIELDS,
    IS_OBJECT,
    ODD_FIELDS,
    RECEIVED_SCHEMA,
    ReceivedBatch,
    odd_bits,
)
from core.ingest.records import FLOAT_FIELDS, INT_FIELDS, STRING_FIELDS

# Whole numbers are read as float64 and checked here, so 2.0 passes as it does from a dict;
# beyond 2**53 a float is no longer exact and the line takes the strict path.
_EXACT_INTS = 2.0**53
_READ_AS = pa.schema([(name, pa.string()) for name in STRING_FIELDS]
                     + [(name, pa.float64()) for name in (*FLOAT_FIELDS, *INT_FIELDS)]
                     + [("competitor_prices", pa.struct([]))])
_PARSE = pj.ParseOptions(explicit_schema=_READ_AS, unexpected_field_behavior="ignore")
_ERROR_ROW = re.compile(r"in row (\d+)")
# a string field whose value does not start like a string, a number field not like a number
_ODD_KIND = (rf'"(?:{"|".join(STRING_FIELDS)})"\s*:\s*[^"n\s]'
             rf'|"(?:{"|".join((*FLOAT_FIELDS, *INT_FIELDS))})"\s*:\s*[^-0-9n\s]'
             r'|"competitor_prices"\s*:\s*[^{n\s]')
_COMPETITOR_KEY = '"competitor_prices"'
_OBJECT_AT_START = r"^\s*:\s*\{(?P<pairs>[^{}]*)\}"
_NAME_AND_PRICE = (r'^\s*"(?P<name>[^"\\]*)"\s*:\s*'
                   r"(?P<price>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*$")


class _Runs:
    """Split lines into runs Arrow reads and lines it refuses.

    Clean input takes one call per run. Each refusal costs a reread of the lines before it,
    so dirty input first sets aside the lines whose text shows a value of the wrong JSON kind
    (`odd_looking`), and runs are at most WINDOW lines long while refusals continue.
    """

    WINDOW = 1000

    def __init__(self, text: bytes, lines: list[bytes]) -> None:
        self.text = text
        self.data = pa.py_buffer(self.text)
        sizes = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)) + 1
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.window = len(lines)
        self.read: list[tuple[int, pa.Table]] = []
        self.refused: list[int] = []

    def read_all(self, skipped: np.ndarray, *, at_once: bool) -> bool:
        """Read the runs between `skipped` lines; `at_once`: give up at the first refusal."""
        self.read, self.refused = [], []
        for first, end in zip([0, *(skipped + 1)], [*skipped, len(self.starts) - 1],
                              strict=True):
            if first == end:
                continue
            if not at_once:
                self.split(int(first), int(end))
            elif not self._read_whole(int(first), int(end)):
                return False
        return True

    def _read_whole(self, first: int, end: int) -> bool:
        try:
            table = self._arrow(first, end)
        except pa.ArrowException:
            return False
        if table.num_rows != end - first:
            return False
        self.read.append((first, table))
        return True

    def odd_looking(self) -> np.ndarray:
        """Lines whose text shows a known field holding a value of the wrong JSON kind."""
        return np.flatnonzero(pc.match_substring_regex(self.texts(), _ODD_KIND).to_numpy(
            zero_copy_only=False))

    def unreadable(self) -> np.ndarray:
        """Lines not starting with "{" (a top-level null crashes Arrow's reader as a first row
        and reads as a row of nulls elsewhere)."""
        first_bytes = np.frombuffer(self.text, dtype=np.uint8)[self.starts[:-1]]
        return np.flatnonzero(first_bytes != ord("{"))

    def read_lines(self) -> np.ndarray:
        """Positions of the lines in the runs Arrow read, in order."""
        return np.concatenate([np.arange(first, first + table.num_rows)
                               for first, table in self.read])

    def braces(self) -> int:
        """How many "{" the lines Arrow read hold in all."""
        return sum(self.text.count(b"{", int(self.starts[first]),
                                   int(self.starts[first + table.num_rows]))
                   for first, table in self.read)

    def texts(self) -> pa.Array:
        """Each line's text as a string array over the joined buffer (no copy)."""
        offsets = np.minimum(self.starts, len(self.text))
        return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets),
                                                self.data)

    def _arrow(self, first: int, end: int) -> pa.Table:
        start = int(self.starts[first])
        chunk = self.data.slice(start, int(self.starts[end]) - 1 - start)
        # one block, one thread: the row an error names counts from `first`
        options = pj.ReadOptions(use_threads=False, block_size=chunk.size + 1)
        return pj.read_json(pa.BufferReader(chunk), read_options=options, parse_options=_PARSE)

    def split(self, first: int, end: int) -> None:
        """Read lines first..end as runs, refusing lines one by one."""
        while first < end:
            stop = min(end, first + self.window)
            try:
                table = self._arrow(first, stop)
                if table.num_rows == stop - first:
                    self.read.append((first, table))
                    first = stop
                    continue
                row = None  # a line held two values: find it by halving
            except pa.ArrowException as exc:
                match = _ERROR_ROW.search(str(exc))
                row = int(match.group(1)) if match else None
            self.window = min(self.window, self.WINDOW)
            if row is None or not 0 <= row < stop - first:
                if stop - first == 1:
                    self.refused.append(first)
                    first = stop
                    continue
                middle = (first + stop) // 2
                self.split(first, middle)
                self.split(middle, stop)
                first = stop
                continue
            self.split(first, first + row)
            self.refused.append(first + row)
            first += row + 1


def _whole_numbers(values: pa.Array, invalid: np.ndarray, inexact: np.ndarray) -> pa.Array:
    """float64 cells as int64: fractions and non-finite values are flagged, huge ones inexact."""
    numbers = values.to_numpy(zero_copy_only=False)
    present = np.asarray(values.is_valid())
    finite = np.isfinite(numbers)
    inexact |= present & finite & (np.abs(numbers) >= _EXACT_INTS)
    bad = present & ~inexact & ~(finite & (np.floor(numbers) == numbers))
    invalid |= bad
    keep = present & ~bad & ~inexact
    return pa.array(np.where(keep, numbers, 0).astype(np.int64), mask=~keep)


def _competitor_maps(present: np.ndarray, texts: pa.Array, fewest_braces: bool,
                     inexact: np.ndarray) -> pa.MapArray:
    """The {"name": price} object of each line whose competitor_prices Arrow saw as an object.

    Read from the text only when it is plain: the line's one nested object, "name": number
    pairs with unescaped names, no name twice; other rows are marked inexact. With
    `fewest_braces` the lines are known to hold no other "{" and are not counted one by one.
    """
    n = len(texts)
    plain = present.copy()
    if not fewest_braces:
        plain &= pc.count_substring(texts, "{").to_numpy(zero_copy_only=False) == 2
    found = _text_after_key(pc.if_else(pa.array(plain), texts, pa.scalar(None, texts.type)))
    inner = pc.utf8_trim_whitespace(found)
    empty = pc.equal(inner, "")
    pairs = pc.split_pattern(pc.if_else(empty, pa.scalar(None, inner.type), inner), ",")
    parents = pc.list_parent_indices(pairs).to_numpy()
    names, prices = pc.extract_regex(pc.list_flatten(pairs), _NAME_AND_PRICE).flatten()
    names = pc.fill_null(names.cast(pa.string()), "")
    doubtful = plain & ~np.asarray(pc.fill_null(pc.or_(found.is_valid(), empty), False))
    doubtful[parents[np.asarray(prices.is_null())]] = True
    codes = pc.dictionary_encode(names).indices.to_numpy()
    doubtful[parents[~_first_occurrence(parents * (codes.max(initial=0) + 1) + codes)]] = True
    inexact |= doubtful | (present & ~plain)
    counts = np.bincount(parents, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(
        pa.array(offsets), names, pc.cast(prices, pa.float64()),
        mask=pa.array(~present))


def _text_after_key(texts: pa.Array) -> pa.Array:
    """Inside the braces of the object after the first "competitor_prices" key, else null."""
    parts = pc.split_pattern(texts, _COMPETITOR_KEY, max_splits=1)
    offsets = parts.offsets.to_numpy()
    split = np.flatnonzero(np.diff(offsets) == 2)
    tails = pc.take(pc.list_flatten(parts), pa.array(offsets[split] + 1 - offsets[0]))
    [inside] = pc.extract_regex(tails, _OBJECT_AT_START).flatten()  # no match: null
    where = np.full(len(texts), -1)
    where[split] = np.arange(len(split))
    return pc.take(inside, pa.array(where, mask=where < 0))


def _first_occurrence(keys: np.ndarray) -> np.ndarray:
    """True where a key has not appeared before."""
    first = np.zeros(len(keys), dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True
    return first


def _cells(table: pa.Table, runs: _Runs) -> tuple[pa.Table, np.ndarray]:
    """RECEIVED_SCHEMA cells of the lines Arrow read, and the rows that need the strict reader."""
    n = table.num_rows
    invalid = {name: np.zeros(n, dtype=bool) for name in CELL_FIELDS}
    inexact = np.zeros(n, dtype=bool)
    arrays: dict[str, Any] = {name: table[name].combine_chunks() for name in STRING_FIELDS}
    for name in FLOAT_FIELDS:
        arrays[name] = columns.null_non_finite(table[name].combine_chunks(), invalid[name])
    for name in INT_FIELDS:
        arrays[name] = _whole_numbers(table[name].combine_chunks(), invalid[name], inexact)
    read = runs.read_lines()
    present = np.zeros(len(runs.starts) - 1, dtype=bool)  # maps are read for all lines at once
    present[read] = np.asarray(table["competitor_prices"].is_valid())
    inexact_lines = np.zeros(len(present), dtype=bool)
    # each line Arrow read has one "{" of its own and one per competitor object at least
    fewest_braces = runs.braces() == len(read) + present.sum()
    maps = _competitor_maps(present, runs.texts(), fewest_braces, inexact_lines)
    inexact |= inexact_lines[read]
    arrays["competitor_prices"] = columns.null_non_finite_maps(
        maps.take(pa.array(read)), invalid["competitor_prices"])
    arrays[ODD_FIELDS] = pa.array(odd_bits(invalid, n), pa.int32())
    arrays[IS_OBJECT] = pa.array(np.ones(n, dtype=bool))
    return pa.table(arrays, schema=RECEIVED_SCHEMA), inexact


def read_ndjson(text: bytes, lines: list[bytes],
                decode_line: Callable[[int], Any]) -> ReceivedBatch:
    """NDJSON `text` (its non-blank `lines` joined by newlines) as a batch.

    `decode_line(i)` decodes line i strictly, or raises for a malformed line.
    """
    runs = _Runs(text, lines)
    strict = runs.unreadable()
    if not runs.read_all(strict, at_once=True):
        strict = np.union1d(strict, runs.odd_looking())
        runs.read_all(strict, at_once=False)
    tables, rows = [], []
    if runs.read:
        read = runs.read_lines()
        fast, inexact = _cells(pa.concat_tables([t for _first, t in runs.read]), runs)
        tables.append(fast.filter(pa.array(~inexact)))
        rows.append(read[~inexact])
        strict = np.concatenate([strict, read[inexact]])
    strict = np.sort(np.concatenate([strict, runs.refused])).astype(np.int64)
    if len(strict):
        tables.append(ReceivedBatch.from_objects([decode_line(i) for i in strict.tolist()]).cells)
        rows.append(strict)
    if not tables:
        return ReceivedBatch(RECEIVED_SCHEMA.empty_table(), [])
    cells = pa.concat_tables(tables)
    if len(strict):
        cells = cells.take(pa.array(np.argsort(np.concatenate(rows), kind="stable")))
    return ReceivedBatch(cells.combine_chunks(), lines)
