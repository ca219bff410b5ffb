"""The transform step: raw tables → staging views → SQL models → the canonical ``core`` model.

No Python is written per source. A source is mapped into ``core`` by SQL files only:

1. **Staging views**, built by :func:`create_staging_views` before any model runs. For every
   source ``S`` the schema ``stg_S`` holds one view per ``raw_S`` table with the live rows only
   (``_deleted_at IS NULL``), every column, and ``_branch``, the source's branch code (else
   ``[company] branch``: :mod:`etl.company`). For every
   group ``G`` of sources (the branches' CRMs, which share one schema) the schema ``stg_G`` holds
   one view per table: the members' views stacked with ``UNION ALL BY NAME``, told apart by
   ``_source`` and ``_branch``. Models read only ``stg_*`` views and ``core`` tables; the
   staging views are also where the validation stage leaves out quarantined rows and withholds
   quarantined values. Beside each, ``hist_S`` and ``hist_G`` hold the same views with the rows
   deleted at the source kept (their ``_deleted_at`` set): dimensions read them to keep a deleted
   client, employee or product, so that the facts that name it still resolve.
2. **Models** are files ``<models_dir>/<schema>/<table>.sql``, each one ``SELECT`` (CTEs allowed)
   producing the columns of the table it is named after. :func:`load_models` parses them with
   sqlglot, finds what each one reads and orders them so that a model reading ``core.x`` runs after
   the model of ``core.x``.
3. :func:`run_models` checks every model against the warehouse (the tables it reads exist, it
   binds, its columns are the target's), then replaces each target's rows in dependency order,
   all in one transaction: the run succeeds completely or leaves ``core`` as it was.

Every mistake in a model file becomes a :class:`~etl.errors.TransformError` with one located line
per problem, e.g. ``models/core/dim_client.sql:7: syntax error: Expecting ), near 'FROM'``.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokens import TokenType

from etl.errors import ModelProblem, TransformError
from kpiboard.config import SourceSettings
from kpiboard.core_model import CORE_TABLES, FILLED_BY_KPIBOARD

CORE_BY_NAME = {table.name: table for table in CORE_TABLES}

DIALECT = "duckdb"
RAW_PREFIX = "raw_"
STAGING_PREFIX = "stg_"
HISTORY_PREFIX = "hist_"
TARGET_SCHEMA = "core"

DEFAULT_TARGETS: frozenset[str] = frozenset(f"{TARGET_SCHEMA}.{t.name}" for t in CORE_TABLES)
"""The tables models may fill: every table of the canonical model."""

# DuckDB errors that come from what a model says (a wrong column, a bad cast, a duplicate key);
# anything else (out of memory, I/O, an internal error) is not the model's fault and propagates.
_MODEL_ERRORS: tuple[type[duckdb.Error], ...] = (
    duckdb.ProgrammingError,
    duckdb.DataError,
    duckdb.IntegrityError,
    duckdb.NotSupportedError,
)


def quote(identifier: str) -> str:
    """``identifier`` as a DuckDB quoted identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def string_literal(value: str | None) -> str:
    """``value`` as a SQL string literal (``'O''Brien'``), or ``NULL``."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _literal(value: str | None) -> str:
    return f"CAST({string_literal(value)} AS VARCHAR)"


# ---------------------------------------------------------------------------------------------
# Staging views


@dataclass(frozen=True)
class StagingSource:
    """What the staging views of one source are built from: its name, its group and branch from
    ``kpiboard.toml``, and the tables loaded into ``raw_<name>``."""

    name: str
    group: str | None
    branch: str | None
    tables: tuple[str, ...]
    # per table, an extra condition on the raw rows (alias ``r``): the validation stage uses it
    # to leave quarantined rows out
    filters: Mapping[str, str] = field(default_factory=dict)
    # per table, columns selected as an expression of the raw row (alias ``r``) in place of the
    # raw value: the validation stage withholds quarantined values (null in the rows held)
    withheld: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def staging_sources(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[SourceSettings],
    default_branch: str | None = None,
) -> list[StagingSource]:
    """The configured sources with the tables their ``raw_<name>`` schema holds right now.

    A source that has not been loaded yet has no tables, and so no staging views. A source
    without its own ``branch`` gets ``default_branch`` (``[company] branch``), if any.
    """
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema LIKE 'raw\\_%' ESCAPE '\\' ORDER BY table_schema, table_name"
    ).fetchall()
    by_schema: dict[str, list[str]] = {}
    for schema, table in rows:
        by_schema.setdefault(str(schema), []).append(str(table))
    return [
        StagingSource(
            s.name,
            s.group,
            s.branch or default_branch,
            tuple(by_schema.get(RAW_PREFIX + s.name, ())),
        )
        for s in sources
    ]


def source_view_sql(source: StagingSource, table: str, *, history: bool = False) -> str:
    """The ``SELECT`` behind the staging view ``stg_<source>.<table>`` (``hist_…`` with
    ``history``).

    The one place that decides which raw rows models see: the live ones (rows deleted at the
    source keep their ``_deleted_at`` in raw, for history and reconciliation, but are no longer
    facts); with ``history``, those deleted at the source too. The validation stage extends this
    to exclude quarantined rows and to withhold quarantined values.
    """
    raw = f"{quote(RAW_PREFIX + source.name)}.{quote(table)}"
    conditions = [] if history else ['r."_deleted_at" IS NULL']
    if table in source.filters:
        conditions.append(source.filters[table])
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    replaced = source.withheld.get(table, {})
    columns = "r.*"
    if replaced:
        listed = ", ".join(f"{sql} AS {quote(column)}" for column, sql in replaced.items())
        columns = f"r.* REPLACE ({listed})"
    return f'SELECT {columns}, {_literal(source.branch)} AS "_branch" FROM {raw} r{where}'


def create_staging_views(
    con: duckdb.DuckDBPyConnection, sources: Sequence[StagingSource]
) -> list[str]:
    """(Re)create the ``stg_<source>`` and ``stg_<group>`` views, and their ``hist_`` twins
    that keep the rows deleted at the source; return the ``stg_`` views' qualified names.

    Each staging schema is dropped and rebuilt, so a table that left a source leaves no stale view
    behind. A group's view of a table stacks the views of the members that have that table.
    """
    problems = _staging_problems(sources)
    if problems:
        raise TransformError(problems)
    created: list[str] = []
    for prefix in (STAGING_PREFIX, HISTORY_PREFIX):
        made = _create_views(con, sources, prefix)
        if prefix == STAGING_PREFIX:
            created = made
    return created


def _create_views(
    con: duckdb.DuckDBPyConnection, sources: Sequence[StagingSource], prefix: str
) -> list[str]:
    created: list[str] = []
    groups: dict[str, list[StagingSource]] = {}
    for source in sources:
        schema = prefix + source.name
        _recreate_schema(con, schema)
        for table in source.tables:
            view = f"{quote(schema)}.{quote(table)}"
            select = source_view_sql(source, table, history=prefix == HISTORY_PREFIX)
            _create_view(con, view, select, f"{schema}.{table}")
            created.append(f"{schema}.{table}")
        if source.group is not None:
            groups.setdefault(source.group, []).append(source)
    for group, members in groups.items():
        schema = prefix + group
        _recreate_schema(con, schema)
        tables = sorted({table for member in members for table in member.tables})
        for table in tables:
            parts = [
                f"SELECT * FROM {quote(prefix + m.name)}.{quote(table)}"
                for m in members
                if table in m.tables
            ]
            view = f"{quote(schema)}.{quote(table)}"
            _create_view(con, view, "\nUNION ALL BY NAME\n".join(parts), f"{schema}.{table}")
            created.append(f"{schema}.{table}")
    return created


def _staging_problems(sources: Sequence[StagingSource]) -> list[ModelProblem]:
    names = [source.name for source in sources]
    problems = [
        ModelProblem(None, None, f"staging: two sources are named {name!r}")
        for name in sorted({n for n in names if names.count(n) > 1})
    ]
    for group in sorted({s.group for s in sources if s.group is not None}):
        if group in names:
            problems.append(
                ModelProblem(
                    None,
                    None,
                    f"staging: group {group!r} has the name of a source; both would be "
                    f"stg_{group}, so rename one of them",
                )
            )
    return problems


def _recreate_schema(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    con.execute(f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")
    con.execute(f"CREATE SCHEMA {quote(schema)}")


def _create_view(con: duckdb.DuckDBPyConnection, view: str, select: str, shown: str) -> None:
    try:
        con.execute(f"CREATE VIEW {view} AS {select}")
    except _MODEL_ERRORS as exc:
        message = f"staging view {shown}: {_duckdb_message(exc)}"
        raise TransformError([ModelProblem(None, None, message)]) from exc


# ---------------------------------------------------------------------------------------------
# Loading model files


@dataclass(frozen=True)
class Model:
    """One model file: the ``SELECT`` that fills ``<schema>.<name>``.

    ``depends_on`` holds the qualified names (lower case) of every table and view it reads,
    CTE names excluded. ``shown`` is the file's path as messages print it
    (``models/core/dim_client.sql``) and ``references`` where in the file each table is read.
    """

    schema: str
    name: str
    path: Path
    sql: str
    depends_on: frozenset[str]
    shown: str = field(default="", compare=False)
    references: tuple[tuple[str, int | None], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.shown:  # a model built in code rather than loaded: name it by its path
            object.__setattr__(self, "shown", self.path.as_posix())

    @property
    def target(self) -> str:
        """The qualified name of the table the model fills, e.g. ``core.dim_client``."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class ModelRun:
    """What running one model did: ``name`` (qualified), rows written and seconds taken."""

    name: str
    rows: int
    seconds: float


