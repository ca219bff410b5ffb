"""The sandbox: how kpiboard opens the warehouse for SQL a person wrote, and what it lets run.

Everything that reads the published snapshot — ``kpiboard sql``, the KPI engine (whose KPI
expressions, filters and scopes are SQL fragments from the project's files and the command line),
and the report runner — opens it here, by :func:`connect`. Two layers:

**The connection** is what guarantees it. The snapshot opens read-only with DuckDB's outside
world shut (:data:`CONFIG`): no file but the database's own can be read or written (``COPY …
TO``, ``EXPORT DATABASE``, ``read_csv``, ``read_text``, ``glob``, ``ATTACH`` of another file all
fail), no extension is installed or loaded, no persistent secret is read. Then
``lock_configuration`` is set, so that no statement can turn any of it back on (``SET
enable_external_access = true`` fails, and so does every later ``SET``). The time zone is UTC for
the whole database (``SET GLOBAL``, before the lock: DuckDB's ``TimeZone`` belongs to the ICU
extension, which is loaded only once the database has started, so it cannot go in the
configuration), so that every cursor has it: a cursor starts from the database's global
settings, not from its connection's. What a connection is handed back is such a cursor (see
:func:`open_snapshot`).

DuckDB keeps one database instance per file and process, and refuses a second connection to the
same file with another configuration: every read-only connection to a snapshot in a process is
opened here, or the second one fails with "different configuration".

**The statement check** (:func:`check`) says clearly what is refused and why, before DuckDB is
asked. A query is exactly one statement (counted by DuckDB's own parser, the one that runs it),
and DuckDB must call it a ``SELECT``: plain and ``WITH`` queries, ``UNION``, ``VALUES``,
``FROM``-first queries, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE`` (and ``EXPLAIN`` of such a
query, checked as the query itself). Every other statement (``COPY``,
``EXPORT``, ``ATTACH``, ``INSTALL``, ``SET``, ``PRAGMA``, ``CALL``, DDL, DML …) is refused. In a
query, the table functions are the ones that reach outside the tables — and DuckDB's list of them
(``SELECT function_name FROM duckdb_functions() WHERE function_type = 'table'``) mixes readers of
files (``read_*``, ``*_scan``, ``glob``, ``sniff_csv``, ``parquet_*``), runners of SQL given as
text (``query``, ``query_table``, ``json_execute_serialized_sql``), switches of the database's
state (``checkpoint``, ``enable_logging``, ``enable_profiling`` …) with harmless generators and
catalog views. So a query may use only the table functions of :data:`TABLE_FUNCTIONS` (an
allowlist: a function a new DuckDB adds is refused until it is judged). Scalar functions compute
on values, except the few of :data:`REFUSED_FUNCTIONS`. A table named by a path (``FROM
'x.csv'``) is a file too. The names are read from both sqlglot's tree and DuckDB's own
(``json_serialize_sql``), so that a construct one parser reads differently from the other
hides nothing.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from kpiboard.errors import UserError
from kpiboard.yamlnodes import did_you_mean

if TYPE_CHECKING:
    from kpiboard.warehouse import Warehouse

CONFIG: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,
}
"""DuckDB settings a sandboxed database opens with (they must be given at start: a few of them
cannot be changed once the database runs)."""

TIME_ZONE = "UTC"

TABLE_FUNCTIONS = frozenset(
    {
        # generators
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "histogram",
        "histogram_values",
        # the catalog, read-only
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_databases",
        "duckdb_dependencies",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_schemas",
        "duckdb_sequences",
        "duckdb_settings",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
        "pragma_table_info",
        "pragma_show",
        "pragma_version",
        "pragma_database_size",
        "pg_timezone_names",
        "icu_calendar_names",
    }
)
"""The table functions a query may use: they generate rows or read the catalog."""

RUNS_SQL = frozenset({"query", "query_table", "json_execute_serialized_sql"})
"""Table functions that run SQL given to them as text, which the check could not see."""

REFUSED_FUNCTIONS = {
    "json_execute_serialized_sql": "runs SQL given to it as text",
    "write_log": "writes to the database's log",
    "nextval": "changes a sequence",
    "setval": "changes a sequence",
    "setseed": "changes the session's random seed",
    "sleep_ms": "holds the connection doing nothing",
    "pg_sleep": "holds the connection doing nothing",
}
"""Scalar functions a query may not use, and why; every other one computes on its values."""

_READS_FILES = re.compile(r"^(read_|parquet_|sniff_csv$|glob$|.*_scan$)")
_LEADING = r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
"""Blanks and comments before a statement's first word."""
_FIRST_WORD = re.compile(_LEADING + r"([A-Za-z_]+)", re.DOTALL)
_EXPLAIN = re.compile(_LEADING + r"EXPLAIN(?:\s+ANALY[SZ]E)?\b", re.DOTALL | re.IGNORECASE)
_LOCATION = re.compile(r"^LINE (\d+): (.*)\n( *)\^", re.MULTILINE)
_NO_TABLE = re.compile(r'Table with name "?(.+?)"? does not exist')
SUGGESTED = 4
"""At most this many tables are named in a did-you-mean for an unknown table."""


