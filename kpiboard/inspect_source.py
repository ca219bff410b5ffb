"""Ask an operational database what it holds, for ``kpiboard init --from-url``.

:func:`inspect_database` reads the catalog through SQLAlchemy's inspector (PostgreSQL,
MySQL/MariaDB, SQLite): tables, columns and their types (mapped as the pipeline maps them,
:func:`etl.sources.duckdb_type`), primary keys, foreign keys, date and timestamp columns. Where the
catalog says too little it looks at the data, read-only and with one aggregate query per table:
a table without a declared primary key gets a *candidate* key when a column named like ``id`` is
unique and never null, and each date or timestamp column's earliest and latest value are noted,
so that the drafted validation bounds fit data that is clean.

From what it found, :func:`source_entry` writes the ``[[sources]]`` block of kpiboard.toml and
:func:`suite_text` a starter validation suite per table; :mod:`kpiboard.drafts` drafts models.

Every failure is one line: a URL kpiboard cannot use or a database that is not there is a
:class:`~kpiboard.errors.UserError` (exit 2), a server that cannot be reached
:class:`~kpiboard.errors.SourceUnavailable` (exit 3), a database without tables a user error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from kpiboard import urls
from kpiboard.config import NAME_PATTERN
from kpiboard.errors import SourceUnavailable, UserError
from kpiboard.project import toml_string

DATE, TIMESTAMP = "DATE", "TIMESTAMP"

WATERMARK = re.compile(
    r"(^|_)(updated|modified|changed|last_?updated?|last_?modified|last_?changed|mtime|edited)"
    r"(_|$)",
    re.IGNORECASE,
)
"""A timestamp column that grows when its row changes: ``updated_at``, ``modified``,
``last_update``, ``date_changed``, ``LastModified`` (in snake case) …"""

EARLIEST = dt.date(1990, 1, 1)
EARLIEST_WIDE = dt.date(1900, 1, 1)
"""Lower bounds of a drafted date check: 1990-01-01, or 1900-01-01 for a column whose data
already starts earlier (a birth date, a founding year, old records)."""

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONNECT_TIMEOUT = 10  # seconds: a server that does not answer is reported, not waited for

_MISSING_DATABASE = re.compile(r"does not exist|unknown database", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # the DuckDB type of the raw column
    source_type: str
    nullable: bool


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """One table as the catalog and a glance at its data describe it."""

    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]  # declared by the database
    candidate_key: tuple[str, ...] = ()  # found unique and never null in the data
    foreign_keys: tuple[ForeignKey, ...] = ()
    watermark: str | None = None
    rows: int = 0
    ranges: dict[str, tuple[dt.date | None, dt.date | None]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, ...]:
        return self.primary_key or self.candidate_key

    @property
    def incremental(self) -> str | None:
        """The watermark column, when the table has a key to merge changed rows by."""
        return self.watermark if self.key else None

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def dated(self) -> list[ColumnInfo]:
        return [c for c in self.columns if c.type in (DATE, TIMESTAMP)]


@dataclass(frozen=True)
class DatabaseInfo:
    url: str  # as written in kpiboard.toml: the user's scheme, no password, SQLite absolute
    backend: str
    database: str
    tables: tuple[TableInfo, ...]

    def table(self, name: str) -> TableInfo | None:
        return next((t for t in self.tables if t.name == name), None)


def written_url(text: str) -> str:
    """The URL as kpiboard.toml keeps it: the user's spelling without its password (the
    environment variable ``KPIBOARD_SOURCE_<NAME>_URL`` carries the whole URL), a SQLite file's
    path made absolute (the file's paths are relative to the project folder, not to here)."""
    url = urls.parse_url(text)
    written = make_url(text)._replace(password=None)  # URL.set takes None for "unchanged"
    if urls.backend(url) == "sqlite" and url.database:
        written = written.set(database=str(Path(url.database).expanduser().resolve()))
    return written.render_as_string(hide_password=False)


def default_source_name(url: URL) -> str:
    """A source name from the database's name: ``shop.sqlite`` → ``shop``, ``Sales-DB`` →
    ``sales_db``."""
    base = Path(url.database or "").stem if urls.backend(url) == "sqlite" else url.database or ""
    name = re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"db_{name}" if name else "main"
    return name[:63]


def check_source_name(name: str) -> str:
    if not re.match(NAME_PATTERN, name):
        raise UserError(
            f"--name {name!r}: expected a lower-case name (letters, digits, underscores, "
            "starting with a letter)"
        )
    return name


def inspect_database(text: str) -> DatabaseInfo:
    """Everything ``init --from-url`` needs to know of the database at ``text``."""
    import sqlalchemy as sa

    from etl.sources import duckdb_type

    url = urls.parse_url(text)
    shown = make_url(text).render_as_string(hide_password=True)  # as the user spelled it
    kind = urls.backend(url)
    if kind == "sqlite" and not Path(url.database or "").expanduser().is_file():
        raise UserError(f"{shown}: no such SQLite file {url.database!r}")
    timeout = {} if kind == "sqlite" else {"connect_timeout": CONNECT_TIMEOUT}
    engine = sa.create_engine(url, connect_args=timeout)
    try:
        try:
            with engine.connect() as con:
                inspector = sa.inspect(con)
                names = sorted(inspector.get_table_names())
                if not names:
                    raise UserError(
                        f"{shown}: the database has no tables; "
                        "is it the right database (or schema)?"
                    )
                tables = tuple(_table(con, inspector, name, duckdb_type) for name in names)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            if _MISSING_DATABASE.search(reason):
                raise UserError(f"{shown}: {reason}") from None
            raise SourceUnavailable(f"cannot connect to {shown}: {reason}") from None
    finally:
        engine.dispose()
    return DatabaseInfo(written_url(text), kind, url.database or "", tables)


def _table(con: Any, inspector: Any, name: str, duckdb_type: Any) -> TableInfo:
    import sqlalchemy as sa

    columns = tuple(
        ColumnInfo(c["name"], duckdb_type(c["type"]), str(c["type"]), bool(c.get("nullable", True)))
        for c in inspector.get_columns(name)
    )
    declared = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
    foreign = tuple(
        ForeignKey(
            tuple(fk["constrained_columns"]),
            fk["referred_table"],
            tuple(fk["referred_columns"]),
            fk.get("name"),
        )
        for fk in inspector.get_foreign_keys(name)
        if fk.get("referred_table") and fk.get("constrained_columns")
    )
    table = sa.table(name, *(sa.column(c.name) for c in columns))
    dated = [c for c in columns if c.type in (DATE, TIMESTAMP)]
    candidates = [] if declared else _key_candidates(name, columns, inspector)
    selected: list[Any] = [sa.func.count().label("n")]
    for i, c in enumerate(dated):
        selected += [sa.func.min(table.c[c.name]).label(f"lo{i}")]
        selected += [sa.func.max(table.c[c.name]).label(f"hi{i}")]
    for i, key in enumerate(candidates):
        selected += [
            sa.func.count(sa.distinct(table.c[key])).label(f"distinct{i}"),
            sa.func.count(table.c[key]).label(f"filled{i}"),
        ]
    row = con.execute(sa.select(*selected).select_from(table)).mappings().one()
    rows = int(row["n"])
    candidate: tuple[str, ...] = ()
    for i, key in enumerate(candidates):
        if rows and int(row[f"distinct{i}"]) == rows and int(row[f"filled{i}"]) == rows:
            candidate = (key,)
            break
    ranges = {
        c.name: (_as_date(row[f"lo{i}"]), _as_date(row[f"hi{i}"])) for i, c in enumerate(dated)
    }
    watermark = next(
        (c.name for c in columns if c.type == TIMESTAMP and _is_watermark(c.name)), None
    )
    return TableInfo(name, columns, declared, candidate, foreign, watermark, rows, ranges)


def _key_candidates(name: str, columns: Sequence[ColumnInfo], inspector: Any) -> list[str]:
    """Columns that may name a row of a table without a declared primary key: those of a
    one-column unique constraint or index, then ``id``, ``<table>_id``, ``<table singular>_id``."""
    found: list[str] = []
    unique = [u["column_names"] for u in inspector.get_unique_constraints(name)]
    unique += [i["column_names"] for i in inspector.get_indexes(name) if i.get("unique")]
    for cols in unique:
        if len(cols) == 1 and cols[0] and cols[0] not in found:
            found.append(cols[0])
    lower = name.lower()
    wanted = ("id", f"{lower}_id", f"{lower.rstrip('s')}_id", f"{lower}id")
    for c in columns:
        if c.name.lower() in wanted and c.name not in found:
            found.append(c.name)
    return found


def _is_watermark(name: str) -> bool:
    return bool(WATERMARK.search(snake(name)))


def snake(name: str) -> str:
    """``LastModified`` → ``last_modified``; ``OrderDetails`` → ``order_details``;
    ``order-items`` → ``order_items``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def _as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:  # SQLite keeps dates as text
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


# -- what is written -----------------------------------------------------------------------------


def generated_line(url: str, at: dt.datetime) -> str:
    """The first line of every written file (without its comment marker)."""
    stamp = at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Generated by `kpiboard init --from-url` from {url} at {stamp}; "
        "a starting point, meant to be edited."
    )


def _toml_key(name: str) -> str:
    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else toml_string(name)


def source_entry(info: DatabaseInfo, source: str) -> str:
    """The ``[[sources]]`` block for the database, with one ``[sources.table.X]`` per table
    that needs a key or a watermark named, and a comment on each table copied in full."""
    variable = f"KPIBOARD_SOURCE_{source.upper()}_URL"
    lines = [
        "[[sources]]",
        f"name = {toml_string(source)}",
        "# The password is left out: set the whole URL, password and all, in the environment",
        f"# variable {variable}, which overrides this line.",
        f"url = {toml_string(info.url)}",
    ]
    for table in info.tables:
        options = []
        if not table.primary_key and table.candidate_key:
            columns = ", ".join(toml_string(c) for c in table.candidate_key)
            options.append(
                f"primary_key = [{columns}]  # not declared; unique and never null in the data"
            )
        if table.incremental and table.incremental != "updated_at":
            options.append(f"incremental = {toml_string(table.incremental)}")
        elif table.incremental:
            options.append(f"incremental = {toml_string(table.incremental)}  # the default name")
        if options:
            lines += ["", f"[sources.table.{_toml_key(table.name)}]", *options]
    full = [t.name for t in info.tables if not t.incremental]
    if full:
        lines += [
            "",
            "# Copied in full on every run, having no key or no timestamp column that grows",
            "# when a row changes (like updated_at): " + ", ".join(full) + ".",
        ]
    return "\n".join(lines) + "\n"


def suite_text(
    info: DatabaseInfo, table: TableInfo, source: str, header: str, today: dt.date
) -> str:
    """A starter suite for ``table``: its key unique and never null (``error``: a key that
    repeats breaks every number), each foreign key's values present in the referred table, and
    each date and timestamp between 1990-01-01 (1900-01-01 when the data starts earlier) and a
    year after ``today`` (both ``warn``: the rows are quarantined)."""
    reference = f"{source}.{table.name}"
    latest = dt.date(today.year + 1, today.month, min(today.day, 28 if today.month == 2 else 31))
    lines = [f"# {header}", f"# {_describe_key(table)}", f"table: {reference}"]
    if not table.key:
        lines.append("# no key: a failing row is named by all its columns")
    lines.append("expectations:")
    for key in table.key:
        lines += [f"  - not_null: {_yaml(key)}", "    severity: error"]
    if table.key:
        unique = _yaml(table.key[0]) if len(table.key) == 1 else _yaml_list(table.key)
        lines += [f"  - unique: {unique}", "    severity: error"]
    for fk in sorted(table.foreign_keys, key=lambda fk: fk.columns):
        target = info.table(fk.table)
        if len(fk.columns) != 1 or target is None or not IDENTIFIER.match(fk.table):
            cols = ", ".join(fk.columns)
            lines.append(
                f"  # foreign key ({cols}) → {fk.table}: exists_in checks one column; "
                "write an sql rule for it (docs/validation.md)"
            )
            continue
        description = f"{fk.columns[0]} names a row of {fk.table} (a foreign key)"
        lines += [
            f"  - exists_in: {_yaml(fk.columns[0])}",
            f"    ref: {source}.{fk.table}.{fk.ref_columns[0]}",
            f"    description: {_yaml(description)}",
        ]
    for column in table.dated:
        low, high = table.ranges.get(column.name, (None, None))
        earliest = EARLIEST if low is None or low >= EARLIEST else EARLIEST_WIDE
        timestamp = column.type == TIMESTAMP
        if high is not None and high > latest:
            lines.append(
                f"  # {column.name}: the data holds {high.isoformat()}, later than a year from "
                "now: a placeholder (9999-12-31) or a typo? Fix it or move the bound."
            )
        if earliest == EARLIEST_WIDE and low is not None and low >= EARLIEST_WIDE:
            lines.append(
                f"  # {column.name}: the data starts at {low.isoformat()}, before "
                f"{EARLIEST.isoformat()}, so the lower bound is {EARLIEST_WIDE.isoformat()}"
            )
        if low is not None and low < earliest:
            lines.append(
                f"  # {column.name}: the data holds {low.isoformat()}, earlier than "
                f"{earliest.isoformat()}: a placeholder or a typo? Fix it or move the bound."
            )
        lines += [
            f"  - between: {_yaml(column.name)}",
            f"    min: {earliest.isoformat()}{' 00:00:00' if timestamp else ''}",
            f"    max: {latest.isoformat()}{' 23:59:59' if timestamp else ''}",
            "    description: a date before the data can begin or over a year ahead is a typo",
        ]
    if len(lines) and lines[-1] == "expectations:":
        lines[-1] = "expectations: []  # nothing to check found: add your own"
    return "\n".join(lines) + "\n"


def _describe_key(table: TableInfo) -> str:
    if table.primary_key:
        return f"{table.name}: primary key ({', '.join(table.primary_key)}), declared."
    if table.candidate_key:
        return (
            f"{table.name}: no primary key declared; ({', '.join(table.candidate_key)}) is "
            "unique and never null in the data (primary_key in kpiboard.toml)."
        )
    return f"{table.name}: no primary key, and no column that could be one."


def _yaml(value: str) -> str:
    plain = re.match(r"^[A-Za-z_][A-Za-z0-9_ ,()'.-]*$", value) and not value.endswith(" ")
    if plain and ": " not in value and " #" not in value:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _yaml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_yaml(v) for v in values) + "]"
