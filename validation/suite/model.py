"""What an expectation suite says, as plain frozen values — and how each kind maps onto GX 1.x.

A suite is one YAML file about one table (see ``docs/validation.md``): its table reference
(``crm.clients`` for a raw table of a source or group, ``core.dim_client`` for the canonical
model), the key that names a failing row, and a list of expectations. Each expectation kind is a
class here; :mod:`validation.suite.loader` builds them from files and keeps where each came from.

The model knows nothing about the warehouse. Whatever depends on it is a parameter of
:meth:`Expectation.to_gx`: a :data:`Resolver` turns a table reference (``crm.invoices``) into the
SQL relation the engine reads (``"stg_crm"."invoices"``, a raw table, a snapshot's schema …),
``now`` dates freshness checks and ``source_rows`` gives row counts to reconcile with.

Two rules of the raw layer live here because every consumer must agree on them:

- a raw table read through a group (``crm.clients`` stacks every branch's CRM) holds rows of
  several sources whose ids overlap, so a raw row is named by ``(_source, *key)``, and the
  comparisons between rows (``unique``, ``exists_in`` within one source or group) are made within
  one source: their ``scope`` is ``("_source",)``;
- core keys are already qualified by source (``'crm_denver:17'``), so core scopes are empty.

Great Expectations is imported only when a mapping is asked for: loading and checking suites stays
fast and does not need it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation as GxExpectation
    from great_expectations.expectations.row_conditions import Condition

Severity = Literal["error", "warn"]
SEVERITIES: tuple[Severity, ...] = ("error", "warn")
DEFAULT_SEVERITY: Severity = "warn"

Hold = Literal["row", "value"]
HOLDS: tuple[Hold, ...] = ("row", "value")
DEFAULT_HOLD: Hold = "row"
"""What a failing ``warn`` expectation of a raw suite holds in quarantine: the whole ``row`` (left
out of core) or only the offending ``value`` (the row goes on with those columns null)."""

GX_SEVERITY: dict[Severity, str] = {"error": "critical", "warn": "warning"}
"""Our severities as GX's ``FailureSeverity`` values."""

CORE_SCHEMA = "core"
SOURCE_COLUMN = "_source"
RAW_SCOPE: tuple[str, ...] = (SOURCE_COLUMN,)
"""Columns two raw rows must share to be compared: a group's sources reuse each other's ids."""

Value = str | int | float | bool | dt.date | dt.datetime
"""A literal in a suite file (``datetime`` is a ``date``)."""

Bound = int | float | dt.date | dt.datetime
"""A bound of ``between``: a number, a date or a timestamp."""

Resolver = Callable[[str], str]
"""Maps a table reference (``crm.invoices``, ``core.dim_client``) to the SQL text of the relation
the engine reads, already quoted as needed (``"stg_crm"."invoices"``). A resolver may also have a
method ``with_deleted(reference)`` naming a relation that holds the rows deleted at the source as
well: ``exists_in`` then looks its references up there."""

REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
"""A table reference inside an ``sql`` query: ``{table}`` (the suite's own) or ``{crm.invoices}``.
Any other brace is the query's own (a regex quantifier ``\\d{3}``) and is left alone."""

OWN_TABLE = "table"


