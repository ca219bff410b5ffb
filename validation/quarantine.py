"""Quarantine: rows that failed a ``warn`` expectation, kept aside with the reason.

Quarantined rows stay in ``raw_<source>.<table>`` (nothing is lost, and the source still
reconciles) and are listed in ``quarantine.<table>``. What the ``stg_`` views (and so every
model) then see depends on the hold:

- **row** (the default): the row is left out of the ``stg_`` views;
- **value** (``hold: value``): the row goes on, with the ``withheld`` columns null — a client
  with a mistyped phone number keeps its invoices.

A document (an invoice) is held whole: when it or one of its parts (``part_of``: its lines, its
payments) is held by row, or a part's document is missing, the document and every part are held,
each listed with the expectation ``<table>:held_with_document`` and, as offending values, the
document and the original failure (:func:`hold_documents`). Each validation run re-examines the
live raw rows of the tables it validates, so the quarantine describes the current data: a row
fixed at the source leaves it on the next run, and its document with it.

    quarantine.<table>
      run_id, source, row_key   which row (its key as text, parts joined by '|')
      expectation, severity     why: the failed expectation's id
      offending                 the offending values, as JSON text
      quarantined_at
      hold                      'row' (left out of core) or 'value' (let in, values withheld)
      withheld                  the columns a value hold sets to null

A row is named by one key per table, whatever a run validates (:func:`row_keys`): the raw
suite's ``key``, else the source table's primary key as the last sync recorded it in
``_kpiboard.primary_keys``, else every column the source has. Every run that rebuilds ``core``
leaves out every row the quarantine holds by row, matched by that key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb

from etl.load import LOAD_COLUMNS, META_SCHEMA
from validation.suite import Suite

SCHEMA = "quarantine"
KEY_SEPARATOR = "|"
PRIMARY_KEYS = f"{META_SCHEMA}.primary_keys"
INVALID_COLUMN = "_invalid"
"""The load column saying why a raw row's source values did not convert (NULL: they did)."""
TYPE_CONVERSION = "type_conversion"
"""The expectation name under which rows that did not convert are quarantined."""
_NOT_KEY = {name for name, _ in LOAD_COLUMNS} | {INVALID_COLUMN}
ROW, VALUE = "row", "value"
HELD_WITH_DOCUMENT = "held_with_document"
"""The expectation name of rows held because their document is (``<table>:held_with_document``)."""


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def key_expression(columns: Sequence[str], alias: str | None = None) -> str:
    """SQL for a row's key as text: the primary-key columns cast and joined by ``|``."""
    prefix = f"{q(alias)}." if alias else ""
    parts = [f"coalesce(CAST({prefix}{q(c)} AS VARCHAR), '')" for c in columns]
    return parts[0] if len(parts) == 1 else f" || '{KEY_SEPARATOR}' || ".join(parts)


def ensure_table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Create ``quarantine.<table>`` if needed; return its qualified name."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    name = f"{SCHEMA}.{q(table)}"
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {name} (
            run_id VARCHAR NOT NULL, source VARCHAR NOT NULL, row_key VARCHAR NOT NULL,
            expectation VARCHAR NOT NULL, severity VARCHAR NOT NULL, offending VARCHAR,
            quarantined_at TIMESTAMP NOT NULL, hold VARCHAR NOT NULL DEFAULT 'row',
            withheld VARCHAR[])"""
    )
    # a warehouse from before holds: its rows were all held by row
    con.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS hold VARCHAR DEFAULT 'row'")
    con.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS withheld VARCHAR[]")
    return name


def clear(con: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """Forget a source table's quarantine before it is validated again."""
    name = ensure_table(con, table)
    con.execute(f"DELETE FROM {name} WHERE source = ?", [source])