class QueryRefused(UserError):
    """A query the sandbox does not run; the message says why, in one line."""


def open_snapshot(path: Path) -> duckdb.DuckDBPyConnection:
    """A sandboxed, read-only connection to the snapshot file ``path`` (see the module's
    docstring); :func:`connect` is the way in from a warehouse.

    What is returned is a cursor of the connection DuckDB opened: a cursor takes the
    database's global settings (UTC, locked) and no progress bar, while the first connection
    of a plain process gets one turned on that, once the configuration is locked, nobody can
    turn off. The cursor keeps its connection alive; closing it closes the database when it is
    the last one. Raises ``duckdb.IOException`` when the file cannot be opened (the warehouse
    retries a snapshot pruned meanwhile).
    """
    root = duckdb.connect(str(path), read_only=True, config=dict(CONFIG))
    try:
        _lock(root)
        return root.cursor()
    finally:
        del root  # the cursor holds it


def memory() -> duckdb.DuckDBPyConnection:
    """A sandboxed in-memory database, for user-written SQL over frames a caller registers
    (``con.register``), such as a scorecard's bonus formula."""
    root = duckdb.connect(":memory:", config=dict(CONFIG))
    _lock(root)
    return root.cursor()


def connect(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    """THE way to open the published snapshot for SQL a person wrote: ``kpiboard sql``, the KPI
    engine and the report runner all come here. Read-only, outside world shut, configuration
    locked, UTC (the module's docstring says how and why). A caller that needs a scratch
    database of its own attaches one in memory (``ATTACH ':memory:' AS … (READ_WRITE)``), which
    still works once the configuration is locked."""
    return warehouse.connect()


def _lock(root: duckdb.DuckDBPyConnection) -> None:
    """Set the database up and lock its configuration, unless another connection of the
    process to the same file already did."""
    if not _locked(root):
        try:
            root.execute(f"SET GLOBAL TimeZone = '{TIME_ZONE}'")
            root.execute("SET lock_configuration = true")
        except duckdb.InvalidInputException:
            if not _locked(root):  # not a thread that locked it between our check and our SET
                raise
    require_sandboxed(root)


def _locked(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    return bool(row and row[0])


def require_sandboxed(con: duckdb.DuckDBPyConnection) -> None:
    """Raise ``RuntimeError`` (a bug, not the user's) unless ``con`` is a sandboxed connection:
    external access off, configuration locked, UTC."""
    row = con.execute(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'),"
        " current_setting('TimeZone')"
    ).fetchone()
    if row != (False, True, TIME_ZONE):
        raise RuntimeError(
            f"not a sandboxed connection (external access, locked, time zone: {row}); "
            "open it with kpiboard.sandbox"
        )


# -- the statement check ----------------------------------------------------------------------


def check(con: duckdb.DuckDBPyConnection, sql: str, *, who: str) -> duckdb.Statement:
    """The one statement of ``sql``, parsed by ``con``'s DuckDB, if it is a query the sandbox
    runs; otherwise :class:`QueryRefused`, whose message starts with ``who`` (``kpiboard
    sql``) and says what is refused and why, or where the syntax error is."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.ParserException as exc:
        raise QueryRefused(f"{who}: {_syntax_error(str(exc), sql)}") from None
    if not statements:
        raise QueryRefused(f"{who}: empty query")
    if len(statements) > 1:
        raise QueryRefused(f"{who}: only one statement is allowed (found {len(statements)})")
    [statement] = statements
    query = statement.query
    if statement.type == duckdb.StatementType.EXPLAIN:
        # EXPLAIN [ANALYZE] runs (or plans) the query it is followed by: that query is checked
        query = _EXPLAIN.sub("", query, count=1)
        check(con, query, who=who)
    elif statement.type == duckdb.StatementType.MULTI and _keyword(statement) == "PIVOT":
        raise QueryRefused(
            f"{who}: PIVOT must list the values it pivots on (PIVOT … ON column IN (…)): "
            "without them DuckDB runs more than one statement"
        )
    elif statement.type != duckdb.StatementType.SELECT:
        raise QueryRefused(f"{who}: {_keyword(statement)} is not allowed: queries are read-only")
    else:
        for problem in _refused(con, query):
            raise QueryRefused(f"{who}: {problem}")
    return statement


def run(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    who: str,
    parameters: dict[str, object] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Check ``sql`` (:func:`check`) and run it on ``con`` with its named ``parameters``
    (``$name``) bound; the cursor with its result. A query DuckDB cannot run (an unknown table,
    a division by zero, a permission the sandbox denies) is :class:`QueryRefused` too, with
    DuckDB's first line."""
    statement = check(con, sql, who=who)
    try:
        if parameters:
            return con.execute(statement.query, parameters)
        return con.execute(statement)
    except duckdb.Error as exc:
        found = _NO_TABLE.search(str(exc)) if isinstance(exc, duckdb.CatalogException) else None
        if found is not None:
            raise QueryRefused(f"{who}: {unknown_table(con, sql, found[1])}") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QueryRefused(f"{who}: query failed: {first}") from None


def unknown_table(con: duckdb.DuckDBPyConnection, sql: str, name: str) -> str:
    """What to say of a table ``name`` the query names and the warehouse lacks, with the
    tables it may have meant: that name in other schemas (``orders`` → ``stg_shop.orders or
    raw_shop.orders``), or the nearest names (``core.fct_invoce`` → ``core.fct_invoice``).
    DuckDB's message drops the schema a query gave when that schema exists, so the query's own
    reference is looked up (the first that names ``name``)."""
    schema = None
    if "." in name:  # DuckDB names the schema when the schema itself does not exist
        schema, name = name.rsplit(".", 1)
        schema = schema.rsplit(".", 1)[-1]
    else:
        schema = _schema_of(con, sql, name)
    tables = [
        (str(s), str(t))
        for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_catalog = current_database() ORDER BY 1, 2"
        ).fetchall()
    ]
    schemas = sorted({s for s, _ in tables})
    written = f"{schema}.{name}" if schema else name
    if schema is not None and schema not in schemas:
        hint = did_you_mean(schema, schemas)
        return f"no schema {schema!r} (in table {written}){hint}" + (
            "" if hint else f" (schemas: {', '.join(schemas)})"
        )
    elsewhere = [f"{s}.{t}" for s, t in tables if t.lower() == name.lower() and s != schema]
    if schema is None:  # the same name in a schema, or else the nearest names anywhere
        same = elsewhere or _nearest(name, tables)
    else:  # the nearest names in that schema, or else the same name in another
        same = _nearest(name, [(s, t) for s, t in tables if s == schema]) or elsewhere
    what = f"no table {written}"
    if not same:
        return f"{what} (`SHOW ALL TABLES` lists the warehouse's tables)"
    same.sort(key=_layer)
    shown = same[:SUGGESTED]
    listed = ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]
    more = f" ({len(same) - SUGGESTED} more schemas have it)" if len(same) > SUGGESTED else ""
    return f"{what} — did you mean {listed}?{more}"


