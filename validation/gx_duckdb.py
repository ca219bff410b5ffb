"""Great Expectations' SQL engine on DuckDB: four small fixes, and a batch on a DuckDB table.

GX 1.x validates SQL data with ``SqlAlchemyExecutionEngine``; on DuckDB that means SQLAlchemy
with the ``duckdb_engine`` dialect. Out of the box (GX 1.24, duckdb_engine 0.17, DuckDB 2.0,
SQLAlchemy 2.1) four things go wrong. ``activate()`` fixes each of them for the ``duckdb``
dialect only: every replacement hands any other dialect straight to GX's original code.
``tests/validation/test_gx_duckdb.py`` reproduces each problem with its fix left out, so we learn
when GX or duckdb_engine fix it themselves and a fix here can go.

1. Metric queries come back empty (GX issues #10738, #11579).
   ``SqlAlchemyExecutionEngine.execute_query`` (great_expectations/execution_engine/
   sqlalchemy_execution_engine.py) runs the query inside ``with self.get_connection()`` and
   returns the *unread* result; every caller reads it afterwards
   (``resolve_metric_bundle``: ``self.execute_query(q).fetchall()``; the metrics:
   ``.fetchmany()``, ``.scalar()``). Leaving the block closes the SQLAlchemy ``Connection``,
   which rolls back the transaction it began. duckdb_engine's ``Dialect.do_begin`` issues a
   real ``BEGIN`` and ``do_rollback`` a real ``ROLLBACK``, and its ``ConnectionWrapper.cursor()``
   wraps the connection itself, so a "cursor" has no rows of its own: a DuckDB connection
   holds one pending result, and the ROLLBACK discards it. ``fetchall()`` then returns ``[]``
   (with ``NullPool`` it raises "No open result set"); ``resolve_metric_bundle`` fails with
   ``IndexError: list index out of range`` at ``res[0]`` and every expectation reports
   nothing. psycopg2 reads all rows into the cursor at execute time and GX keeps SQLite's one
   connection open for good, which is why the pattern works there. No engine or pool setting
   helps: the rollback comes from ``Connection.close()`` itself, not from the pool's
   reset-on-return (``StaticPool`` and ``pool_reset_on_return=None`` give ``[]`` as well).
   Upstream, PR #11635 only turns the ``IndexError`` into a clearer error; the open PR #12084
   adds a native DuckDB engine without SQLAlchemy, which would make this module unnecessary.
   Fix: for DuckDB, ``execute_query`` reads the rows while the connection is still checked out
   (SQLAlchemy's ``Result.freeze()``) and returns an equivalent buffered ``Result`` (same keys,
   same ``Row`` objects, same ``fetch*``/``scalar`` methods). The query and the rows are GX's
   own; only the moment they are read moves. The cost is that a result is read whole: GX puts a
   LIMIT on the row queries it makes for samples (outside the COMPLETE result format), so the
   one sizeable read is a custom-SQL expectation's sample, which reads its whole query result
   to keep 200 rows.

2. "Regex is not supported for dialect duckdb".
   ``get_dialect_regex_expression`` (great_expectations/expectations/metrics/util.py) maps a
   dialect to its regex SQL through a chain of per-dialect tests with no DuckDB entry. For a
   dialect it does not know, the engine's ``dialect_module`` is ``None`` and the metrics pass
   the dialect *instance*, so each ``issubclass(dialect.dialect, ...)`` test raises
   ``AttributeError``, is skipped, and the function returns ``None``; the regex metrics
   (``column_values_match_regex.py`` and its ``not``/``list`` siblings) then raise
   ``NotImplementedError``. Fix: the DuckDB entry, ``regexp_matches(column, pattern)`` and its
   negation. GX's regex semantics are "the pattern matches somewhere in the value" (pandas
   ``str.contains``, PostgreSQL ``~``, Spark ``rlike``), which is exactly what DuckDB's
   ``regexp_matches`` does; we name the function rather than use an operator so the meaning is
   not left to how DuckDB's parser maps ``~``. DuckDB's regexes are RE2: a pattern RE2 lacks
   (lookaround, backreference) makes DuckDB raise, never answer wrongly. The metric modules
   import the function by name, so the wrapper is bound in each GX module that holds it.

3. Column metadata goes through SQLAlchemy reflection, which does not work on DuckDB.
   Every column expectation needs ``table.columns``, which ``table_column_types.py`` gets from
   ``util.get_sqlalchemy_column_metadata`` via ``execution_engine.get_inspector()``.
   duckdb_engine's reflection is PostgreSQL's catalog SQL: ``Inspector.get_pk_constraint``
   fails with "Type with name REGCLASS does not exist" and ``Inspector.get_columns`` with
   'Referenced table "pg_catalog.pg_collation" not found' (``Table(..., autoload_with=...)``
   stops at the latter). GX catches that and falls back to ``column_reflection_fallback``,
   which queries ``SELECT * FROM <table> LIMIT 1`` *without the schema* (only Redshift gets a
   qualified name), so a table outside ``main`` (``raw_crm_denver.clients``) is "not found"
   and every column expectation on it fails. Fix: for a DuckDB table, the column names and
   their DuckDB type names come from DuckDB's SQL-standard ``information_schema.columns``,
   read with an ordinary query through GX's own ``execute_query``; the Inspector is never
   asked. Query-backed batches keep
   GX's path, which does not reflect.

4. ``unexpected_index_query`` keeps DuckDB's placeholders.
   ``sqlalchemy_select_to_sql_string`` (util.py) inlines bound values by recognising ``?``,
   ``%(name)s`` and ``:name`` placeholders. duckdb_engine uses SQLAlchemy's ``numeric_dollar``
   style (``$1``), which it does not substitute, and its check for leftovers
   (``_check_has_unsubstituted_params``) only looks for ``repr(value)`` anywhere in the text:
   ``1`` is found inside ``$1``, ``2`` inside ``anon_2``. The "query for the failing rows" then
   reads ``WHERE id NOT IN ($1, $2)`` and cannot run. Fix: for DuckDB, compile with
   ``literal_binds`` -- what GX's own fallback (``_fallback_to_literal_binds``) does, without
   the guess. duckdb_engine's PostgreSQL-derived compiler writes standard SQL literals (quotes
   doubled, backslashes kept, timestamps quoted), which DuckDB reads back as the same values.

5. A column named like a DuckDB keyword of the ``type_function`` kind (``at``, ``left``,
   ``similar`` …) is written bare. duckdb_engine quotes the keywords DuckDB calls ``reserved``
   (``order``, ``from``), but DuckDB takes none of its ``type_function`` keywords as a bare column
   name either, so GX's ``SELECT at AS unexpected_values …`` is a syntax error and the
   expectation fails to run. Fix: those keywords are quoted too.

``duckdb_batch`` returns a GX batch on one DuckDB table through GX's ordinary SQL data source,
``read_only`` by default. DuckDB allows one configuration per database file in a process and
duckdb_engine's connections carry their own, so ``close(context)`` must release them before
anything else in the process opens that file.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from duckdb_engine import DuckDBIdentifierPreparer
from great_expectations.data_context import AbstractDataContext
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.datasource.fluent.interfaces import Batch
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.metrics import util as gx_metrics_util

DIALECT = "duckdb"
BATCH_DEFINITION = "whole_table"
_FIXED = "_kpiboard_gx_duckdb_fix"  # marks a replacement, so applying a fix twice is a no-op

_TABLE_SQL = """
SELECT count(*)
FROM information_schema.tables
WHERE table_catalog = current_database() AND table_schema = :schema AND table_name = :table
"""
_COLUMNS_SQL = """
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_catalog = current_database()
  AND table_schema = coalesce(:schema, current_schema())
  AND table_name = :table