@dataclass(frozen=True)
class Location:
    """Where something was written: the file as messages show it, and a 1-based line."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


def layer_of(table: str) -> Literal["raw", "core"]:
    """``core`` for a ``core.<table>`` reference, ``raw`` for ``<source or group>.<table>``."""
    return "core" if table.split(".", 1)[0] == CORE_SCHEMA else "raw"


# ---------------------------------------------------------------------------------------------
# Row filters


@dataclass(frozen=True)
class RowFilter:
    """``where: {column: value}`` or ``{column: [v1, v2]}``: the expectation applies only to rows
    whose ``column`` is one of ``values``; ``values == (None,)`` selects rows where it is null."""

    column: str
    values: tuple[Value | None, ...]

    def condition(self) -> Condition:
        from great_expectations.expectations.row_conditions import Column

        column = Column(self.column)
        if self.values == (None,):
            return column.is_null()
        if len(self.values) == 1:
            return column == self.values[0]
        return column.is_in(list(self.values))

    def sql(self, alias: str) -> str:
        column = f"{alias}.{quote(self.column)}"
        if self.values == (None,):
            return f"{column} IS NULL"
        if len(self.values) == 1:
            return f"{column} = {sql_literal(self.values[0])}"
        return f"{column} IN ({', '.join(sql_literal(v) for v in self.values)})"


def _condition(where: Sequence[RowFilter]) -> Condition | None:
    if not where:
        return None
    condition = where[0].condition()
    for more in where[1:]:
        condition = condition & more.condition()
    return condition


def quote(identifier: str) -> str:
    """``identifier`` as a quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(value: Value | None) -> str:
    """``value`` as a SQL literal (DuckDB and PostgreSQL spelling)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Expectations


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """What every expectation has: its suite's table, a name unique in the suite (it is the
    quarantine reason and appears in messages), a severity, an optional description, and where
    it was written (``number`` is its 1-based position in the suite's list)."""

    KIND: ClassVar[str] = ""

    table: str
    name: str
    severity: Severity = DEFAULT_SEVERITY
    hold: Hold = DEFAULT_HOLD
    description: str | None = None
    location: Location
    number: int

    def columns(self) -> tuple[str, ...]:
        """Columns of the suite's table this expectation names (checked against the warehouse)."""
        return ()

    def withheld(self) -> tuple[str, ...]:
        """The columns a ``hold: value`` failure withholds (sets to null) in the rows it lets
        through: the checked column(s), never the ``where`` filters' columns."""
        return ()

    def references(self) -> tuple[tuple[str, str | None], ...]:
        """Other tables it reads, each with the column it needs there (``None``: any)."""
        return ()

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        """This expectation as a GX 1.x expectation (see each kind for which class).

        ``resolve`` maps table references to relations; ``now`` (naive UTC, default the current
        time) is used by ``fresh``; ``source_rows`` (a table reference → its row count at the
        source) by ``rows_match_source``.
        """
        raise NotImplementedError

    def _common(self) -> dict[str, Any]:
        """The GX arguments every kind shares: severity, description and our own metadata."""
        return {
            "severity": GX_SEVERITY[self.severity],
            "description": self.description,
            "meta": {
                "kpiboard": {
                    "table": self.table,
                    "name": self.name,
                    "kind": self.KIND,
                    "severity": self.severity,
                    "location": str(self.location),
                }
            },
        }


@dataclass(frozen=True, kw_only=True)
class ColumnExpectation(Expectation):
    """An expectation about one column's values, optionally on the rows ``where`` selects."""

    column: str
    where: tuple[RowFilter, ...] = ()

    def columns(self) -> tuple[str, ...]:
        return (self.column, *(f.column for f in self.where))

    def withheld(self) -> tuple[str, ...]:
        return (self.column,)

    def _column_common(self) -> dict[str, Any]:
        common = self._common()
        condition = _condition(self.where)
        if condition is not None:
            common["row_condition"] = condition
        return common


@dataclass(frozen=True, kw_only=True)
class NotNull(ColumnExpectation):
    """``not_null: <column>`` → ``ExpectColumnValuesToNotBeNull``."""

    KIND: ClassVar[str] = "not_null"

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        return gxe.ExpectColumnValuesToNotBeNull(column=self.column, **self._column_common())


@dataclass(frozen=True, kw_only=True)
class Unique(Expectation):
    """``unique: <column>`` or ``unique: [c1, c2]`` → ``ExpectColumnValuesToBeUnique`` for one
    column, ``ExpectCompoundColumnsToBeUnique`` for several. On raw tables the ``scope``
    (``_source``) is part of the compound key: values repeat across a group's sources."""

    KIND: ClassVar[str] = "unique"

    unique_columns: tuple[str, ...]
    scope: tuple[str, ...] = ()
    where: tuple[RowFilter, ...] = ()

    def columns(self) -> tuple[str, ...]:
        return (*self.unique_columns, *(f.column for f in self.where))

    def withheld(self) -> tuple[str, ...]:
        return self.unique_columns

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        common = self._common()
        condition = _condition(self.where)
        if condition is not None:
            common["row_condition"] = condition
        key = [*self.scope, *(c for c in self.unique_columns if c not in self.scope)]
        if len(key) == 1:
            return gxe.ExpectColumnValuesToBeUnique(column=key[0], **common)
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=key, **common)


@dataclass(frozen=True, kw_only=True)
class Regex(ColumnExpectation):
    """``regex: <column>`` with ``pattern`` → ``ExpectColumnValuesToMatchRegex``. Nulls pass;
    the pattern is searched, so anchor it (``^…$``) to describe the whole value."""

    KIND: ClassVar[str] = "regex"

    pattern: str

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        return gxe.ExpectColumnValuesToMatchRegex(
            column=self.column, regex=self.pattern, **self._column_common()
        )