def load_models(models_dir: Path, *, targets: Collection[str] | None = None) -> list[Model]:
    """Read every ``<schema>/<table>.sql`` under ``models_dir``, in the order they must run.

    ``targets`` are the qualified tables a model may fill (by default, the canonical model). Every
    problem of every file is collected before raising one :class:`TransformError`: syntax errors,
    files that are not one ``SELECT``, models for unknown tables, reads of ``raw_*`` tables or of
    tables without a schema, and dependency cycles.
    """
    known = {t.lower() for t in (DEFAULT_TARGETS if targets is None else targets)}
    if not models_dir.is_dir():
        raise TransformError([ModelProblem(str(models_dir), None, "no such models folder")])
    problems: list[ModelProblem] = []
    models: list[Model] = []
    for path in sorted(models_dir.rglob("*.sql")):
        shown = _shown(path, models_dir)
        relative = path.relative_to(models_dir)
        if len(relative.parts) != 2:
            problems.append(
                ModelProblem(
                    shown,
                    None,
                    "a model file goes in <schema>/<table>.sql, e.g. core/dim_client.sql",
                )
            )
            continue
        model, found = _load_model(path, shown, relative.parts[0], path.stem, known)
        problems.extend(found)
        if model is not None:
            models.append(model)
    if not problems:
        try:
            return order_models(models)
        except TransformError as exc:
            problems.extend(exc.problems)
    raise TransformError(problems)