ORDER BY ordinal_position
"""


class MissingTableError(LookupError):
    """The DuckDB file has no such table (or view)."""

    def __init__(self, database: Path, schema: str, table: str) -> None:
        super().__init__(f"{database}: no table {schema}.{table}")
        self.database = database
        self.schema = schema
        self.table = table


def _buffered_execute_query(original: Callable[..., Any]) -> Callable[..., Any]:
    def execute_query(self: SqlAlchemyExecutionEngine, query: Any) -> Any:
        if self.dialect_name != DIALECT:
            return original(self, query)
        with self.get_connection() as connection:
            result = connection.execute(query)
            return result.freeze()() if result.returns_rows else result

    return execute_query


def _duckdb_regex_expression(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_dialect_regex_expression(
        column: Any, regex: str, dialect: Any, positive: bool = True
    ) -> Any:
        if getattr(dialect, "name", None) != DIALECT:
            return original(column, regex, dialect, positive)
        matches = sa.func.regexp_matches(column, sa.literal(regex))
        return matches if positive else sa.not_(matches)

    return get_dialect_regex_expression


def _catalog_column_metadata(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_sqlalchemy_column_metadata(
        execution_engine: SqlAlchemyExecutionEngine,
        table_selectable: Any,
        schema_name: str | None = None,
    ) -> Any:
        if execution_engine.dialect_name != DIALECT or not isinstance(table_selectable, str):
            return original(execution_engine, table_selectable, schema_name)
        query = sa.text(_COLUMNS_SQL).bindparams(schema=schema_name, table=str(table_selectable))
        rows = execution_engine.execute_query(query).fetchall()
        return [{"name": name, "type": type_name, "primary_key": False} for name, type_name in rows]

    return get_sqlalchemy_column_metadata


def _literal_select_string(original: Callable[..., Any]) -> Callable[..., Any]:
    def sqlalchemy_select_to_sql_string(
        engine: SqlAlchemyExecutionEngine, select_statement: Any
    ) -> str:
        if engine.dialect_name != DIALECT:
            return str(original(engine, select_statement))
        compiled = select_statement.compile(engine.engine, compile_kwargs={"literal_binds": True})
        return f"{compiled};"

    return sqlalchemy_select_to_sql_string


def _quoted_keywords(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, dialect: Any, **kwargs: Any) -> None:
        original(self, dialect, **kwargs)
        self.reserved_words.update(_type_function_keywords())

    return __init__


@functools.cache
def _type_function_keywords() -> frozenset[str]:
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'type_function'"
        ).fetchall()
    return frozenset(name for (name,) in rows)


def _replace_method(cls: type, name: str, make: Callable[[Any], Any]) -> None:
    original = getattr(cls, name)
    if getattr(original, _FIXED, False):
        return
    replacement = functools.wraps(original)(make(original))
    setattr(replacement, _FIXED, True)
    setattr(cls, name, replacement)


def _replace_function(name: str, make: Callable[[Any], Any]) -> None:
    """Replace GX's metrics-util function ``name`` in every loaded GX module that imported it."""
    original = getattr(gx_metrics_util, name)
    if getattr(original, _FIXED, False):
        return
    replacement = functools.wraps(original)(make(original))
    setattr(replacement, _FIXED, True)
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("great_expectations.") and vars(module).get(name) is original:
            setattr(module, name, replacement)


