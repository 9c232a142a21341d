"""Mergeable group-by aggregates: sums, minima and maxima per key, computed per block with
pyarrow and combined by aggregating the partials again with the same operations.

Keys may be dictionary-encoded: grouping on the indices is several times faster than on
strings. Partials keep them so, and combining unifies the dictionaries of the blocks first;
`plain` decodes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Rollup:
    """Which columns to sum, take the minimum and the maximum of, per `keys`."""

    keys: tuple[str, ...]
    sums: tuple[str, ...] = ()
    mins: tuple[str, ...] = ()
    maxs: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys + self.sums + self.mins + self.maxs

    def partial(self, table: pa.Table) -> pa.Table:
        """Aggregate `table` (which holds every column named here) per key."""
        ops = ([(c, "sum") for c in self.sums] + [(c, "min") for c in self.mins]
               + [(c, "max") for c in self.maxs])
        out = table.select(list(self.columns)).unify_dictionaries().group_by(
            list(self.keys), use_threads=False).aggregate(ops)
        names = {f"{column}_{op}": column for column, op in ops}
        return out.rename_columns([names.get(c, c) for c in out.column_names]).select(
            list(self.columns))

    def combine(self, partials: Sequence[pa.Table]) -> pa.Table:
        """Merge partials of this rollup (or of a finer one: extra keys are summed away)."""
        return self.partial(pa.concat_tables([p.select(list(self.columns)) for p in partials]))



def plain(table: pa.Table) -> pa.Table:
    """`table` with its dictionary-encoded columns decoded to their values."""
    return table.cast(pa.schema([field.with_type(field.type.value_type)
                                 if pa.types.is_dictionary(field.type) else field
                                 for field in table.schema]))
