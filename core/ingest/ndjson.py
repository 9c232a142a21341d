"""NDJSON lines straight into Arrow (pyarrow.json); only lines Arrow refuses are read one by one.

Good input never becomes Python objects, and a body is read by Arrow in one call. Arrow reads
every known field with its explicit type and skips unknown ones unread (so no inference over
what clients add, however wide or deep). It refuses a whole body at the first cell of an
unexpected JSON kind ("price": "n/a"), at malformed JSON, at a second value on one line. So a
refused body is read again with the lines whose text shows a value of the wrong JSON kind
replaced by "{}" (a row of nulls, which keeps the rows aligned with the lines); those lines
take the strict per-record path (`ReceivedBatch.from_objects`), which decides their type
errors as for any other source. Should Arrow still refuse, the body is read in windows and
each refused line alone goes the strict way (its error names the row; a window whose row
count differs from its line count is halved). Lines that do not start with "{" go the strict
way unread.

`competitor_prices` is a map of free names: Arrow only checks that it is an object, and its
entries are read column-wise from the line's text when the text leaves no doubt (one nested
object, plain "name": number pairs, no repeated name); otherwise the line reads strictly.
Each record's payload (for the dead letters) is its line, as a zero-copy slice of the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
_BLOCKS = pj.ReadOptions(block_size=1 << 20)  # blocks of 1 MiB cost less CPU than one big one
_ERROR_ROW = re.compile(r"in row (\d+)")
# a string field whose value does not start like a string, a number field not like a number
_ODD_KIND = (rf'"(?:{"|".join(STRING_FIELDS)})"\s*:\s*[^"n\s]'
             rf'|"(?:{"|".join((*FLOAT_FIELDS, *INT_FIELDS))})"\s*:\s*[^-0-9n\s]'
             r'|"competitor_prices"\s*:\s*[^{n\s]')
_NAME_AND_PRICE = (r'^\s*"(?P<name>[^"\\]*)"\s*:\s*'
                   r"(?P<price>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*$")
_PLACEHOLDER = b"{}"


@dataclass(frozen=True)
class Lines:
    """The non-blank lines of an NDJSON body: where each starts and ends, its line number."""

    body: bytes
    starts: np.ndarray
    ends: np.ndarray
    numbers: np.ndarray  # 1-based, for error messages

    @classmethod
    def of(cls, body: bytes) -> Lines:
        """The lines of a body that holds at least one non-blank line."""
        data = np.frombuffer(body, dtype=np.uint8)
        breaks = np.flatnonzero(data == ord("\n"))
        starts = np.concatenate([[0], breaks + 1])
        ends = np.concatenate([breaks, [len(body)]])
        first = data[np.minimum(starts, len(body) - 1)]
        # a line that starts with "{" is not blank; the few others are looked at one by one
        maybe = np.flatnonzero((starts == ends) | (first != ord("{")))
        blank = [i for i in maybe.tolist() if not body[starts[i]:ends[i]].strip()]
        keep = np.ones(len(starts), dtype=bool)
        keep[blank] = False
        return cls(body, starts[keep], ends[keep], np.flatnonzero(keep) + 1)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> bytes:
        return self.body[self.starts[i]:self.ends[i]]

    def unbraced(self) -> np.ndarray:
        """Lines not starting with "{" (a top-level null crashes Arrow's reader as a first row
        and reads as a row of nulls elsewhere)."""
        return np.flatnonzero(np.frombuffer(self.body, dtype=np.uint8)[self.starts]
                              != ord("{"))

    def payloads(self) -> pa.LargeBinaryArray:
        """Each line as received (with the newline and any blank lines after it), no copy."""
        offsets = np.concatenate([self.starts, [len(self.body)]])
        return pa.Array.from_buffers(pa.large_binary(), len(self), [
            None, pa.py_buffer(offsets), pa.py_buffer(self.body)])


class _Text:
    """The lines as Arrow reads them: one per line, the `strict` ones replaced by "{}"."""

    WINDOW = 1000

    def __init__(self, lines: Lines, strict: np.ndarray) -> None:
        n = len(lines)
        replaced = np.zeros(n, dtype=bool)
        replaced[strict] = True
        # pieces of the body that go through unchanged: runs of kept, adjacent lines
        starts_piece = np.ones(n, dtype=bool)
        starts_piece[1:] = ((lines.starts[1:] != lines.ends[:-1] + 1)
                            | replaced[1:] | replaced[:-1])
        firsts = np.flatnonzero(starts_piece)
        lasts = np.append(firsts[1:] - 1, n - 1)
        if len(firsts) == 1 and not replaced[0]:
            self.text, self.span = lines.body, (int(lines.starts[0]), int(lines.ends[-1]))
        else:
            body = memoryview(lines.body)
            self.text = b"\n".join([
                _PLACEHOLDER if replaced[a] else body[lines.starts[a]:lines.ends[b]]
                for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True)])
            self.span = (0, len(self.text))
        self.data = pa.py_buffer(self.text).slice(self.span[0], self.span[1] - self.span[0])
        sizes = np.where(replaced, len(_PLACEHOLDER), lines.ends - lines.starts) + 1
        self.starts = np.concatenate([[0], np.cumsum(sizes)])

    def __len__(self) -> int:
        return len(self.starts) - 1

    def read(self) -> pa.Table | None:
        """All lines in one call, or None if Arrow refuses them."""
        try:
            table = pj.read_json(pa.BufferReader(self.data), read_options=_BLOCKS,
                                 parse_options=_PARSE)
        except pa.ArrowException:
            return None
        return table if table.num_rows == len(self) else None

    def read_in_windows(self) -> tuple[pa.Table, np.ndarray]:
        """Rows for all lines (the refused ones null) and the refused lines."""
        read: list[tuple[int, pa.Table]] = []
        refused: list[int] = []
        self._split(0, len(self), read, refused)
        where = np.full(len(self), -1)
        done = 0
        for first, table in read:
            where[first:first + table.num_rows] = np.arange(done, done + table.num_rows)
            done += table.num_rows
        rows = pa.concat_tables([_READ_AS.empty_table(), *(t for _first, t in read)])
        return rows.take(pa.array(where, mask=where < 0)), np.array(refused, dtype=np.int64)

    def odd_looking(self) -> np.ndarray:
        """Lines whose text shows a known field holding a value of the wrong JSON kind."""
        return np.flatnonzero(pc.match_substring_regex(self.lines(), _ODD_KIND).to_numpy(
            zero_copy_only=False))

    def positions(self, char: bytes) -> np.ndarray:
        """Where `char` occurs in the text, in order."""
        data = np.frombuffer(self.text, dtype=np.uint8)[self.span[0]:self.span[1]]
        return np.flatnonzero(data == ord(char))

    def slices(self, begin: np.ndarray, end: np.ndarray) -> pa.Array:
        """The text from each `begin` to its `end` (exclusive), as strings."""
        if not len(begin):
            return pa.array([], pa.large_string())
        bounds = np.column_stack([begin, end]).ravel()  # every other string is a gap
        spans = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds),
                                                 self.data)
        return spans.take(np.arange(0, len(bounds), 2))

    def lines(self) -> pa.Array:
        """Each line's text as a string array over the text (no copy)."""
        offsets = np.minimum(self.starts, self.data.size)
        return pa.LargeStringArray.from_buffers(len(self), pa.py_buffer(offsets), self.data)

    def _arrow(self, first: int, end: int) -> pa.Table:
        start = int(self.starts[first])
        chunk = self.data.slice(start, int(self.starts[end]) - 1 - start)
        # one block, one thread: the row an error names counts from `first`
        options = pj.ReadOptions(use_threads=False, block_size=chunk.size + 1)
        return pj.read_json(pa.BufferReader(chunk), read_options=options, parse_options=_PARSE)

    def _split(self, first: int, end: int, read: list[tuple[int, pa.Table]],
               refused: list[int]) -> None:
        """Read lines first..end in windows, refusing lines one by one."""
        while first < end:
            stop = min(end, first + self.WINDOW)
            try:
                table = self._arrow(first, stop)
                if table.num_rows == stop - first:
                    read.append((first, table))
                    first = stop
                    continue
                row = None  # a line held two values: find it by halving
            except pa.ArrowException as exc:
                match = _ERROR_ROW.search(str(exc))
                row = int(match.group(1)) if match else None
            if row is None or not 0 <= row < stop - first:
                if stop - first == 1:
                    refused.append(first)
                    first = stop
                    continue
                middle = (first + stop) // 2
                self._split(first, middle, read, refused)
                self._split(middle, stop, read, refused)
                first = stop
                continue
            self._split(first, first + row, read, refused)
            refused.append(first + row)
            first += row + 1