FIXES: Mapping[str, Callable[[], None]] = {
    "buffer_results": functools.partial(
        _replace_method, SqlAlchemyExecutionEngine, "execute_query", _buffered_execute_query
    ),
    "regex": functools.partial(
        _replace_function, "get_dialect_regex_expression", _duckdb_regex_expression
    ),
    "column_metadata": functools.partial(
        _replace_function, "get_sqlalchemy_column_metadata", _catalog_column_metadata
    ),
    "index_query_literals": functools.partial(
        _replace_function, "sqlalchemy_select_to_sql_string", _literal_select_string
    ),
    "keyword_columns": functools.partial(
        _replace_method, DuckDBIdentifierPreparer, "__init__", _quoted_keywords
    ),
}
"""Each fix by name, in the order of the module docstring; ``activate()`` applies them all."""


def activate() -> None:
    """Make GX's SQL engine give correct results on DuckDB (see the module docstring).

    Idempotent, and without effect on any other dialect. ``duckdb_batch`` calls it.
    """
    for apply in FIXES.values():
        apply()


def duckdb_batch(
    context: AbstractDataContext,
    database: Path | str,
    schema: str,
    table: str,
    *,
    read_only: bool = True,
) -> Batch:
    """A GX batch on the whole table ``schema.table`` of the DuckDB file ``database``.

    Expectations validated on it run as SQL inside DuckDB. The data source (one per file and
    mode) and the table asset are added to ``context`` on first use and reused after. Raises
    ``FileNotFoundError`` or ``MissingTableError`` when there is nothing to validate (GX's own
    check would blame a missing schema, since it lists schemas by reflection).
    """
    activate()
    path = Path(database).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no DuckDB database at {path}")
    source = _data_source(context, path, read_only=read_only)
    asset_name = f"{schema}.{table}"
    if asset_name in {asset.name for asset in source.assets}:
        asset = source.get_asset(asset_name)
    else:
        with source.get_engine().connect() as connection:
            found = connection.execute(sa.text(_TABLE_SQL), {"schema": schema, "table": table})
            if not found.scalar():
                raise MissingTableError(path, schema, table)
        with warnings.catch_warnings():
            # GX 1.14 deprecated schema_name for a schema in the data source's connection
            # configuration, which the generic SQL data source does not have: it is the only way
            # to name a DuckDB schema. If GX removes it, the tests on other schemas fail here.
            warnings.filterwarnings("ignore", "`schema_name` is deprecated", DeprecationWarning)
            asset = source.add_table_asset(name=asset_name, table_name=table, schema_name=schema)
    if BATCH_DEFINITION in {definition.name for definition in asset.batch_definitions}:
        definition = asset.get_batch_definition(BATCH_DEFINITION)
    else:
        definition = asset.add_batch_definition_whole_table(BATCH_DEFINITION)
    return definition.get_batch()


def close(context: AbstractDataContext) -> None:
    """Close every DuckDB connection the data sources of ``context`` hold."""
    for source in context.data_sources.all().values():
        if isinstance(source, SQLDatasource) and str(source.connection_string).startswith(
            f"{DIALECT}:"
        ):
            source.get_execution_engine().close()
            source.get_engine().dispose()


def _data_source(context: AbstractDataContext, path: Path, *, read_only: bool) -> SQLDatasource:
    name = f"{DIALECT}:{path}" + ("" if read_only else ":read_write")
    existing = context.data_sources.all().get(name)
    if isinstance(existing, SQLDatasource):
        return existing
    # duckdb_engine hands the URL's query to duckdb.connect() as configuration
    url = sa.engine.URL.create(
        DIALECT,
        database=str(path),
        query={"access_mode": "read_only" if read_only else "automatic"},
    )
    return context.data_sources.add_sql(name=name, connection_string=url.render_as_string())
