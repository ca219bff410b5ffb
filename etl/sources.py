"""Sources: what to copy from each operational database, found by asking the database itself.

For every configured source, :func:`discover` lists its tables with their columns, primary keys and
incremental columns. The database's own catalog is the default (its primary-key constraint, an
``updated_at`` column); ``kpiboard.toml`` narrows the table list and overrides keys per table.
Column types are mapped once here to the DuckDB types of the ``raw_<source>`` tables.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL

from etl.errors import PipelineUserError, SourceError
from kpiboard import urls
from kpiboard.config import Settings, SourceSettings

DEFAULT_INCREMENTAL = "updated_at"
T = TypeVar("T")


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type: str  # the DuckDB type of the raw column
    source_type: str  # as the source declares it, for messages
    # a 4-byte float (PostgreSQL real, MySQL FLOAT): read as the shortest decimal that is the
    # same 32-bit float, so 0.15 stays 0.15 in its DOUBLE raw column (etl.load.conversion)
    single_precision: bool = False


@dataclass(frozen=True)
class SourceTable:
    """One table to copy: where from, its columns, and how to load it incrementally."""

    source: str
    name: str
    columns: tuple[SourceColumn, ...]
    primary_key: tuple[str, ...]
    incremental: str | None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Source:
    """A configured source with its URL resolved against the project folder."""

    name: str
    url: URL
    group: str | None
    branch: str | None
    settings: SourceSettings


def configured_sources(settings: Settings, only: Sequence[str] = ()) -> list[Source]:
    """The sources of ``kpiboard.toml``, or those named in ``only`` (unknown names are errors)."""
    known = {s.name: s for s in settings.sources}
    unknown = [name for name in only if name not in known]
    if unknown:
        names = ", ".join(known) or "none configured"
        raise PipelineUserError(f"unknown source {unknown[0]!r} (sources: {names})")
    chosen = [known[name] for name in only] if only else list(known.values())
    return [
        Source(s.name, urls.parse_url(settings.source_url(s)), s.group, s.branch, s) for s in chosen
    ]


def duckdb_type(kind: sa.types.TypeEngine[object]) -> str:
    """The DuckDB type that holds a source column's values exactly."""
    if isinstance(kind, sa.Boolean):
        return "BOOLEAN"
    if type(kind).__name__ == "TINYINT" and getattr(kind, "display_width", None) == 1:
        return "BOOLEAN"  # MySQL spells BOOLEAN as TINYINT(1)
    if isinstance(kind, sa.BigInteger):
        return "BIGINT"
    if isinstance(kind, sa.Integer):
        return "INTEGER"
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        precision = kind.precision or 18
        scale = kind.scale if kind.scale is not None else 2
        return f"DECIMAL({min(precision, 38)},{scale})"
    if isinstance(kind, sa.Float):
        return "DOUBLE"
    if isinstance(kind, sa.DateTime):
        return "TIMESTAMP"
    if isinstance(kind, sa.Date):
        return "DATE"
    if isinstance(kind, sa.Time):
        return "TIME"
    if isinstance(kind, sa.LargeBinary):
        return "BLOB"
    return "VARCHAR"


def single_precision(kind: sa.types.TypeEngine[object], backend: str) -> bool:
    """Whether a source column is a 4-byte float: PostgreSQL's ``real`` (``float4``,
    ``float(1..24)``), MySQL's and MariaDB's ``FLOAT`` (``FLOAT(p)`` with p up to 24). SQLite's
    ``REAL`` is 8 bytes, and so is MySQL's ``REAL`` (reflected as ``DOUBLE``)."""
    if backend == "sqlite" or not isinstance(kind, sa.Float):
        return False
    if type(kind).__name__ == "REAL":
        return True
    precision = getattr(kind, "precision", None)
    return type(kind).__name__ == "FLOAT" and (precision is None or precision <= 24)


def discover(source: Source) -> list[SourceTable]:
    """The tables to copy from ``source``, with types, keys and incremental columns."""
    engine = sa.create_engine(source.url)
    try:
        inspector = with_retries(source.name, lambda: sa.inspect(engine))
        present = sorted(inspector.get_table_names())
        out = []
        for name in list(source.settings.tables) or present:
            if name not in present:
                raise SourceError(
                    source.name,
                    f"table {name!r} is configured but the database has none"
                    + _suggest(name, present),
                    transient=False,
                )
            out.append(_describe_table(source, inspector, name))
        return out
    finally:
        engine.dispose()


def _describe_table(source: Source, inspector: sa.Inspector, name: str) -> SourceTable:
    backend = urls.backend(source.url)
    columns = tuple(
        SourceColumn(
            c["name"],
            duckdb_type(c["type"]),
            str(c["type"]),
            single_precision(c["type"], backend),
        )
        for c in inspector.get_columns(name)
    )
    names = {c.name for c in columns}
    options = source.settings.table.get(name)
    key = tuple(options.primary_key) if options and options.primary_key else None
    if key is None:
        key = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
    incremental = options.incremental if options and options.incremental else None
    if incremental is None and DEFAULT_INCREMENTAL in names and key:
        incremental = DEFAULT_INCREMENTAL
    for column in (*key, *([incremental] if incremental else [])):
        if column not in names:
            raise SourceError(
                source.name,
                f"kpiboard.toml names column {column!r}, which the table does not have"
                + _suggest(column, sorted(names)),
                transient=False,
                table=name,
            )
    return SourceTable(source.name, name, columns, key, incremental)


def _suggest(name: str, options: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, options, n=1)
    return f" — did you mean {close[0]!r}?" if close else ""


# -- connecting: transient errors are retried, terminal ones are not ----------------------------

_TERMINAL = re.compile(
    r"password authentication failed|access denied|does not exist|unknown database|"
    r"no such table|role .* does not exist|permission denied|unable to open database",
    re.IGNORECASE,
)


def classify(source: str, exc: BaseException, table: str | None = None) -> SourceError:
    """A :class:`SourceError` for a driver's exception, terminal or transient by its message."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return SourceError(source, reason, transient=not _TERMINAL.search(reason), table=table)


def with_retries(
    source: str,
    action: Callable[[], T],
    *,
    attempts: int = 4,
    first_wait: float = 0.5,
    table: str | None = None,
) -> T:
    """Run ``action``; on a transient failure wait (0.5 s, 1 s, 2 s …) and try again."""
    wait = first_wait
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except SourceError as exc:
            error = exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError, RuntimeError) as exc:
            error = classify(source, exc, table)
        if not error.transient or attempt == attempts:
            raise error
        time.sleep(wait)
        wait *= 2
    raise AssertionError("unreachable")