@dataclass(frozen=True, kw_only=True)
class Between(ColumnExpectation):
    """``between: <column>`` with ``min`` and/or ``max`` (inclusive) →
    ``ExpectColumnValuesToBeBetween``. Nulls pass."""

    KIND: ClassVar[str] = "between"

    min_value: Bound | None = None
    max_value: Bound | None = None

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        return gxe.ExpectColumnValuesToBeBetween(
            column=self.column,
            min_value=self.min_value,
            max_value=self.max_value,
            **self._column_common(),
        )


@dataclass(frozen=True, kw_only=True)
class InSet(ColumnExpectation):
    """``in_set: <column>`` with ``values`` → ``ExpectColumnValuesToBeInSet``. Nulls pass."""

    KIND: ClassVar[str] = "in_set"

    values: tuple[Value, ...]

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        return gxe.ExpectColumnValuesToBeInSet(
            column=self.column, value_set=list(self.values), **self._column_common()
        )


@dataclass(frozen=True, kw_only=True)
class ExistsIn(ColumnExpectation):
    """``exists_in: <column>`` with ``ref: <table>.<column>``: every non-null value names a row of
    the referenced table. GX has no such expectation, so it becomes an
    ``UnexpectedRowsExpectation`` whose query returns the rows whose reference is missing. When
    both tables belong to the same raw source or group, a reference resolves within its own
    source (``scope``): branch A's deal 17 is not branch B's."""

    KIND: ClassVar[str] = "exists_in"

    ref_table: str
    ref_column: str
    scope: tuple[str, ...] = ()

    def references(self) -> tuple[tuple[str, str | None], ...]:
        return ((self.ref_table, self.ref_column),)

    def unexpected_rows_sql(self, resolve: Resolver) -> str:
        """The SQL returning the rows of the suite's table whose reference resolves nowhere.

        A left join to the referenced keys, made distinct, keeping the rows that found none:
        DuckDB runs it as one hash join, where a correlated ``NOT EXISTS`` counted through
        GX's wrapper took three times as long on ten million rows.
        """
        keys = [self.ref_column, *self.scope]
        listed = ", ".join(f"r.{quote(c)}" for c in keys)
        # a resolver that also knows the rows deleted at the source (see WithDeleted) looks the
        # reference up among them: a client deleted at the source still names its invoices'
        # client, which core keeps (flagged), so the invoices are no orphans
        referenced = getattr(resolve, "with_deleted", resolve)(self.ref_table)
        match = " AND ".join(
            f"k.{quote(c)} = t.{quote(c if c != self.ref_column else self.column)}" for c in keys
        )
        conditions = [
            f"t.{quote(self.column)} IS NOT NULL",
            *(f.sql("t") for f in self.where),
            f"k.{quote(self.ref_column)} IS NULL",
        ]
        return (
            f"SELECT t.* FROM {resolve(self.table)} AS t\n"
            f"LEFT JOIN (SELECT DISTINCT {listed} FROM {referenced} AS r "
            f"WHERE r.{quote(self.ref_column)} IS NOT NULL) AS k ON {match}\n"
            f"WHERE {' AND '.join(conditions)}"
        )

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        return _unexpected_rows(_escape_braces(self.unexpected_rows_sql(resolve)), self._common())


@dataclass(frozen=True, kw_only=True)
class RowsMatchSource(Expectation):
    """``rows_match_source``: the table has as many rows as ``source_rows(source)`` says →
    ``ExpectTableRowCountToEqual``. ``source`` is the suite's own table on raw suites
    (``rows_match_source: true``), the raw table it is built from on core suites."""

    KIND: ClassVar[str] = "rows_match_source"

    source: str

    def references(self) -> tuple[tuple[str, str | None], ...]:
        return () if self.source == self.table else ((self.source, None),)

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        if source_rows is None:
            raise ValueError(f"{self.location}: rows_match_source needs source_rows to map to GX")
        return gxe.ExpectTableRowCountToEqual(value=source_rows(self.source), **self._common())


@dataclass(frozen=True, kw_only=True)
class Fresh(ColumnExpectation):
    """``fresh: <column>`` with ``max_age`` (``3 days``): the newest value is at most that old →
    ``ExpectColumnMaxToBeBetween(min_value=now - max_age)``."""

    KIND: ClassVar[str] = "fresh"

    max_age: dt.timedelta

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        from great_expectations import expectations as gxe

        moment = now if now is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return gxe.ExpectColumnMaxToBeBetween(
            column=self.column, min_value=moment - self.max_age, **self._column_common()
        )


