"""Tables and columns an expectation reads elsewhere (``exists_in``'s ``ref``, an ``sql`` rule's
``{crm.invoices}``, ``rows_match_source``'s raw table) exist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from validation.suite.errors import SuiteProblem
from validation.suite.model import Suite
from validation.suite.rules._lookup import find_table, has_column, suggest


def unknown_references(suite: Suite, columns: Mapping[str, Sequence[str]]) -> list[SuiteProblem]:
    problems: list[SuiteProblem] = []
    for expectation in suite.expectations:
        where = expectation.location
        prefix = f"expectation {expectation.number}: "
        for table, column in expectation.references():
            known = find_table(columns, table)
            if known is None:
                message = f"unknown table {table}{suggest(table, sorted(columns))}"
                problems.append(SuiteProblem(where.path, where.line, prefix + message))
            elif column is not None and not has_column(known, column):
                message = f"unknown column {column!r} in {table}{suggest(column, known)}"
                problems.append(SuiteProblem(where.path, where.line, prefix + message))
    return problems