def _shown(path: Path, models_dir: Path) -> str:
    try:
        return path.relative_to(models_dir.parent).as_posix()
    except ValueError:
        return path.as_posix()


def _load_model(
    path: Path, shown: str, schema: str, name: str, known: Collection[str]
) -> tuple[Model | None, list[ModelProblem]]:
    try:
        sql = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ModelProblem(shown, None, f"cannot read the file: {exc}")]
    problems: list[ModelProblem] = []
    target = f"{schema}.{name}".lower()
    if target not in known:
        problems.append(ModelProblem(shown, 1, _unknown_target(target, known)))
    statement, problem = parse_model_sql(sql, shown)
    if problem is not None:
        return None, [*problems, problem]
    assert statement is not None
    references = _references(statement)
    for table, line in references:
        problem = _reference_problem(table, line, shown)
        if problem is not None:
            problems.append(problem)
    if problems:
        return None, problems
    depends_on = frozenset(table for table, _ in references)
    return Model(schema, name, path, sql, depends_on, shown, tuple(references)), []


def builtin_model(name: str, sql: str, path: Path, shown: str) -> Model:
    """A model kpiboard writes itself for core table ``name`` (the ``[company]`` branch, the
    calendar): checked like a file's, named ``shown`` in messages."""
    statement, problem = parse_model_sql(sql, shown)
    assert statement is not None and problem is None, problem  # our own SQL always parses
    return Model(TARGET_SCHEMA, name, path, sql, frozenset(), shown)


