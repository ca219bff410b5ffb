"""``run_checks`` on small hand-made DuckDB tables in a non-default schema.

Each case states a check, whether it passes, how many rows fail, the offending values GX must
sample and the keys of exactly the failing rows, which its ``failing_keys_sql`` must return
when run on the file afterwards. Every kind of expectation has a passing and a failing case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from great_expectations import expectations as gxe
from great_expectations.expectations.row_conditions import Column

from validation.engine import ROW_CONDITION_UNSUPPORTED, SAMPLE_SIZE, Check, CheckResult, run_checks

SCHEMA = "raw_crm_denver"


def ts(month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute)


CLIENTS = [  # id, branch, name, phone, email, age, kind, created_at
    (1, "den", "Acme Corp", "+1-303-555-0100", "a@acme.com", 30, "retail", ts(10, 30, 10)),
    (2, "den", "Acme Corp.", "+1-303-555-0101", "b@acme.com", 45, "wholesale", ts(10, 30, 11)),
    (3, "den", "Brightline", "303.555.0102", None, 150, "retail", ts(10, 29, 8)),
    (4, "bou", 'Zed\'s "Shop"', None, "z@zed.com", -1, "alien", ts(10, 28, 9, 30)),
    (5, "bou", 'Zed\'s "Shop"', "+1-303-555-0104", "z@zed.com", 60, None, ts(10, 31, 9)),
    (6, "aus", "O'Brien \\ Co", "bad\\phone", "o@ob.com", None, "wholesale", ts(10, 31, 23, 59)),
]
DEALS = [  # id, client_id, amount, closed_at
    (10, 1, 100, ts(10, 30, 12)),
    (11, 2, 250, ts(10, 29)),  # closed before its client existed
    (12, 99, 80, ts(10, 31)),  # no client 99
    (13, 98, 10, None),  # no client 98
    (14, 5, 300, ts(11, 1)),
]
INVOICES = [(100, "issued"), (101, "issued"), (102, "void")]  # id, status
INVOICE_LINES = [  # invoice_id, line_no, sku, qty
    (100, 1, "TONER-1", 2),
    (100, 2, "PAPER-A4", 5),
    (100, 3, "TONER-1", 1),  # the same product twice on one invoice
    (101, 1, "TONER-1", 3),
    (101, 2, None, 1),  # a NULL never duplicates another NULL
    (101, 3, None, 4),
]
PHONE = r"^\+1-\d{3}-\d{3}-\d{4}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.\w+$"
NAMES = ["Acme Corp", "Brightline", 'Zed\'s "Shop"', "O'Brien \\ Co"]
ORPHAN_DEALS = """
SELECT d.id, d.client_id
FROM {batch} AS d LEFT JOIN raw_crm_denver.clients AS c ON c.id = d.client_id
WHERE c.id IS NULL
"""
DEAL_BEFORE_CLIENT = """
SELECT d.id, d.closed_at, c.created_at
FROM {batch} AS d JOIN raw_crm_denver.clients AS c ON c.id = d.client_id
WHERE d.closed_at < c.created_at
"""
ORPHAN_LINES = """
SELECT l.invoice_id, l.line_no
FROM {batch} AS l LEFT JOIN raw_crm_denver.invoices AS i ON i.id = l.invoice_id
WHERE i.id IS NULL
"""
LINES_OF_VOID_INVOICES = """
SELECT l.invoice_id, l.line_no, i.status
FROM {batch} AS l JOIN raw_crm_denver.invoices AS i ON i.id = l.invoice_id
WHERE i.status = 'void'
"""

TABLES: dict[str, tuple[str, Sequence[tuple[object, ...]]]] = {  # columns, rows
    "clients": (
        "id INTEGER PRIMARY KEY, branch VARCHAR, name VARCHAR, phone VARCHAR, email VARCHAR, "
        "age INTEGER, kind VARCHAR, created_at TIMESTAMP",
        CLIENTS,
    ),
    "deals": ("id INTEGER, client_id INTEGER, amount DECIMAL(18, 2), closed_at TIMESTAMP", DEALS),
    "invoices": ("id INTEGER, status VARCHAR", INVOICES),
    "invoice_lines": (
        "invoice_id INTEGER, line_no INTEGER, sku VARCHAR, qty INTEGER",
        INVOICE_LINES,
    ),
    "big": ("id INTEGER, v INTEGER", [(i, None if i % 4 == 0 else i) for i in range(1, 201)]),
}
KEYS = {
    "clients": ("id",),
    "deals": ("id",),
    "invoices": ("id",),
    "invoice_lines": ("invoice_id", "line_no"),
    "big": ("id",),
}


@dataclass(frozen=True)
class Case:
    id: str
    """The check id; its first part names the table."""
    expectation: gxe.Expectation
    unexpected: int = 0
    sample: list[object] = field(default_factory=list)
    failing: set[tuple[object, ...]] = field(default_factory=set)
    """Keys of the failing rows."""
    table_level: bool = False
    """A row count or freshness check: no failing rows, no failing-row SQL."""

    @property
    def table(self) -> str:
        return self.id.split(":")[0]


def sql_check(query: str) -> gxe.UnexpectedRowsExpectation:
    return gxe.UnexpectedRowsExpectation(unexpected_rows_query=query)


ZED = 'Zed\'s "Shop"'
KINDS = ["retail", "wholesale"]

# fmt: off
CASES = [
    # not null
    Case("clients:not_null:phone", gxe.ExpectColumnValuesToNotBeNull(column="phone"),
         1, [None], {(4,)}),
    Case("clients:not_null:id", gxe.ExpectColumnValuesToNotBeNull(column="id")),
    Case("invoice_lines:not_null:sku", gxe.ExpectColumnValuesToNotBeNull(column="sku"),
         2, [None, None], {(101, 2), (101, 3)}),
    # unique
    Case("clients:unique:email", gxe.ExpectColumnValuesToBeUnique(column="email"),
         2, ["z@zed.com", "z@zed.com"], {(4,), (5,)}),
    Case("clients:unique:id", gxe.ExpectColumnValuesToBeUnique(column="id")),
    # compound unique
    Case("clients:compound_unique:branch_name",
         gxe.ExpectCompoundColumnsToBeUnique(column_list=["branch", "name"]),
         2, [{"branch": "bou", "name": ZED}] * 2, {(4,), (5,)}),
    Case("clients:compound_unique:branch_phone",
         gxe.ExpectCompoundColumnsToBeUnique(column_list=["branch", "phone"])),
    Case("invoice_lines:compound_unique:invoice_sku",
         gxe.ExpectCompoundColumnsToBeUnique(column_list=["invoice_id", "sku"]),
         2, [{"invoice_id": 100, "sku": "TONER-1"}] * 2, {(100, 1), (100, 3)}),
    # regex
    Case("clients:regex:phone", gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=PHONE),
         2, ["303.555.0102", "bad\\phone"], {(3,), (6,)}),
    Case("clients:regex:email", gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL)),
    # between
    Case("clients:between:age",
         gxe.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
         2, [150, -1], {(3,), (4,)}),
    Case("clients:between:age_wide",
         gxe.ExpectColumnValuesToBeBetween(column="age", min_value=-10, max_value=200)),
    # in set
    Case("clients:in_set:kind",
         gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=KINDS),
         1, ["alien"], {(4,)}),
    Case("clients:in_set:name",  # quotes and a backslash in the set
         gxe.ExpectColumnValuesToBeInSet(column="name", value_set=NAMES),
         1, ["Acme Corp."], {(2,)}),
    Case("clients:in_set:kind_any",
         gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=[*KINDS, "alien"])),
    # custom SQL: a rule on the table, foreign keys, rules across tables
    Case("clients:custom:age_over_100", sql_check("SELECT id, age FROM {batch} WHERE age > 100"),
         1, [{"id": 3, "age": 150}], {(3,)}),
    Case("deals:fk:client_id", sql_check(ORPHAN_DEALS),
         2, [{"id": 12, "client_id": 99}, {"id": 13, "client_id": 98}], {(12,), (13,)}),
    Case("invoice_lines:fk:invoice_id", sql_check(ORPHAN_LINES)),
    Case("deals:rule:closed_after_client_created", sql_check(DEAL_BEFORE_CLIENT),
         1, [{"id": 11, "closed_at": ts(10, 29), "created_at": ts(10, 30, 11)}], {(11,)}),
    Case("invoice_lines:rule:no_lines_on_void_invoices", sql_check(LINES_OF_VOID_INVOICES)),
    # table level: row count, freshness
    Case("clients:row_count", gxe.ExpectTableRowCountToEqual(value=6), table_level=True),
    Case("clients:row_count_wrong", gxe.ExpectTableRowCountToEqual(value=7),
         1, [6], table_level=True),
    Case("clients:freshness",
         gxe.ExpectColumnMaxToBeBetween(column="created_at", min_value=ts(10, 31)),
         table_level=True),
    Case("clients:freshness_stale",
         gxe.ExpectColumnMaxToBeBetween(column="created_at", min_value=ts(11, 1)),
         1, [ts(10, 31, 23, 59)], table_level=True),
]
# fmt: on


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine") / "warehouse.duckdb"
    with duckdb.connect(path) as connection:
        connection.execute(f"CREATE SCHEMA {SCHEMA}")
        for table, (columns, rows) in TABLES.items():
            connection.execute(f"CREATE TABLE {SCHEMA}.{table} ({columns})")
            marks = ", ".join("?" * len(rows[0]))
            connection.executemany(f"INSERT INTO {SCHEMA}.{table} VALUES ({marks})", rows)
    return path


@pytest.fixture(scope="module")
def results(database: Path) -> dict[str, CheckResult]:
    """Every case run, one ``run_checks`` call per table, as the suite runner will."""
    found: dict[str, CheckResult] = {}
    for table in dict.fromkeys(case.table for case in CASES):
        checks = [
            Check(case.id, case.expectation, KEYS[table]) for case in CASES if case.table == table
        ]
        outcome = run_checks(database, SCHEMA, table, checks)
        assert [result.id for result in outcome] == [check.id for check in checks]
        found.update((result.id, result) for result in outcome)
    return found


def _query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(database, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def _bag(values: Sequence[object]) -> list[str]:
    """The values as a multiset: GX samples in the order DuckDB returns rows."""
    return sorted(repr(value) for value in values)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_counts_and_sample(case: Case, results: dict[str, CheckResult]) -> None:
    result = results[case.id]

    assert result.error is None
    assert result.success is (case.unexpected == 0)
    assert result.unexpected == case.unexpected
    assert result.checked == (1 if case.table_level else len(TABLES[case.table][1]))
    assert _bag(result.sample) == _bag(case.sample)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_failing_keys_sql_returns_exactly_the_failing_rows(
    case: Case, results: dict[str, CheckResult], database: Path
) -> None:
    sql = results[case.id].failing_keys_sql
    if case.table_level:
        assert sql is None
        return
    assert sql is not None
    rows = _query(database, sql)
    width = len(KEYS[case.table])

    assert len(rows) == case.unexpected
    assert {row[:width] for row in rows} == case.failing
    if not isinstance(case.expectation, gxe.UnexpectedRowsExpectation):
        # after the key come the offending values, the same ones GX sampled
        offending = [row[width] if len(row) == width + 1 else row[width:] for row in rows]
        sampled = [tuple(v.values()) if isinstance(v, dict) else v for v in case.sample]
        assert _bag(offending) == _bag(sampled)
    # the SQL can be wrapped, e.g. to count or to join the quarantine
    assert _query(database, f"SELECT count(*) FROM ({sql}) AS failing") == [(case.unexpected,)]


def test_the_sample_is_capped_and_the_failing_rows_are_not(database: Path) -> None:
    nulls = [i for i in range(1, 201) if i % 4 == 0]
    check = Check("big:not_null:v", gxe.ExpectColumnValuesToNotBeNull(column="v"), ("id",))

    [result] = run_checks(database, SCHEMA, "big", [check])

    assert (result.checked, result.unexpected) == (200, len(nulls))
    assert result.sample == [None] * SAMPLE_SIZE
    assert result.failing_keys_sql is not None
    assert sorted(_query(database, result.failing_keys_sql)) == [(i, None) for i in nulls]


def test_a_check_that_cannot_run_reports_why_and_the_others_still_run(database: Path) -> None:
    phone = gxe.ExpectColumnValuesToNotBeNull(column="phone")
    only_bou = gxe.ExpectColumnValuesToNotBeNull(
        column="phone", row_condition=Column("branch") == "bou"
    )
    checks = [
        Check("clients:not_null:nope", gxe.ExpectColumnValuesToNotBeNull(column="nope"), ("id",)),
        Check("clients:custom:broken", sql_check("SELECT id FROM {batch} WHERE nope > 1"), ("id",)),
        Check("clients:not_null:phone", phone, ("id",)),
        Check("clients:not_null:phone_by_key", phone, ("no_key",)),
        Check("clients:not_null:phone_bou", only_bou, ("id",)),
    ]

    nope, broken, fine, bad_key, conditional = run_checks(database, SCHEMA, "clients", checks)

    assert nope.error is not None and 'column "nope"' in nope.error
    assert broken.error is not None and '"nope" not found' in broken.error
    assert bad_key.error is not None and "no_key" in bad_key.error
    assert conditional.error == ROW_CONDITION_UNSUPPORTED
    for failed in (nope, broken, bad_key, conditional):
        assert (failed.success, failed.checked, failed.unexpected) == (False, 0, 0)
        assert failed.failing_keys_sql is None
    assert (fine.error, fine.unexpected) == (None, 1)


def test_a_table_that_is_not_there_fails_every_check(database: Path, tmp_path: Path) -> None:
    checks = [
        Check("x:row_count", gxe.ExpectTableRowCountToEqual(value=1), ()),
        Check("x:not_null:id", gxe.ExpectColumnValuesToNotBeNull(column="id"), ("id",)),
    ]

    missing_table = run_checks(database, SCHEMA, "nope", checks)
    missing_file = run_checks(tmp_path / "nope.duckdb", SCHEMA, "clients", checks)

    assert [r.error for r in missing_table] == [
        f"MissingTableError: {database.resolve()}: no table raw_crm_denver.nope"
    ] * 2
    assert all(r.error and "no DuckDB database" in r.error for r in missing_file)
    assert not any(r.success for r in [*missing_table, *missing_file])


def test_runs_inside_duckdb_and_leaves_the_file_as_it_was(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            raise AssertionError(f"pandas.{name} called: validation must stay inside DuckDB")

        return read

    for name in ("read_sql", "read_sql_query", "read_sql_table"):
        monkeypatch.setattr(pd, name, refuse(name))
    before = database.stat().st_mtime_ns, database.read_bytes()
    checks = [Check(c.id, c.expectation, KEYS["clients"]) for c in CASES if c.table == "clients"]

    outcome = run_checks(database, SCHEMA, "clients", checks)

    assert reads == []
    assert all(result.error is None for result in outcome)
    assert (database.stat().st_mtime_ns, database.read_bytes()) == before
    # and the file is free again: DuckDB refuses a read-write open while GX holds it read-only
    with duckdb.connect(database) as connection:
        assert connection.execute(f"SELECT count(*) FROM {SCHEMA}.clients").fetchone() == (6,)


@pytest.fixture(autouse=True)
def _no_stray_connections(database: Path) -> Iterator[None]:
    yield
    with duckdb.connect(database):  # fails if a run left the file open read-only
        pass
