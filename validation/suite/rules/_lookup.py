"""Case-insensitive look-ups of tables and columns, with did-you-mean suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence


def find_table(columns: Mapping[str, Sequence[str]], table: str) -> Sequence[str] | None:
    """The columns of ``table`` (matched without regard to case), or ``None``."""
    lowered = {name.lower(): cols for name, cols in columns.items()}
    return lowered.get(table.lower())


def has_column(names: Sequence[str], column: str) -> bool:
    return column.lower() in {name.lower() for name in names}


def suggest(word: str, options: Sequence[str]) -> str:
    """`` — did you mean 'x'?`` for the closest option, or nothing."""
    close = difflib.get_close_matches(word.lower(), [o.lower() for o in options], n=1, cutoff=0.6)
    if not close:
        return ""
    original = next(o for o in options if o.lower() == close[0])
    return f" — did you mean {original!r}?"