def parse_model_sql(sql: str, shown: str) -> tuple[exp.Expr | None, ModelProblem | None]:
    """Parse a model's text: its one query, or the located problem that makes it no model."""
    try:
        statements = [
            s for s in sqlglot.parse(sql, read=DIALECT, error_level=ErrorLevel.RAISE) if s
        ]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        message = str(first.get("description") or exc).strip().splitlines()[0]
        if message.startswith("Required keyword:"):  # sqlglot names its own classes here
            message = "incomplete expression"
        near = str(first.get("highlight") or "").strip()
        detail = f"{message}, near {near!r}" if near else message
        return None, ModelProblem(shown, first.get("line"), f"syntax error: {detail}")
    except TokenError:
        line, what = _unclosed(sql)
        return None, ModelProblem(shown, line, f"syntax error: {what}")
    expected = "a model is one SELECT statement (CTEs allowed)"
    if not statements:
        return None, ModelProblem(shown, 1, f"{expected}, but the file has none")
    starts = _statement_lines(sql)
    if len(statements) > 1:
        line = starts[1] if len(starts) > 1 else None
        return None, ModelProblem(shown, line, f"{expected}, but the file has {len(statements)}")
    statement: exp.Expr = statements[0]
    if isinstance(statement, exp.Query):
        return statement, None
    kind = statement.key.upper() if statement.key != "command" else "command"
    found = f"found {_article(kind)} {kind} statement"
    return None, ModelProblem(shown, starts[0], f"{expected}; {found}")


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _statement_lines(sql: str) -> list[int]:
    """The line each statement of ``sql`` starts on."""
    lines: list[int] = []
    starting = True
    for token in sqlglot.tokenize(sql, read=DIALECT):
        if token.token_type == TokenType.SEMICOLON:
            starting = True
        elif starting:
            lines.append(token.line)
            starting = False
    return lines or [1]


def _unclosed(sql: str) -> tuple[int | None, str]:
    """Where and what the tokenizer choked on: a quote or a comment that is never closed."""
    kinds = (
        (r"'(?:[^']|'')*\Z", "a string ('…') is never closed"),
        (r'"(?:[^"]|"")*\Z', 'a quoted name ("…") is never closed'),
        (r"/\*(?:(?!\*/).)*\Z", "a comment (/* … */) is never closed"),
    )
    for pattern, what in kinds:
        match = re.search(pattern, sql, flags=re.DOTALL)
        if match:
            return sql.count("\n", 0, match.start()) + 1, what
    return None, "the text cannot be split into SQL tokens"


def _unknown_target(target: str, known: Collection[str]) -> str:
    hint = difflib.get_close_matches(target, sorted(known), n=1)
    where = f"no table {target} to fill"
    if hint:
        return f"{where} — did you mean {hint[0]}? (the file is named after its target table)"
    schemas = sorted({k.split(".", 1)[0] for k in known})
    return f"{where}; models fill the tables of {', '.join(schemas)}, one file per table"


