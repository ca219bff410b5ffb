"""The expectation suite language: one YAML file per table, read into frozen typed values.

    from validation.suite import load_suites, check_columns
    suites = load_suites(project / "suites")           # SuiteError lists every problem
    problems = check_columns(suite, warehouse_columns)  # once the warehouse is known
    gx_expectations = suite.to_gx(resolve)              # GX 1.x expectation objects

``model`` holds the kinds of expectation and their GX mapping, ``loader`` reads files (keeping
each node's line), ``rules`` checks suites against the warehouse's tables and columns.
"""

from __future__ import annotations

from validation.suite.errors import SuiteError, SuiteProblem
from validation.suite.loader import load_suite_file, load_suites, parse_suite
from validation.suite.model import (
    KINDS,
    Between,
    ExistsIn,
    Expectation,
    Fresh,
    InSet,
    Location,
    NotNull,
    Regex,
    Resolver,
    RowFilter,
    RowsMatchSource,
    Severity,
    Sql,
    Suite,
    Unique,
)
from validation.suite.rules import DEFAULT_RULES, check_columns, check_suites

__all__ = [
    "DEFAULT_RULES",
    "KINDS",
    "Between",
    "ExistsIn",
    "Expectation",
    "Fresh",
    "InSet",
    "Location",
    "NotNull",
    "Regex",
    "Resolver",
    "RowFilter",
    "RowsMatchSource",
    "Severity",
    "Sql",
    "Suite",
    "SuiteError",
    "SuiteProblem",
    "Unique",
    "check_columns",
    "check_suites",
    "load_suite_file",
    "load_suites",
    "parse_suite",
]
