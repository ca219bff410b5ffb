"""Errors of reports: definitions that cannot be used as written, values a reader may not give,
and queries that cannot run. Each is a :class:`~kpiboard.errors.UserError`: the command line
prints it as one located line (or one line per problem) and exits 2."""

from __future__ import annotations

from collections.abc import Sequence

from kpiboard.errors import Problem, UserError


class ReportError(UserError):
    """The base of every report error."""


class DefinitionProblems(ReportError):
    """Report files with problems, every one located
    (``reports/catalog/finance/aging.yaml:14: report 'aging': unknown column 'amout' — did you
    mean 'amount'?``), all reported at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("DefinitionProblems needs at least one problem")
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class UnknownReport(ReportError):
    """A report id the catalog does not have."""


class ParameterError(ReportError):
    """A parameter value refused before anything runs: its type, range, allowed values or id."""


class ScopeError(ReportError):
    """A report that cannot run under the scope asked for (it reads company-wide tables, or
    tables the scope cannot filter)."""


class QueryFailed(ReportError):
    """The report's query did not run: the sandbox refused it, or DuckDB failed on it."""
