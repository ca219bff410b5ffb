"""Extraction: a source table's rows as a stream of Arrow record batches.

Reads go through ConnectorX, which speaks PostgreSQL, MySQL/MariaDB and SQLite natively (Rust, no
Python object per row) and streams ``arrow_stream`` batches, so memory is bounded by the batch size
whatever the table's size. The query is built with SQLAlchemy for the source's dialect with the
watermark bound as a literal (ConnectorX takes no parameters; the literal is a timestamp kpiboard
produced, quoted by the dialect's compiler).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import connectorx as cx
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL

from etl.sources import SourceTable, classify
from kpiboard import urls


def connectorx_url(url: URL) -> str:
    """The URL in ConnectorX's spelling: no SQLAlchemy driver suffix, absolute SQLite paths."""
    kind = urls.backend(url)
    if kind == "sqlite":
        return f"sqlite://{url.database}"
    scheme = "postgresql" if kind == "postgresql" else "mysql"
    return url.set(drivername=scheme).render_as_string(hide_password=False)


NULL_FLAG = "__isnull"
"""Suffix of the flag column that carries NULLs for SQLite sources (see :func:`select_sql`)."""


def select_sql(url: URL, table: SourceTable, since: str | None = None) -> str:
    """``SELECT`` of the table's columns, from ``since`` on the incremental column if given.

    SQLite is dynamically typed: one column can hold integers and reals (``70`` next to
    ``1.05``), and Arrow readers infer a column's type from its first rows, so a NULL or an
    integer first breaks them. For SQLite every column is therefore read as text, never NULL,
    beside a 0/1 flag column ``<name>__isnull``; DuckDB casts the text to the declared type
    (:func:`etl.load.cast_expressions`), so values stay exact and NULL stays NULL.
    """
    return _select(url, table, table.column_names, since)


def key_sql(url: URL, table: SourceTable) -> str:
    """``SELECT`` of the primary-key columns only, to find rows deleted at the source."""
    return _select(url, table, list(table.primary_key), None)


def _select(url: URL, table: SourceTable, columns: list[str], since: str | None) -> str:
    dialect = sa.create_engine(url).dialect
    t = sa.table(table.name, *(sa.column(c) for c in table.column_names))
    if urls.backend(url) == "sqlite":
        selected: list[sa.ColumnElement[Any]] = []
        for c in columns:
            text = sa.func.coalesce(sa.cast(t.c[c], sa.Text), sa.literal(""))
            selected += [text.label(c), t.c[c].is_(None).label(c + NULL_FLAG)]
    else:
        selected = [t.c[c] for c in columns]
    query = sa.select(*selected).select_from(t)
    if since is not None and table.incremental:
        query = query.where(t.c[table.incremental] >= sa.literal(since))
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def count_rows(url: URL, table: SourceTable) -> int:
    """The table's row count at the source, for reconciliation."""
    t = sa.table(table.name)
    dialect = sa.create_engine(url).dialect
    sql = str(sa.select(sa.func.count()).select_from(t).compile(dialect=dialect))
    try:
        result: Any = cx.read_sql(connectorx_url(url), sql, return_type="arrow")
    except RuntimeError as exc:
        raise classify(table.source, exc, table.name) from None
    return int(result.column(0)[0].as_py())


def read_batches(
    url: URL, sql: str, *, source: str, table: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Stream the result of ``sql`` as record batches of about ``batch_rows`` rows."""
    try:
        reader: Any = cx.read_sql(
            connectorx_url(url), sql, return_type="arrow_stream", batch_size=batch_rows
        )
        yield from reader
    except RuntimeError as exc:
        raise classify(source, exc, table) from None
