"""The suite's own table exists in the warehouse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from validation.suite.errors import SuiteProblem
from validation.suite.model import Suite
from validation.suite.rules._lookup import find_table, suggest


def unknown_table(suite: Suite, columns: Mapping[str, Sequence[str]]) -> list[SuiteProblem]:
    if find_table(columns, suite.table) is not None:
        return []
    hint = suggest(suite.table, sorted(columns))
    return [
        SuiteProblem(suite.location.path, suite.location.line, f"unknown table {suite.table}{hint}")
    ]