@dataclass(frozen=True, kw_only=True)
class Sql(Expectation):
    """``sql: <name>`` with ``query``: a business rule as one SELECT whose rows are the failing
    rows → ``UnexpectedRowsExpectation``. ``{table}`` is the suite's table and
    ``{crm.invoices}`` any other; both go through the resolver. It should select the table's
    own rows (``SELECT p.* FROM {table} p …``) so that quarantine finds their keys."""

    KIND: ClassVar[str] = "sql"

    query: str
    withhold: tuple[str, ...] = ()

    def columns(self) -> tuple[str, ...]:
        return self.withhold

    def withheld(self) -> tuple[str, ...]:
        return self.withhold

    def references(self) -> tuple[tuple[str, str | None], ...]:
        found = dict.fromkeys(m.group(1) for m in REFERENCE.finditer(self.query))
        return tuple((ref, None) for ref in found if ref != OWN_TABLE)

    def unexpected_rows_sql(self, resolve: Resolver) -> str:
        """The query with every table reference resolved: plain SQL the engine can run."""
        return _render(self.query, self.table, resolve, escape=False)

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> GxExpectation:
        return _unexpected_rows(
            _render(self.query, self.table, resolve, escape=True), self._common()
        )


KINDS: dict[str, type[Expectation]] = {
    kind.KIND: kind
    for kind in (NotNull, Unique, Regex, Between, InSet, ExistsIn, RowsMatchSource, Fresh, Sql)
}
"""Every expectation kind by the key that starts it in a suite file."""


def _render(query: str, table: str, resolve: Resolver, *, escape: bool) -> str:
    """``query`` with ``{table}`` and ``{schema.table}`` resolved. With ``escape``, the query's
    own braces are doubled: GX fills in its ``{batch}`` with ``str.format``."""
    out: list[str] = []
    position = 0
    for match in REFERENCE.finditer(query):
        literal = query[position : match.start()]
        out.append(_escape_braces(literal) if escape else literal)
        ref = match.group(1)
        relation = resolve(table if ref == OWN_TABLE else ref)
        out.append(_escape_braces(relation) if escape else relation)
        position = match.end()
    tail = query[position:]
    out.append(_escape_braces(tail) if escape else tail)
    return "".join(out).rstrip().rstrip(";").rstrip()


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _unexpected_rows(query: str, common: dict[str, Any]) -> GxExpectation:
    from great_expectations import expectations as gxe

    # GX prints (to stdout, not a warning) a reminder to use its {batch} placeholder when a query
    # lacks it. Our queries name their relations through the resolver instead, because GX
    # substitutes {batch} differently depending on whether the query contains a JOIN; the
    # reminder would corrupt `--format json` output, so it is swallowed here.
    with contextlib.redirect_stdout(io.StringIO()):
        return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, **common)


# ---------------------------------------------------------------------------------------------
# Suites


@dataclass(frozen=True)
class PartOf:
    """``part_of: {table: crm.invoices, key: invoice_id}``: the suite's rows are parts of a
    document of ``table`` (an invoice's lines, its payments), named by the parts' ``key`` columns,
    which hold the document's key (its suite's ``key``, in order). A document is held in
    quarantine whole: when it or any of its parts is held, so are the document and every part.
    Parts and document belong to one source or group, and a part names its document within its
    own source."""

    table: str
    key: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class Suite:
    """One suite file: the table it is about, the key naming a failing row (``None``: the
    table's primary key, known to the engine), its expectations in file order, and the document
    its rows are parts of, if any."""

    table: str
    key: tuple[str, ...] | None
    expectations: tuple[Expectation, ...]
    location: Location
    description: str | None = None
    key_location: Location | None = None
    part_of: PartOf | None = None

    @property
    def layer(self) -> Literal["raw", "core"]:
        return layer_of(self.table)

    @property
    def scope(self) -> tuple[str, ...]:
        """Columns that, with the key, name a row: ``_source`` on raw tables."""
        return RAW_SCOPE if self.layer == "raw" else ()

    @property
    def row_key(self) -> tuple[str, ...] | None:
        """The columns naming a failing row for quarantine: ``(_source, *key)`` on raw tables."""
        if self.key is None:
            return None
        return (*self.scope, *(c for c in self.key if c not in self.scope))

    def expectation(self, name: str) -> Expectation:
        """The expectation called ``name``."""
        for expectation in self.expectations:
            if expectation.name == name:
                return expectation
        raise KeyError(name)

    def to_gx(
        self,
        resolve: Resolver,
        *,
        now: dt.datetime | None = None,
        source_rows: Callable[[str], int] | None = None,
    ) -> list[GxExpectation]:
        """Every expectation mapped by :meth:`Expectation.to_gx`, in file order."""
        return [e.to_gx(resolve, now=now, source_rows=source_rows) for e in self.expectations]