def _references(statement: exp.Expr) -> list[tuple[str, int | None]]:
    """Every table the statement reads, qualified and lower-cased, with the line it is read on.

    Table functions (``range(…)``, ``read_csv(…)``) are not tables; names of CTEs are skipped
    when they are used unqualified.
    """
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    found: dict[str, int | None] = {}
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        name = table.name.lower()
        db = table.db.lower()
        if not db and name in ctes:
            continue
        qualified = f"{db}.{name}" if db else name
        line = _line(table)
        known = found.get(qualified)
        if qualified not in found or (line is not None and (known is None or line < known)):
            found[qualified] = line  # the first line that reads the table
    return sorted(found.items())


def _line(node: exp.Expr) -> int | None:
    lines = [
        int(ident.meta["line"])
        for ident in node.find_all(exp.Identifier)
        if isinstance(ident.meta.get("line"), int)
    ]
    return min(lines) if lines else None


def _reference_problem(table: str, line: int | None, shown: str) -> ModelProblem | None:
    if "." not in table:
        message = f"table {table!r} needs its schema: stg_<source or group>.{table} or core.{table}"
        return ModelProblem(shown, line, message)
    schema, name = table.split(".", 1)
    if schema.startswith(RAW_PREFIX):
        staged = STAGING_PREFIX + schema.removeprefix(RAW_PREFIX)
        message = (
            f"models read staging views, not raw tables: use {staged}.{name} instead of {table} "
            "(it leaves out rows deleted at the source)"
        )
        return ModelProblem(shown, line, message)
    return None


# ---------------------------------------------------------------------------------------------
# Ordering


def order_models(models: Iterable[Model]) -> list[Model]:
    """``models`` in an order where every model runs after the models of the tables it reads.

    Among models free to run, the order is alphabetical, so runs are repeatable. A dependency cycle
    is a :class:`TransformError` naming the cycle, e.g. ``core.a → core.b → core.a``.
    """
    by_target = {model.target.lower(): model for model in models}
    edges = {
        target: sorted(dep for dep in model.depends_on if dep in by_target)
        for target, model in by_target.items()
    }
    waiting = {target: len(deps) for target, deps in edges.items()}
    readers: dict[str, list[str]] = {target: [] for target in by_target}
    for target, deps in edges.items():
        for dep in deps:
            readers[dep].append(target)
    ready = sorted(target for target, count in waiting.items() if count == 0)
    ordered: list[Model] = []
    while ready:
        target = ready.pop(0)
        ordered.append(by_target[target])
        for reader in readers[target]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                ready.append(reader)
        ready.sort()
    if len(ordered) == len(by_target):
        return ordered
    stuck = {target for target, count in waiting.items() if count > 0}
    raise TransformError(_cycles(stuck, edges, by_target))


def _cycles(
    stuck: set[str], edges: Mapping[str, list[str]], by_target: Mapping[str, Model]
) -> list[ModelProblem]:
    """One problem per dependency cycle among the models that could not be ordered."""
    problems: list[ModelProblem] = []
    reported: set[str] = set()
    for start in sorted(stuck):
        if start in reported:
            continue
        cycle = _find_cycle(start, stuck - reported, edges)
        if cycle is None:
            continue
        reported.update(cycle)
        first = by_target[cycle[0]]
        line = dict(first.references).get(cycle[1] if len(cycle) > 1 else cycle[0])
        path = " → ".join([*cycle, cycle[0]])
        problems.append(ModelProblem(first.shown, line, f"dependency cycle: {path}"))
    if not problems:  # cannot happen: a node left waiting always lies on or behind a cycle
        problems.append(ModelProblem(None, None, f"cannot order models: {sorted(stuck)}"))
    return problems