def _nearest(name: str, tables: list[tuple[str, str]]) -> list[str]:
    """``schema.table`` of every table named as the nearest name to ``name`` among ``tables``."""
    near = difflib.get_close_matches(name, sorted({t for _, t in tables}), n=1, cutoff=0.6)
    return [f"{s}.{t}" for s, t in tables if near and t == near[0]]


def _layer(qualified: str) -> tuple[int, str]:
    """The order tables are suggested in: the canonical model, staging, raw copies, others."""
    for rank, prefix in enumerate(("core.", "stg_", "raw_")):
        if qualified.startswith(prefix):
            return rank, qualified
    return 3, qualified


def _schema_of(con: duckdb.DuckDBPyConnection, sql: str, name: str) -> str | None:
    """The schema the query gives for its first reference to table ``name``, if it gives one."""
    row = con.execute("SELECT json_serialize_sql($1)", [sql]).fetchone()
    found: list[str | None] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name") == name:
                found.append(str(node.get("schema_name") or "") or None)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(row[0]) if row and row[0] else {})
    return found[0] if found else None


def _keyword(statement: duckdb.Statement) -> str:
    """What a refused statement is, as its author wrote it: its first word (``INSTALL``,
    ``CHECKPOINT``, ``RESET`` …), or DuckDB's kind of statement when it starts with ``WITH``."""
    found = _FIRST_WORD.match(statement.query)
    first = found[1].upper() if found else ""
    if first in ("", "WITH"):
        return str(statement.type.name)
    return first


