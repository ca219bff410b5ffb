"""Run expectations on one DuckDB table inside DuckDB: counts, samples and failing-row SQL.

The suite language (YAML) is mapped onto ``Check`` elsewhere; this module only runs checks.
Every check runs through Great Expectations' SQL engine on the table itself (no pandas copy),
made correct on DuckDB by ``validation.gx_duckdb``. For each check the result says how many
rows were checked and how many failed, shows up to ``SAMPLE_SIZE`` offending values, and gives
a DuckDB query for *every* failing row -- what quarantine and the data docs build on:

- column expectations (not null, unique, regex, between, in set, ...): GX's own
  ``unexpected_index_query``, asked for with the table's key as ``unexpected_index_column_names``;
  it selects the key columns and the checked column of each failing row;
- ``ExpectCompoundColumnsToBeUnique``: GX's query for it (on every dialect) puts the table and
  its duplicate rows side by side in FROM with no join condition; DuckDB rejects it ("ambiguous
  reference to column name") and qualified it would be a cross join. So we write the join
  ourselves, by the rule GX counts with: a combination of the columns occurring more than once
  is a duplicate, and a row with a NULL in any of the columns never is;
- ``ExpectColumnValuesToBeUnique``: GX counts duplicates with three window queries over the
  table. A key column is usually unique, so one aggregate asks first (GX's proportion of unique
  values): where it is 1, nothing fails and the failing-row query is our join as above; else
  GX's full check gives the counts, the sample and its own failing-row query;
- ``UnexpectedRowsExpectation``: its own query, ``{batch}`` naming the table;
- table-level expectations (row count, column max for freshness, ...): there are no failing
  rows, so ``failing_keys_sql`` is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent.interfaces import Batch, TestConnectionError
from great_expectations.expectations import (
    Expectation,
    ExpectColumnProportionOfUniqueValuesToBeBetween,
    ExpectColumnValuesToBeUnique,
    ExpectCompoundColumnsToBeUnique,
    ExpectTableRowCountToBeBetween,
    UnexpectedRowsExpectation,
)

from validation import gx_duckdb

SAMPLE_SIZE = 20
ROW_CONDITION_UNSUPPORTED = (
    "row_condition is not supported: GX counts only the rows it selects, but its query for the "
    "failing rows reads the whole table; write the rule as an UnexpectedRowsExpectation"
)


@dataclass(frozen=True)
class Check:
    """One expectation to run on one table."""

    id: str
    """Stable id, e.g. ``crm.clients:regex:phone``."""
    expectation: Expectation
    """A GX 1.x expectation object."""
    key: tuple[str, ...]
    """The table's primary key columns, to identify failing rows."""


@dataclass
class CheckResult:
    """The outcome of one ``Check``; ``success`` is ``unexpected == 0`` unless ``error`` is set.

    Row-level checks count rows: ``checked`` is the table's row count and ``unexpected`` the
    failing rows (for a custom query, the rows it returns). Table-level checks (row count,
    freshness) count the one assertion: ``checked`` is 1, ``unexpected`` 1 if it failed, and the
    sample holds the observed value.
    """

    id: str
    success: bool
    checked: int
    unexpected: int
    sample: list[object]
    """Up to ``SAMPLE_SIZE`` offending values (whole rows, as dicts, for a custom query)."""
    failing_keys_sql: str | None
    """DuckDB SQL returning the key columns and offending value column(s) of every failing row;
    ``None`` for table-level checks."""
    error: str | None
    """Why the check could not run, or ``None``."""


def run_checks(
    database: Path, schema: str, table: str, checks: Sequence[Check]
) -> list[CheckResult]:
    """Run ``checks`` on ``schema.table`` of the DuckDB file ``database``, opened read-only.

    Results come in the order of ``checks``. A check that cannot run (a missing column, SQL
    DuckDB rejects, a ``row_condition``) gets ``error`` and does not stop the others; if the
    table cannot be read at all, every check gets that error. The file is closed again before
    this returns.
    """
    return run_tables(database, {(schema, table): checks})[(schema, table)]