def _find_cycle(start: str, allowed: set[str], edges: Mapping[str, list[str]]) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for dep in edges[node]:
            if dep not in allowed or dep in done:
                continue
            if dep in on_path:
                return path[path.index(dep) :]
            cycle = visit(dep)
            if cycle is not None:
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    cycle = visit(start)
    if cycle is None:
        return None
    # start the cycle at its alphabetically first model, so the message does not depend on
    # where the search began
    turn = cycle.index(min(cycle))
    return cycle[turn:] + cycle[:turn]


# ---------------------------------------------------------------------------------------------
# Checking and running


def check_models(con: duckdb.DuckDBPyConnection, models: Sequence[Model]) -> list[ModelProblem]:
    """Everything that would make ``models`` fail on ``con``, found without writing anything.

    For each model: its target table exists; every table it reads exists (with a did-you-mean);
    DuckDB can bind its query (unknown columns, wrong function arguments…); each column it
    produces is a column of the target, and it produces every required (``NOT NULL``) column.
    """
    relations = {
        f"{schema}.{name}".lower()
        for schema, name in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    columns: dict[str, dict[str, bool]] = {}
    for schema, table, column, nullable in con.execute(
        "SELECT table_schema, table_name, column_name, is_nullable FROM information_schema.columns"
    ).fetchall():
        target = f"{schema}.{table}".lower()
        columns.setdefault(target, {})[str(column).lower()] = nullable == "YES"
    # a core table is created again from the canonical DDL before its model fills it, so its
    # model is checked against that DDL, not against a snapshot written by an older kpiboard
    for name, table in CORE_BY_NAME.items():
        target = f"{TARGET_SCHEMA}.{name}"
        if target in columns:
            columns[target] = {c.name.lower(): c.nullable for c in table.columns}
    problems: list[ModelProblem] = []
    for model in models:
        target = model.target.lower()
        if target not in relations:
            problems.append(
                ModelProblem(
                    model.shown,
                    1,
                    f"target table {target} does not exist in the warehouse; "
                    "create the core schema before running models",
                )
            )
            continue
        unknown = [
            ModelProblem(model.shown, line, _unknown_table(table, relations))
            for table, line in model.references
            if table not in relations
        ]
        if unknown:
            problems.extend(unknown)
            continue
        try:
            produced = con.sql(_wrapped(model.sql)).columns
        except _MODEL_ERRORS as exc:
            problem = _duckdb_problem(model, exc)
            hint = _missing_column_hint(model, str(exc), columns)
            if hint:
                problem = ModelProblem(problem.path, problem.line, f"{problem.message} {hint}")
            problems.append(problem)
            continue
        problems.extend(_column_problems(model, produced, columns[target]))
    return problems


def _missing_column_hint(
    model: Model, message: str, columns: Mapping[str, Mapping[str, bool]]
) -> str:
    """For "<alias> does not have a column named <x>": which table the alias is, and the column
    of that table closest to ``x``. DuckDB names only the alias (and calls a view a "values
    list"), which leaves the reader guessing."""
    found = re.search(r'"([^"]+)" does not have a column named "([^"]+)"', message)
    if found is None:
        return ""
    alias, column = found.group(1).lower(), found.group(2).lower()
    statement, _ = parse_model_sql(model.sql, model.shown)
    if statement is None:
        return ""
    for table in statement.find_all(exp.Table):
        if table.alias_or_name.lower() != alias or not table.db:
            continue
        qualified = f"{table.db}.{table.name}".lower()
        known = sorted(columns.get(qualified, {}))
        hint = difflib.get_close_matches(column, known, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"— {alias} is {qualified}{suggestion}"
    return ""


def _unknown_table(table: str, relations: Collection[str]) -> str:
    schema = table.split(".", 1)[0]
    same_schema = sorted(r for r in relations if r.split(".", 1)[0] == schema)
    hint = difflib.get_close_matches(table, same_schema, n=1) or difflib.get_close_matches(
        table, sorted(relations), n=1
    )
    if hint:
        return f"unknown table {table} — did you mean {hint[0]}?"
    if schema.startswith(STAGING_PREFIX):
        return (
            f"unknown table {table}: no source or group "
            f"{schema.removeprefix(STAGING_PREFIX)!r} has that table loaded"
        )
    return f"unknown table {table}"


def _column_problems(
    model: Model, produced: Sequence[str], target_columns: Mapping[str, bool]
) -> list[ModelProblem]:
    statement, _ = parse_model_sql(model.sql, model.shown)
    lines = _projection_lines(statement) if statement is not None else {}
    problems: list[ModelProblem] = []
    names = [name.lower() for name in produced]
    filled = (
        FILLED_BY_KPIBOARD.get(model.name, frozenset()) if model.schema == TARGET_SCHEMA else ()
    )
    for name in names:
        if name in filled:
            problems.append(
                ModelProblem(
                    model.shown,
                    lines.get(name),
                    f"column {name!r} of {model.target} is filled by kpiboard after the models "
                    "run (docs/model.md); leave it out of the SELECT",
                )
            )
        elif name not in target_columns:
            hint = difflib.get_close_matches(name, sorted(target_columns), n=1)
            suggestion = f" — did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                ModelProblem(
                    model.shown,
                    lines.get(name),
                    f"column {name!r} is not a column of {model.target}{suggestion}",
                )
            )
    missing = [c for c, nullable in target_columns.items() if not nullable and c not in names]
    for column in missing:
        problems.append(
            ModelProblem(
                model.shown,
                _main_select_line(model.sql),
                f"required column {column!r} of {model.target} is missing from the SELECT",
            )
        )
    return problems