def _whole_numbers(values: pa.ChunkedArray, invalid: np.ndarray, inexact: np.ndarray) -> pa.Array:
    """float64 cells as int64: fractions and non-finite values are flagged, huge ones inexact."""
    numbers = values.to_numpy(zero_copy_only=False)
    present = np.asarray(values.is_valid())
    finite = np.isfinite(numbers)
    inexact |= present & finite & (np.abs(numbers) >= _EXACT_INTS)
    bad = present & ~inexact & ~(finite & (np.floor(numbers) == numbers))
    invalid |= bad
    keep = present & ~bad & ~inexact
    return pa.array(np.where(keep, numbers, 0).astype(np.int64), mask=~keep)


def _competitor_maps(present: np.ndarray, text: _Text, inexact: np.ndarray) -> pa.MapArray:
    """The {"name": price} object of each line whose competitor_prices Arrow saw as an object.

    Read from the text only when it is plain: the line's one nested object (so the one Arrow
    saw), "name": number pairs with unescaped names, no name twice; other rows are marked
    inexact.
    """
    n = len(present)
    opens, closes = text.positions(b"{"), text.positions(b"}")
    first_open = np.searchsorted(opens, text.starts)  # the first "{" of each line
    plain = present & (np.diff(first_open) == 2)  # its own and the object's
    rows = np.flatnonzero(plain)
    begin = opens[first_open[rows] + 1] + 1
    inner = pc.utf8_trim_whitespace(text.slices(begin, closes[np.searchsorted(closes, begin)]))
    empty = pc.equal(inner, "")
    pairs = pc.split_pattern(pc.if_else(empty, pa.scalar(None, inner.type), inner), ",")
    parents = rows[pc.list_parent_indices(pairs).to_numpy()]
    names, prices = pc.extract_regex(pc.list_flatten(pairs), _NAME_AND_PRICE).flatten()
    names = pc.fill_null(names.cast(pa.string()), "")
    doubtful = np.zeros(n, dtype=bool)
    doubtful[parents[np.asarray(prices.is_null())]] = True
    codes = pc.dictionary_encode(names).indices.to_numpy()
    pair_keys = parents * (codes.max(initial=0) + 1) + codes
    doubtful[parents[~_first_occurrence(pair_keys)]] = True
    inexact |= doubtful | (present & ~plain)
    counts = np.bincount(parents, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(
        pa.array(offsets), names, pc.cast(prices, pa.float64()),
        mask=pa.array(~present))


def _first_occurrence(keys: np.ndarray) -> np.ndarray:
    """True where a key has not appeared before."""
    first = np.zeros(len(keys), dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True
    return first


def _cells(table: pa.Table, text: _Text) -> tuple[pa.Table, np.ndarray]:
    """RECEIVED_SCHEMA cells of the lines (rows aligned with them), and the rows that need the
    strict reader."""
    n = table.num_rows
    invalid = {name: np.zeros(n, dtype=bool) for name in CELL_FIELDS}
    inexact = np.zeros(n, dtype=bool)
    arrays: dict[str, Any] = {name: table[name] for name in STRING_FIELDS}  # chunks are
    for name in FLOAT_FIELDS:  # combined once, at the end
        arrays[name] = columns.null_non_finite(table[name], invalid[name])
    for name in INT_FIELDS:
        arrays[name] = _whole_numbers(table[name], invalid[name], inexact)
    present = np.asarray(table["competitor_prices"].is_valid())
    maps = _competitor_maps(present, text, inexact)
    arrays["competitor_prices"] = columns.null_non_finite_maps(
        maps, invalid["competitor_prices"])
    arrays[ODD_FIELDS] = pa.array(odd_bits(invalid, n), pa.int32())
    arrays[IS_OBJECT] = pa.array(np.ones(n, dtype=bool))
    return pa.table(arrays, schema=RECEIVED_SCHEMA), inexact


def read_ndjson(lines: Lines, decode_line: Callable[[int], Any]) -> ReceivedBatch:
    """The NDJSON `lines` as a batch; `decode_line(i)` decodes line i strictly, or raises for a
    malformed line."""
    strict = lines.unbraced()
    text = _Text(lines, strict)
    table = text.read()
    if table is None:
        strict = np.union1d(strict, text.odd_looking())
        text = _Text(lines, strict)
        table = text.read()
    if table is None:
        table, refused = text.read_in_windows()
        strict = np.union1d(strict, refused)
    cells, inexact = _cells(table, text)
    strict = np.union1d(strict, np.flatnonzero(inexact))
    if len(strict):
        exact = ReceivedBatch.from_objects([decode_line(i) for i in strict.tolist()]).cells
        where = np.arange(len(lines))
        where[strict] = len(lines) + np.arange(len(strict))
        cells = pa.concat_tables([cells, exact]).take(pa.array(where))
    return ReceivedBatch(cells.combine_chunks(), lines.payloads())