def add(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    source: str | None,
    table: str,
    expectation: str,
    severity: str,
    failing_rows_sql: str,
    key: Sequence[str],
    offending: Sequence[str],
    hold: str = ROW,
    withheld: Sequence[str] = (),
) -> int:
    """Quarantine the rows ``failing_rows_sql`` returns (it must return the ``key`` columns and
    the ``offending`` value columns, and ``_source`` when ``source`` is ``None``: rows of a
    source group name their own source); return how many rows were added. ``hold`` is ``row``
    or ``value``; a value hold withholds the ``withheld`` columns of those rows."""
    name = ensure_table(con, table)
    values = ", ".join(f"{q(c)} := f.{q(c)}" for c in offending) if offending else ""
    offending_json = f"CAST(struct_pack({values}) AS JSON)" if values else "NULL"
    origin = "f._source" if source is None else "'" + source.replace("'", "''") + "'"
    before = _count(con, name)
    columns = "run_id, source, row_key, expectation, severity, offending, quarantined_at"
    con.execute(
        f"""INSERT INTO {name} ({columns}, hold, withheld)
            SELECT DISTINCT ?, {origin}, {key_expression(key, "f")}, ?, ?,
                   CAST({offending_json} AS VARCHAR), ?, ?, ?
            FROM ({failing_rows_sql}) f""",
        [
            run_id,
            expectation,
            severity,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            hold,
            list(withheld) if hold == VALUE else None,
        ],
    )
    return _count(con, name) - before


def excluded(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``quarantine.<table>`` exists (so staging views must leave its rows out)."""
    return _exists(con, SCHEMA, table)


def rows_held(con: duckdb.DuckDBPyConnection, source: str, table: str) -> int:
    """How many of a source table's rows are held out of core (held by row; a row whose values
    are withheld goes on and is counted as passed)."""
    name = ensure_table(con, table)
    row = con.execute(
        f"SELECT count(DISTINCT row_key) FROM {name} WHERE source = ? AND hold = '{ROW}'",
        [source],
    ).fetchone()
    return int(row[0]) if row else 0


def exclusion_predicate(source: str, table: str, key: Sequence[str], alias: str = "r") -> str:
    """``NOT EXISTS`` condition leaving a source's rows held by row out of a staging view."""
    literal = _literal(source)
    return (
        f"NOT EXISTS (SELECT 1 FROM {SCHEMA}.{q(table)} qr WHERE qr.source = {literal} "
        f"AND qr.hold = '{ROW}' AND qr.row_key = {key_expression(key, alias)})"
    )


def clear_all(con: duckdb.DuckDBPyConnection) -> None:
    """Empty every quarantine table: a run validating every suite describes the data anew, so
    rows held by a suite since removed or a table since dropped are held no longer."""
    for table in _quarantine_tables(con):
        con.execute(f"DELETE FROM {SCHEMA}.{q(table)}")


def remember_primary_keys(
    con: duckdb.DuckDBPyConnection, keys: Mapping[tuple[str, str], Sequence[str]]
) -> None:
    """Record each source table's primary key, by ``(source, table)``, as the sources declared
    it at extraction; a run that only validates again names rows by it (:func:`row_keys`)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {PRIMARY_KEYS} (
            source VARCHAR, "table" VARCHAR, key VARCHAR[], PRIMARY KEY (source, "table"))"""
    )
    for (source, table), key in sorted(keys.items()):
        con.execute(
            f"INSERT OR REPLACE INTO {PRIMARY_KEYS} VALUES (?, ?, ?)", [source, table, list(key)]
        )


def row_keys(
    con: duckdb.DuckDBPyConnection,
    raw: Iterable[tuple[str, str, str]],
    suites: Sequence[Suite],
) -> dict[str, tuple[str, ...]]:
    """The columns naming a row of each raw table reference, for quarantine (without
    ``_source``): the raw suite's ``key``; else the primary key the last sync recorded for the
    table (the first member's, for a group); else every column the source has.

    ``raw`` lists ``(source, reference, table)`` for every raw table in the warehouse
    (``("crm_denver", "crm.clients", "clients")``). The result depends only on the suite files
    and the warehouse, never on which suites a run validates.
    """
    declared = {s.table: s.key for s in suites if s.layer == "raw" and s.key}
    stored: dict[tuple[str, str], tuple[str, ...]] = {}
    if _exists(con, META_SCHEMA, "primary_keys"):
        for source, table, key in con.execute(
            f'SELECT source, "table", key FROM {PRIMARY_KEYS}'
        ).fetchall():
            stored[(str(source), str(table))] = tuple(key or ())
    keys: dict[str, tuple[str, ...]] = {}
    for source, reference, table in raw:
        if reference in keys:
            continue
        key = declared.get(reference) or stored.get((source, table))
        if not key:
            columns = con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [f"raw_{source}", table],
            ).fetchall()
            key = tuple(str(c) for (c,) in columns if c not in _NOT_KEY)
        keys[reference] = tuple(c for c in key if c != "_source")
    return keys