def _projection_lines(statement: exp.Expr) -> dict[str, int | None]:
    """The line of each output column of the query (the first SELECT of a UNION names them)."""
    select = statement
    while isinstance(select, exp.SetOperation):
        left = select.left
        assert isinstance(left, exp.Expr)
        select = left
    if not isinstance(select, exp.Select):
        return {}
    return {
        projection.alias_or_name.lower(): _line(projection)
        for projection in select.expressions
        if projection.alias_or_name
    }


def _main_select_line(sql: str) -> int | None:
    """The line of the outermost ``SELECT`` keyword (after any CTEs)."""
    depth = 0
    for token in sqlglot.tokenize(sql, read=DIALECT):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type == TokenType.SELECT and depth == 0:
            return token.line
    return None


def _wrapped(sql: str) -> str:
    """The model's query as a subquery. It stays on the model's own first line, so the line
    numbers DuckDB reports are the file's."""
    body = sql.rstrip().rstrip(";").rstrip()
    return f"SELECT * FROM ({body}\n)"


def _duckdb_message(exc: duckdb.Error) -> str:
    """DuckDB's message on one line, without the echo of the offending line and its caret."""
    kept: list[str] = []
    lines = str(exc).splitlines()
    skip_caret = False
    for text in lines:
        stripped = text.strip()
        if not stripped:
            continue
        if re.match(r"LINE \d+:", stripped):
            skip_caret = True
            continue
        if skip_caret and set(stripped) <= {"^"}:
            skip_caret = False
            continue
        kept.append(stripped)
    message = " ".join(kept) or type(exc).__name__
    # DuckDB lists every overload of a function it could not match; the first words say enough
    return message.split(" Candidate functions:", 1)[0]


# DuckDB messages that name a column of the model without saying on which line it is
_COLUMN_IN_MESSAGE = (
    re.compile(r'does not have a column named "([^"]+)"'),
    re.compile(r'Referenced column "([^"]+)" not found'),
    re.compile(r'when casting from source column "?([A-Za-z0-9_]+)"?'),
)


def _duckdb_problem(model: Model, exc: duckdb.Error) -> ModelProblem:
    """DuckDB's error as a problem of ``model``, on the line DuckDB names or the line of the
    column its message is about."""
    text = str(exc)
    match = re.search(r"^LINE (\d+):", text, flags=re.MULTILINE)
    line = int(match.group(1)) if match else _line_of_named_column(model, text)
    return ModelProblem(model.shown, line, _duckdb_message(exc))


