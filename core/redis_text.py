"""Redis answers as text, whichever way the client was built (bytes or decoded responses);
integer replies (from Lua scripts) become their digits, a missing value stays None."""

from __future__ import annotations

from typing import overload


@overload
def as_text(value: None) -> None: ...
@overload
def as_text(value: object) -> str: ...
def as_text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
