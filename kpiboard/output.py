"""Printing rows the way every kpiboard command does: ``--format table|csv|json``."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO

from rich.cells import cell_len, set_cell_size
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def emit(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` (dicts with the same keys) as a table, CSV or a JSON array."""
    stream = out or sys.stdout
    names = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.json:
        json.dump([{k: _plain(r.get(k)) for k in names} for r in rows], stream, indent=2)
        stream.write("\n")
    elif fmt is Format.csv:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_plain(r.get(k)) for k in names] for r in rows)
    else:
        _emit_table(rows, names, title, Console(file=stream, soft_wrap=True))


def _emit_table(
    rows: Sequence[dict[str, Any]], names: Sequence[str], title: str | None, console: Console
) -> None:
    """:func:`emit`'s table. The first column names the row (an id) and a number is read
    whole, so neither is ever split over two lines; the other columns wrap, between words
    where they can, down to :data:`WRAP_MIN` characters. A table that cannot fit so prints
    each row as a block of ``name: value`` lines, nothing cut."""
    cells = [{name: _cell(r.get(name)) for name in names} for r in rows]
    numeric = {
        name: bool(rows) and all(isinstance(r.get(name), int | float | Decimal) for r in rows)
        for name in names
    }
    widest = {name: max([cell_len(name), *(cell_len(c[name]) for c in cells)]) for name in names}
    whole = {name: numeric[name] or i == 0 for i, name in enumerate(names)}
    least = sum(widest[n] if whole[n] else min(widest[n], WRAP_MIN) for n in names)
    if names and least + 3 * len(names) + 1 > console.width:
        print_vertical(cells, names, dict.fromkeys(names, PERIOD), title=title, console=console)
        return
    table = Table(title=title, title_justify="left")
    for name in names:
        table.add_column(
            name,
            justify="right" if numeric[name] else "left",
            overflow="fold",
            no_wrap=whole[name],
            min_width=widest[name] if whole[name] else min(widest[name], WRAP_MIN),
        )
    for row in cells:
        table.add_row(*(row[name] for name in names))
    console.print(table)


WRAP_MIN = 6
"""The narrowest a wrapping column of :func:`emit`'s table gets (its text folds to that)."""

TEXT, NUMBER, PERIOD = "text", "number", "period"
"""Kinds of column for :func:`print_fitted`: text may be cut short, numbers and periods never."""
TEXT_MIN = 6
"""The narrowest a text column is cut to (with its ellipsis), unless its header is wider."""


def print_fitted(
    rows: Sequence[Mapping[str, str]],
    columns: Sequence[str],
    kinds: Mapping[str, str],
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    width: int | None = None,
) -> None:
    """Print ``rows`` (cells already formatted as text) as a table that fits the terminal
    (``width``, default the console's), and never splits a number or a period over two lines.
    ``headers`` gives a column a header other than its name; it may break it over lines
    (``revenue\nplan``).

    Each column is as wide as its widest cell or header. When the table is too wide, text
    columns (``kinds[name] == TEXT``, the default) are cut, the widest first, down to
    :data:`TEXT_MIN` or their header, their cells ending in ``…``; number and period columns
    and headers are never cut. When even that does not fit, each row is printed as a block of
    ``name: value`` lines (:func:`print_vertical`).
    """
    console = Console(file=out or sys.stdout, soft_wrap=True, width=width)
    shown = {name: (headers or {}).get(name, name) for name in columns}
    widths = fit_widths(rows, columns, kinds, console.width, headers=shown)
    if widths is None:
        print_vertical(rows, columns, kinds, title=title, console=console)
        return
    table = Table(title=title, title_justify="left")
    for name, size in zip(columns, widths, strict=True):
        kind = kinds.get(name, TEXT)
        table.add_column(
            shown[name],
            justify="right" if kind == NUMBER else "left",
            width=size,
            no_wrap=True,
            overflow="ellipsis",
        )
    for row in rows:
        table.add_row(*(row.get(name, "") for name in columns))
    console.print(table, markup=False, highlight=False)


def fit_widths(
    rows: Sequence[Mapping[str, str]],
    columns: Sequence[str],
    kinds: Mapping[str, str],
    width: int,
    *,
    headers: Mapping[str, str] | None = None,
) -> list[int] | None:
    """Each column's width for a table of ``rows`` no wider than ``width`` (a rich table's
    edges and padding take 3 characters a column and 1 more), text columns cut first; ``None``
    when even the narrowest table is wider. A header (``headers``, default the name) is never
    cut: a column is as wide as its header's longest line at least."""
    heads = [
        max(cell_len(part) for part in (headers or {}).get(name, name).split("\n"))
        for name in columns
    ]
    natural = [
        max([head, *(cell_len(row.get(name, "")) for row in rows)])
        for name, head in zip(columns, heads, strict=True)
    ]
    narrowest = [
        size if kinds.get(name, TEXT) != TEXT else min(size, max(TEXT_MIN, head))
        for name, size, head in zip(columns, natural, heads, strict=True)
    ]
    room = width - (3 * len(columns) + 1)
    if sum(narrowest) > room:
        return None
    sizes = list(natural)
    while sum(sizes) > room:  # cut the widest text column that can still give
        cut = max((i for i in range(len(sizes)) if sizes[i] > narrowest[i]), key=lambda i: sizes[i])
        sizes[cut] -= 1
    return sizes


def print_vertical(
    rows: Sequence[Mapping[str, str]],
    columns: Sequence[str],
    kinds: Mapping[str, str],
    *,
    title: str | None,
    console: Console,
) -> None:
    """Each row as a block of ``name: value`` lines, a blank line between rows: for a
    terminal too narrow for the table. Text values longer than the line are cut with ``…``;
    numbers and periods never are."""
    if title:
        console.print(title, markup=False, highlight=False)
    key = max((cell_len(name) for name in columns), default=0) + 2
    room = max(console.width - key, TEXT_MIN)
    for number, row in enumerate(rows):
        if number or title:
            console.print("", markup=False)
        for name in columns:
            value = row.get(name, "")
            if kinds.get(name, TEXT) == TEXT and cell_len(value) > room:
                value = set_cell_size(value, room - 1) + "…"
            console.print(f"{name + ':':<{key}}{value}".rstrip(), markup=False, highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(_plain(value))