def run_tables(
    database: Path, work: Mapping[tuple[str, str], Sequence[Check]]
) -> dict[tuple[str, str], list[CheckResult]]:
    """:func:`run_checks` for several tables of one file, through one GX context and data
    source: setting those up costs more than many a check."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    out: dict[tuple[str, str], list[CheckResult]] = {}
    try:
        for (schema, table), checks in work.items():
            try:
                batch = gx_duckdb.duckdb_batch(context, database, schema, table)
            except (OSError, LookupError, TestConnectionError) as exc:
                out[(schema, table)] = [_error(check, exc) for check in checks]
                continue
            target = _Target(batch, f"{_quote(schema)}.{_quote(table)}")
            out[(schema, table)] = [target.run(check) for check in checks]
    finally:
        gx_duckdb.close(context)
    return out


class _Target:
    """The batch on one table, and its row count once a custom query has needed it."""

    def __init__(self, batch: Batch, qualified_name: str) -> None:
        self.batch = batch
        self.qualified_name = qualified_name
        self._row_count: int | None = None

    def run(self, check: Check) -> CheckResult:
        expectation = check.expectation
        if getattr(expectation, "row_condition", None):
            return _error(check, ROW_CONDITION_UNSUPPORTED)
        custom = isinstance(expectation, UnexpectedRowsExpectation)
        try:
            if isinstance(expectation, ExpectColumnValuesToBeUnique) and self._all_distinct(check):
                duplicates = self._duplicates_sql(check, [str(expectation.column)])
                return CheckResult(check.id, True, self.row_count(), 0, [], duplicates, None)
            validation = self.batch.validate(expectation, result_format=_result_format(check))
            failure = _exception_message(validation)
            if failure is not None:
                return _error(check, failure)
            result: Mapping[str, Any] = validation.result
            if custom:
                return self._custom_query(check, validation.success is True, result)
        except Exception as exc:  # GX raises for configurations it cannot turn into metrics
            return _error(check, exc)
        if "unexpected_count" not in result:
            return _table_level(check, validation.success is True, result)
        failing_sql: str | None
        if isinstance(expectation, ExpectCompoundColumnsToBeUnique):
            failing_sql = self._duplicates_sql(check, list(map(str, expectation.column_list)))
        else:
            failing_sql = _statement(result.get("unexpected_index_query"))
        return CheckResult(
            id=check.id,
            success=validation.success is True,
            checked=int(result["element_count"]),
            unexpected=int(result["unexpected_count"]),
            sample=list(result.get("partial_unexpected_list", []))[:SAMPLE_SIZE],
            failing_keys_sql=failing_sql,
            error=None,
        )

    def _custom_query(self, check: Check, success: bool, result: Mapping[str, Any]) -> CheckResult:
        assert isinstance(check.expectation, UnexpectedRowsExpectation)
        rows = result.get("details", {}).get("unexpected_rows", [])
        # GX fills {batch} the way str.format does; the batch is the whole table
        query = str(check.expectation.unexpected_rows_query).format(batch=self.qualified_name)
        return CheckResult(
            id=check.id,
            success=success,
            checked=self.row_count(),
            unexpected=int(result["observed_value"]),
            sample=list(rows)[:SAMPLE_SIZE],
            failing_keys_sql=_statement(query),
            error=None,
        )

    def _duplicates_sql(self, check: Check, column_list: Sequence[str]) -> str:
        """The rows whose combination of ``column_list`` occurs more than once: GX's rule (a row
        with a NULL in any of the columns is never a duplicate), as one join."""
        columns = [_quote(column) for column in column_list]
        selected = ", ".join(f"t.{column}" for column in [*map(_quote, check.key), *columns])
        listed = ", ".join(columns)
        joined = " AND ".join(f"t.{column} = d.{column}" for column in columns)
        return (
            f"SELECT {selected} FROM {self.qualified_name} AS t JOIN "
            f"(SELECT {listed} FROM {self.qualified_name} GROUP BY {listed} "
            f"HAVING count(*) > 1) AS d ON {joined}"
        )

    def _all_distinct(self, check: Check) -> bool:
        """Whether the column's values are all distinct, by GX's one-aggregate proportion of
        unique values. GX's own unique check takes three window queries over the table; on
        the usual passing key this answers the same in one, and a column with duplicates (or
        no values) goes on to the full check for its counts and failing rows."""
        expectation = check.expectation
        assert isinstance(expectation, ExpectColumnValuesToBeUnique)
        proportion = self.batch.validate(
            ExpectColumnProportionOfUniqueValuesToBeBetween(
                column=expectation.column, min_value=1.0
            )
        )
        return proportion.result.get("observed_value") == 1.0

    def row_count(self) -> int:
        if self._row_count is None:
            count = self.batch.validate(ExpectTableRowCountToBeBetween(min_value=0))
            value = count.result.get("observed_value")
            if not isinstance(value, int):
                failure = _exception_message(count) or f"observed {value!r}"
                raise RuntimeError(f"could not count the rows of {self.qualified_name}: {failure}")
            self._row_count = value
        return self._row_count


def _result_format(check: Check) -> dict[str, Any]:
    if isinstance(check.expectation, UnexpectedRowsExpectation):
        # COMPLETE is what returns the query's rows; GX reads at most 200 of them.
        return {"result_format": "COMPLETE"}
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": SAMPLE_SIZE,
        "return_unexpected_index_query": True,
    }
    if check.key:
        result_format["unexpected_index_column_names"] = list(check.key)
    return result_format


def _table_level(check: Check, success: bool, result: Mapping[str, Any]) -> CheckResult:
    return CheckResult(
        id=check.id,
        success=success,
        checked=1,
        unexpected=0 if success else 1,
        sample=[] if success else [result.get("observed_value")],
        failing_keys_sql=None,
        error=None,
    )


def _error(check: Check, error: BaseException | str) -> CheckResult:
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return CheckResult(
        id=check.id,
        success=False,
        checked=0,
        unexpected=0,
        sample=[],
        failing_keys_sql=None,
        error=message,
    )


def _exception_message(validation: ExpectationValidationResult) -> str | None:
    """The first exception GX caught while validating, or ``None``.

    GX reports one either flat (``{"raised_exception": True, "exception_message": ...}``) or per
    metric (``{metric_id: {"raised_exception": True, ...}}``).
    """
    info: Mapping[str, Any] = validation.exception_info or {}
    candidates = [info, *(value for value in info.values() if isinstance(value, Mapping))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "GX raised an exception")
    return None


def _statement(sql: object) -> str | None:
    """GX's query without its trailing ``;``, so it can be wrapped in a larger query."""
    if not isinstance(sql, str):
        return None
    return sql.strip().removesuffix(";").rstrip()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