def _line_of_named_column(model: Model, message: str) -> int | None:
    for pattern in _COLUMN_IN_MESSAGE:
        found = pattern.search(message)
        if found is None:
            continue
        name = found.group(1).lower()
        statement, _ = parse_model_sql(model.sql, model.shown)
        produced = _projection_lines(statement) if statement is not None else {}
        if produced.get(name) is not None:
            return produced[name]
        for token in sqlglot.tokenize(model.sql, read=DIALECT):
            if token.token_type == TokenType.VAR and token.text.lower() == name:
                return token.line
    return None


def _recreate_core_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop ``core.<name>`` and create it again, empty, from the canonical DDL."""
    con.execute(f"DROP TABLE IF EXISTS {quote(TARGET_SCHEMA)}.{quote(name)}")
    con.execute(
        CORE_BY_NAME[name]
        .create_sql(TARGET_SCHEMA)
        .replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE")
    )


def empty_unmodelled(con: duckdb.DuckDBPyConnection, models: Sequence[Model]) -> list[str]:
    """Empty every core table that no model fills; return those that had rows (``core.x``).

    A table whose model file was removed would otherwise keep the rows of its last model for
    ever, while the documentation promises a table without a model stays empty. Each one is
    created again from the canonical DDL, so it also takes the columns of a newer kpiboard.
    """
    modelled = {m.name for m in models if m.schema == TARGET_SCHEMA}
    emptied: list[str] = []
    for table in CORE_TABLES:
        if table.name in modelled:
            continue
        row = con.execute(
            f"SELECT count(*) FROM {quote(TARGET_SCHEMA)}.{quote(table.name)}"
        ).fetchone()
        if row and row[0]:
            emptied.append(f"{TARGET_SCHEMA}.{table.name}")
        _recreate_core_table(con, table.name)
    return emptied


def _empty(con: duckdb.DuckDBPyConnection, model: Model) -> None:
    """Empty the model's target before it is rebuilt.

    A core table is dropped and created again from its DDL: much faster than ``DELETE`` when
    the same keys are inserted again in the same transaction (DuckDB keeps the deleted keys in
    the primary-key index until commit). Other targets are emptied with ``DELETE``.
    """
    if model.schema == TARGET_SCHEMA and model.name in CORE_BY_NAME:
        _recreate_core_table(con, model.name)
        return
    con.execute(f"DELETE FROM {quote(model.schema)}.{quote(model.name)}")


def run_models(
    con: duckdb.DuckDBPyConnection,
    models: Sequence[Model],
    *,
    progress: Callable[[Model], None] | None = None,
) -> list[ModelRun]:
    """Replace the rows of every model's target with what its ``SELECT`` returns.

    The models run in dependency order (:func:`order_models`) after :func:`check_models` found
    nothing wrong, inside one transaction: if any model fails, every target keeps the rows it had
    before the run and a :class:`TransformError` names the model file and DuckDB's reason.
    ``progress`` is called with each model once it has run.
    """
    ordered = order_models(models)
    problems = check_models(con, ordered)
    if problems:
        raise TransformError(problems)
    runs: list[ModelRun] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for model in ordered:
            started = time.perf_counter()
            target = f"{quote(model.schema)}.{quote(model.name)}"
            try:
                _empty(con, model)
                # the wrapped query starts on the INSERT's first line: DuckDB's line numbers
                # are the model file's
                result = con.execute(f"INSERT INTO {target} BY NAME {_wrapped(model.sql)}")
            except _MODEL_ERRORS as exc:
                raise TransformError([_duckdb_problem(model, exc)]) from exc
            row = result.fetchone()
            rows = int(row[0]) if row else 0
            runs.append(ModelRun(model.target, rows, time.perf_counter() - started))
            if progress is not None:
                progress(model)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended the transaction
            con.execute("ROLLBACK")
        raise
    return runs
