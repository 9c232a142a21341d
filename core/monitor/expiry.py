"""Pruning by event time without scanning all state: entries kept in last-touched order."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def touch(entries: OrderedDict[K, V], key: K, value: V) -> None:
    """Set `key` and make it the most recently touched."""
    entries[key] = value
    entries.move_to_end(key)


def pop_expired(
    entries: OrderedDict[K, V], horizon: int, newest: Callable[[V], int]
) -> list[tuple[K, V]]:
    """Remove and return the least recently touched entries while their newest time is before
    `horizon`. Rows arrive in time order give or take the allowed lateness, so an expired
    entry waits behind a fresh one at most that long."""
    expired = []
    while entries:
        key, value = next(iter(entries.items()))
        if newest(value) >= horizon:
            break
        entries.popitem(last=False)
        expired.append((key, value))
    return expired