def has_invalid_column(con: duckdb.DuckDBPyConnection, source: str, table: str) -> bool:
    """Whether ``raw_<source>.<table>`` has the ``_invalid`` load column (older raw tables
    were loaded without it)."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND column_name = ?",
        [f"raw_{source}", table, INVALID_COLUMN],
    ).fetchone()
    return bool(row and row[0])


def clear_expectation(
    con: duckdb.DuckDBPyConnection, source: str, table: str, expectation: str
) -> None:
    """Forget one expectation's rows of a source table, before it is checked again."""
    if _exists(con, SCHEMA, table):
        con.execute(
            f"DELETE FROM {SCHEMA}.{q(table)} WHERE source = ? AND expectation = ?",
            [source, expectation],
        )


ALL_ROWS = "validation.quarantined"
"""A view of every quarantine table's rows, each with its ``table_name``: what reads the whole
quarantine (the data-quality reports) reads it here, whichever raw tables a project has."""


def refresh_all_rows(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create :data:`ALL_ROWS` over the quarantine tables there are now."""
    con.execute("CREATE SCHEMA IF NOT EXISTS validation")
    columns = (
        "CAST(NULL AS VARCHAR) AS table_name, CAST(NULL AS VARCHAR) AS run_id, "
        "CAST(NULL AS VARCHAR) AS source, CAST(NULL AS VARCHAR) AS row_key, "
        "CAST(NULL AS VARCHAR) AS expectation, CAST(NULL AS VARCHAR) AS severity, "
        "CAST(NULL AS VARCHAR) AS offending, CAST(NULL AS TIMESTAMP) AS quarantined_at, "
        "CAST(NULL AS VARCHAR) AS hold, CAST(NULL AS VARCHAR[]) AS withheld"
    )
    parts = [f"SELECT {columns} WHERE false"]  # the columns, even with no quarantine yet
    tables = sorted(_quarantine_tables(con))
    lacking = {
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = ?"
            " GROUP BY table_name HAVING count(*) FILTER (column_name = 'withheld') = 0",
            [SCHEMA],
        ).fetchall()
    }
    for table in tables:
        if table in lacking:
            ensure_table(con, table)  # a table from before holds gains their columns
        parts.append(
            f"SELECT {_literal(table)} AS table_name, run_id, source, row_key, expectation,"
            f" severity, offending, quarantined_at, hold, withheld FROM {SCHEMA}.{q(table)}"
        )
    con.execute(f"CREATE OR REPLACE VIEW {ALL_ROWS} AS {' UNION ALL '.join(parts)}")


def _quarantine_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [SCHEMA]
    ).fetchall()
    return [str(r[0]) for r in rows]


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def withheld_values(
    con: duckdb.DuckDBPyConnection, source: str, table: str, key: Sequence[str], alias: str = "r"
) -> dict[str, str]:
    """For each column of a source's table that a value hold withholds in some row: the SQL
    expression (on the raw row ``alias``) that is null in those rows and the value elsewhere.
    The staging views select these in place of the columns."""
    if not excluded(con, table):
        return {}
    name = f"{SCHEMA}.{q(table)}"
    columns = con.execute(
        f"SELECT DISTINCT unnest(withheld) FROM {name} WHERE source = ? AND hold = '{VALUE}' "
        "ORDER BY 1",
        [source],
    ).fetchall()
    out = {}
    for (column,) in columns:
        held = (
            f"EXISTS (SELECT 1 FROM {name} qv WHERE qv.source = {_literal(source)} "
            f"AND qv.hold = '{VALUE}' AND qv.row_key = {key_expression(key, alias)} "
            f"AND list_contains(qv.withheld, {_literal(str(column))}))"
        )
        out[str(column)] = f"CASE WHEN {held} THEN NULL ELSE {q(alias)}.{q(str(column))} END"
    return out


@dataclass(frozen=True)
class Part:
    """A table whose rows are parts of documents (a suite's ``part_of``): its quarantine table,
    the relation of its live rows (with ``_source``), its key, and the columns naming the
    document."""

    table: str
    relation: str
    key: tuple[str, ...]
    document_key: tuple[str, ...]
    expectation: str  # '<suite table>:held_with_document'


@dataclass(frozen=True)
class Document:
    """A table of documents and the tables of their parts. ``relation`` holds its live rows,
    ``history`` those deleted at the source too (to tell a deleted document from a missing one).
    """

    table: str
    relation: str
    history: str
    key: tuple[str, ...]
    expectation: str
    parts: tuple[Part, ...]


def hold_documents(
    con: duckdb.DuckDBPyConnection, run_id: str, documents: Sequence[Document]
) -> dict[str, int]:
    """Hold every document that is held or has a held part, with all its parts; return the
    rows added per quarantine table.

    A document is held when its own row is held by row, when one of its parts is, or when a part
    names a document that is not there (deleted at the source, or never was). Every row of it not
    already held by row is added as ``<table>:held_with_document``, its offending values naming
    the document (``crm_denver:30433``) and why (``crm.invoice_items:between_qty``). All of it is
    SQL over the declarations: no code per table. Run after the expectations' own quarantine.
    """
    added: dict[str, int] = {}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for document in documents:
        if not document.parts:
            continue
        for table in (document.table, *(p.table for p in document.parts)):
            ensure_table(con, table)
        held = _held_documents_sql(document)
        members = [(document.table, document.relation, document.key, document.key)]
        members += [(p.table, p.relation, p.key, p.document_key) for p in document.parts]
        expectations = [document.expectation, *(p.expectation for p in document.parts)]
        for (table, relation, key, names_document), expectation in zip(
            members, expectations, strict=True
        ):
            name = ensure_table(con, table)
            before = _count(con, name)
            con.execute(
                f"""INSERT INTO {name}
                    (run_id, source, row_key, expectation, severity, offending, quarantined_at,
                     hold)
                WITH held AS ({held})
                SELECT DISTINCT ?, m._source, {key_expression(key, "m")}, ?, 'warn',
                       CAST(json_object('document', h.source || ':' || h.doc_key,
                                        'because', h.because) AS VARCHAR),
                       ?, '{ROW}'
                FROM {relation} m
                JOIN held h ON h.source = m._source
                    AND h.doc_key = {key_expression(names_document, "m")}
                WHERE NOT EXISTS (
                    SELECT 1 FROM {name} own WHERE own.source = m._source
                        AND own.row_key = {key_expression(key, "m")} AND own.hold = '{ROW}')""",
                [run_id, expectation, now],
            )
            added[table] = added.get(table, 0) + _count(con, name) - before
    return added


def _held_documents_sql(document: Document) -> str:
    """``(source, doc_key, because)``: each held document once, with its reasons."""
    own = f"{SCHEMA}.{q(document.table)}"
    reasons = [
        f"SELECT source, row_key AS doc_key, expectation AS because FROM {own} "
        f"WHERE hold = '{ROW}' AND expectation NOT LIKE '%:{HELD_WITH_DOCUMENT}'"
    ]
    document_key = key_expression(document.key, "d")
    for part in document.parts:
        part_quarantine = f"{SCHEMA}.{q(part.table)}"
        names = key_expression(part.document_key, "p")
        reasons.append(
            f"SELECT p._source, {names}, qp.expectation FROM {part_quarantine} qp "
            f"JOIN {part.relation} p ON p._source = qp.source "
            f"AND qp.row_key = {key_expression(part.key, 'p')} "
            f"WHERE qp.hold = '{ROW}' AND qp.expectation NOT LIKE '%:{HELD_WITH_DOCUMENT}'"
        )
        named = " AND ".join(f"p.{q(c)} IS NOT NULL" for c in part.document_key)
        reasons.append(
            f"SELECT p._source, {names}, CASE WHEN EXISTS (SELECT 1 FROM {document.history} d "
            f"WHERE d._source = p._source AND {document_key} = {names}) "
            f"THEN 'deleted at the source' ELSE 'no such document' END "
            f"FROM {part.relation} p WHERE {named} AND NOT EXISTS (SELECT 1 FROM "
            f"{document.relation} d WHERE d._source = p._source AND {document_key} = {names})"
        )
    union = "\nUNION ALL\n".join(reasons)
    return (
        "SELECT source, doc_key, string_agg(DISTINCT because, ', ' ORDER BY because) AS because "
        f"FROM ({union}) r (source, doc_key, because) GROUP BY source, doc_key"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0
