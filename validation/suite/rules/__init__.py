"""Checks of suites against the warehouse: do their tables and columns exist?

The loader checks what a file says on its own; these rules need to know the warehouse, so they run
once it is: ``columns`` maps every table reference a suite may use (``crm.clients``,
``stock.products``, ``core.dim_client``) to its column names. One rule per module, like the
loader's checks each returning located problems; :data:`DEFAULT_RULES` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from validation.suite.errors import SuiteError, SuiteProblem
from validation.suite.model import Suite
from validation.suite.rules.columns import unknown_columns
from validation.suite.rules.references import unknown_references
from validation.suite.rules.tables import unknown_table

Columns = Mapping[str, Sequence[str]]
"""Table reference → its column names, as the warehouse has them."""

Rule = Callable[[Suite, Columns], list[SuiteProblem]]

DEFAULT_RULES: tuple[Rule, ...] = (unknown_table, unknown_columns, unknown_references)


def check_columns(
    suite: Suite, columns: Columns, rules: Sequence[Rule] = DEFAULT_RULES
) -> list[SuiteProblem]:
    """Every problem ``rules`` find in ``suite`` given the warehouse's ``columns``, located in
    the suite's file, with a did-you-mean where a close name exists."""
    return [problem for rule in rules for problem in rule(suite, columns)]


def check_suites(
    suites: Iterable[Suite], columns: Columns, rules: Sequence[Rule] = DEFAULT_RULES
) -> None:
    """Raise one :class:`SuiteError` listing the problems of every suite, if there are any."""
    problems = [p for suite in suites for p in check_columns(suite, columns, rules)]
    if problems:
        raise SuiteError(problems)


__all__ = ["DEFAULT_RULES", "Columns", "Rule", "check_columns", "check_suites"]
