"""Errors of the pipeline. Each says where (source, table, column, model file) and what."""

from __future__ import annotations

from collections.abc import Sequence

from kpiboard.errors import KpiboardError, Problem, UserError


class EtlError(KpiboardError):
    """Base of every error the pipeline raises on purpose. A run that ends with one published
    nothing: the command line exits with 5 (user errors among them exit with 2)."""

    exit_code = 5


class SourceError(EtlError):
    """A source could not be read. ``transient`` errors (a dropped connection, a timeout, a
    server starting up) are retried with backoff; terminal ones (a wrong password, a missing
    database or table) are not."""

    def __init__(self, source: str, message: str, *, transient: bool, table: str | None = None):
        where = f"{source}.{table}" if table else source
        super().__init__(f"source {where}: {message}")
        self.source = source
        self.table = table
        self.transient = transient


class SchemaDrift(EtlError):
    """A source table changed in a way the warehouse cannot follow on its own: a column was
    dropped or changed to an incompatible type. That table stops; the others go on."""

    def __init__(self, source: str, table: str, column: str, old: str, new: str) -> None:
        change = "dropped" if new == "-" else f"changed type from {old} to {new}"
        super().__init__(
            f"source {source}.{table}: column {column!r} {change}; "
            f"run `kpiboard etl run --source {source} --table {table} --full` to reload it"
        )
        self.source, self.table, self.column, self.old, self.new = source, table, column, old, new


class PipelineUserError(UserError, EtlError):
    """Bad input to the pipeline that the user fixes: an unknown source or table name."""


ModelProblem = Problem
"""One problem with a transform model: where (file and line, when known) and what."""


class TransformError(UserError, EtlError):
    """The transform models cannot run as written: a file that does not parse or is not one
    SELECT, a model for a table the target schema lacks, a dependency cycle, a reference to a
    table that does not exist, or an error DuckDB raised while running a model.

    It carries every problem found, each located by model file and line, and its message is one
    line per problem (``models/core/dim_client.sql:7: syntax error: …``), so that a user fixes
    them all in one pass. ``path`` and ``line`` are those of the first problem.
    """

    def __init__(self, problems: Sequence[ModelProblem]) -> None:
        if not problems:
            raise ValueError("a TransformError needs at least one problem")
        self.problems = tuple(problems)
        self.path = self.problems[0].path
        self.line = self.problems[0].line
        super().__init__("\n".join(str(problem) for problem in self.problems))