def _syntax_error(message: str, sql: str) -> str:
    """DuckDB's parser error as ``syntax error at line L, column C: what``. DuckDB shows the
    line with a caret under the place, cutting a long line to a window marked ``...``."""
    what = message.strip().splitlines()[0].removeprefix("Parser Error: ")
    what = what.removeprefix("syntax error ").strip()
    found = _LOCATION.search(message)
    if found is None:
        return f"syntax error: {what}"
    number, shown, pad = int(found[1]), found[2], len(found[3]) - len(f"LINE {found[1]}: ")
    lines = sql.splitlines() or [""]
    line = lines[min(number, len(lines)) - 1]
    column = pad + 1
    if shown.startswith("..."):
        visible = shown[3:].removesuffix("...")
        start = line.find(visible)
        column = (start if start >= 0 else 0) + pad - 3 + 1
    return f"syntax error at line {number}, column {column}: {what}"


def _refused(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[str]:
    """Why the query ``sql`` may not run, if it may not: the functions and tables it names."""
    tables, functions, paths = _names_duckdb(con, sql)
    more = _names_sqlglot(sql)
    if more is not None:
        tables |= more[0]
        functions |= more[1]
        paths |= more[2]
    for name in sorted(tables - TABLE_FUNCTIONS):
        if _READS_FILES.match(name):
            yield f"{name}() reads files and is not allowed"
        elif name in RUNS_SQL:
            yield f"{name}() runs SQL given to it as text and is not allowed"
        else:
            yield (
                f"{name}() is not allowed: a query may use only table functions that generate"
                " rows (range(), unnest() …) or read the catalog (duckdb_tables() …)"
            )
    for name in sorted(functions & REFUSED_FUNCTIONS.keys()):
        yield f"{name}() {REFUSED_FUNCTIONS[name]} and is not allowed"
    for path in sorted(paths):
        yield f"{path!r} names a file, and queries read only the warehouse's tables"


def _looks_like_a_file(name: str) -> bool:
    """A table name only a file would have: DuckDB reads ``FROM 'x.csv'`` as that file."""
    return any(c in name for c in "./\\:")


def _names_duckdb(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[set[str], set[str], set[str]]:
    """Table functions, scalar functions and file-like table names in DuckDB's own parse tree
    of the query (``json_serialize_sql``)."""
    row = con.execute("SELECT json_serialize_sql($1)", [sql]).fetchone()
    tree = json.loads(row[0]) if row and row[0] else {}
    tables: set[str] = set()
    functions: set[str] = set()
    paths: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
                tables.add(str(node["function"].get("function_name", "")).lower())
                walk(node["function"].get("children"))
                return
            if node.get("class") == "FUNCTION" and "function_name" in node:
                functions.add(str(node["function_name"]).lower())
            if kind == "BASE_TABLE" and _looks_like_a_file(str(node.get("table_name", ""))):
                paths.add(str(node["table_name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree.get("statements", []))
    return tables, functions, paths


def _names_sqlglot(sql: str) -> tuple[set[str], set[str], set[str]] | None:
    """The same names read off sqlglot's tree (DuckDB dialect); ``None`` when sqlglot cannot
    parse what DuckDB can (DuckDB's tree is then the one read)."""
    try:
        trees = sqlglot.parse(sql, read="duckdb")
    except SqlglotError:
        return None
    tables: set[str] = set()
    functions: set[str] = set()
    paths: set[str] = set()
    for tree in trees:
        if tree is None:
            continue
        for table in tree.find_all(exp.Table):
            if isinstance(table.this, exp.Func):
                tables.add(_function_name(table.this))
            elif _looks_like_a_file(table.name):
                paths.add(table.name)
        for function in tree.find_all(exp.Func):
            if not isinstance(function.parent, exp.Table):
                functions.add(_function_name(function))
    return tables, functions, paths


def _function_name(function: exp.Func) -> str:
    if isinstance(function, exp.Anonymous):
        return str(function.name).lower()
    return function.sql_name().lower()
