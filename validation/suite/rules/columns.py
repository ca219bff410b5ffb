"""Every column a suite names on its own table (key, ``part_of`` key, expectations, ``where``
filters, ``withhold``) exists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from validation.suite.errors import SuiteProblem
from validation.suite.model import Suite
from validation.suite.rules._lookup import find_table, has_column, suggest


def unknown_columns(suite: Suite, columns: Mapping[str, Sequence[str]]) -> list[SuiteProblem]:
    known = find_table(columns, suite.table)
    if known is None:
        return []  # reported by unknown_table
    problems: list[SuiteProblem] = []
    where = suite.key_location or suite.location
    for column in suite.key or ():
        if not has_column(known, column):
            message = f"key: unknown column {column!r} in {suite.table}{suggest(column, known)}"
            problems.append(SuiteProblem(where.path, where.line, message))
    if suite.part_of is not None:
        for column in suite.part_of.key:
            if not has_column(known, column):
                message = (
                    f"part_of key: unknown column {column!r} in {suite.table}"
                    f"{suggest(column, known)}"
                )
                at = suite.part_of.location
                problems.append(SuiteProblem(at.path, at.line, message))
    for expectation in suite.expectations:
        for column in dict.fromkeys(expectation.columns()):
            if has_column(known, column):
                continue
            message = (
                f"expectation {expectation.number}: unknown column {column!r} in "
                f"{suite.table}{suggest(column, known)}"
            )
            problems.append(
                SuiteProblem(expectation.location.path, expectation.location.line, message)
            )
    return problems
