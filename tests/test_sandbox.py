"""The sandbox: ``kpiboard sql`` runs one read-only query on the published snapshot and nothing
else, and every connection for user-written SQL shuts the outside world.

Each attack is run through the command line (in this process: ``kpiboard.cli.main`` with its
real exit code and output) against a real published warehouse of two kept snapshots; each
must exit 2 with its one-line message, and afterwards no file may have been written, the
``CURRENT`` pointer and every snapshot must be byte-identical, and ``core.fct_invoice`` must
still hold its rows. The connection is tested alone too, with the statement check bypassed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from kpiboard import sandbox
from kpiboard.cli import main
from kpiboard.config import load_settings
from kpiboard.project import init_project
from kpiboard.warehouse import Warehouse

OLDER, CURRENT = "20250101T000000Z-0001", "20250102T000000Z-0002"
INVOICES = 3


def _publish(warehouse: Warehouse, run_id: str, invoices: int) -> None:
    """Publish a snapshot with one branch and ``invoices`` invoices, as a pipeline run does."""
    with warehouse.lock():
        building = warehouse.start(run_id)
        con = duckdb.connect(str(building))
        try:
            con.execute("DELETE FROM core.fct_invoice")  # copied from the published one
            con.execute("DELETE FROM core.dim_branch")
            con.execute(
                "INSERT INTO core.dim_branch (branch_id, name, currency, _source, _loaded_at)"
                " VALUES ('denver', 'Denver', 'USD', 's', TIMESTAMP '2025-01-01')"
            )
            con.execute(
                "INSERT INTO core.fct_invoice (invoice_id, branch_id, issued_on, net_amount,"
                " _source, _loaded_at) SELECT 'i' || i, 'denver',"
                " DATE '2025-01-01' + CAST(i AS INTEGER), 100.5 * i, 's', TIMESTAMP '2025-01-01'"
                " FROM range(?) AS t(i)",
                [invoices],
            )
        finally:
            con.close()
        warehouse.publish(building)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose warehouse keeps two snapshots: an older one, and the published one."""
    folder = tmp_path_factory.mktemp("sandbox") / "p"
    init_project(folder, name="sandbox")
    warehouse = load_settings(folder).open_warehouse()
    _publish(warehouse, OLDER, 2)
    _publish(warehouse, CURRENT, INVOICES)
    assert warehouse.published() == warehouse.snapshots / f"{CURRENT}.duckdb"
    return folder


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder``, by relative path, with its SHA-256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _invoices(project: Path) -> int:
    con = sandbox.connect(load_settings(project).open_warehouse())
    try:
        row = con.execute("SELECT count(*) FROM core.fct_invoice").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


@pytest.fixture
def untouched(project: Path, tmp_path: Path) -> Iterator[Path]:
    """A folder an attack aims its writes at; after the test, it is still empty, and the
    project's files (pointer, snapshots) are byte for byte what they were."""
    before = _files(project)
    assert set(before) >= {
        "warehouse/CURRENT",
        f"warehouse/snapshots/{OLDER}.duckdb",
        f"warehouse/snapshots/{CURRENT}.duckdb",
    }
    out = tmp_path / "out"
    out.mkdir()
    yield out
    assert list(out.iterdir()) == []
    assert _files(project) == before
    assert (project / "warehouse" / "CURRENT").read_text() == f"{CURRENT}.duckdb\n"
    assert _invoices(project) == INVOICES


def kpiboard_sql(
    capsys: pytest.CaptureFixture[str], project: Path, query: str, *options: str
) -> tuple[int, str, str]:
    """``kpiboard sql -p PROJECT OPTIONS… -- QUERY`` run in this process: exit code, stdout,
    stderr (``--``: a query may start with ``--``, a comment)."""
    argv = ["kpiboard", "sql", "-p", str(project), *options, "--", query]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exited:
            main()
    captured = capsys.readouterr()
    code = exited.value.code
    return code if isinstance(code, int) else 1, captured.out, captured.err


# every attack found by probing, and more; {out} is a folder to write to, {older} the older
# kept snapshot, {snapshot} the published one, {project} the project folder
ATTACKS = [
    ("COPY core.fct_invoice TO '{out}/x.csv'", "COPY is not allowed: queries are read-only"),
    (
        "COPY (SELECT 'x.duckdb') TO '{project}/warehouse/CURRENT' (HEADER false)",
        "COPY is not allowed: queries are read-only",
    ),
    ("EXPORT DATABASE '{out}/d'", "EXPORT is not allowed: queries are read-only"),
    ("IMPORT DATABASE '{out}'", "IMPORT is not allowed: queries are read-only"),
    ("SELECT * FROM read_text('/etc/hostname')", "read_text() reads files and is not allowed"),
    ("SELECT * FROM read_blob('{older}')", "read_blob() reads files and is not allowed"),
    (
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "read_csv_auto() reads files and is not allowed",
    ),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files and is not allowed"),
    (
        "SELECT * FROM read_parquet('{out}/x.parquet')",
        "read_parquet() reads files and is not allowed",
    ),
    (
        "SELECT * FROM parquet_scan('{out}/x.parquet')",
        "parquet_scan() reads files and is not allowed",
    ),
    ("SELECT * FROM read_json('/etc/hostname')", "read_json() reads files and is not allowed"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv() reads files and is not allowed"),
    ("SELECT * FROM glob('/etc/*')", "glob() reads files and is not allowed"),
    ("SELECT count(*) FROM read_duckdb('{older}')", "read_duckdb() reads files and is not allowed"),
    (
        "SELECT (SELECT count(*) FROM read_text('/etc/hostname')) AS n",
        "read_text() reads files and is not allowed",
    ),
    (
        "WITH f AS (SELECT * FROM read_text('/etc/hostname')) SELECT * FROM f",
        "read_text() reads files and is not allowed",
    ),
    (
        "SELECT * FROM '/etc/passwd.csv'",
        "'/etc/passwd.csv' names a file, and queries read only the warehouse's tables",
    ),
    (
        "SELECT * FROM query('SELECT * FROM read_text(''/etc/hostname'')')",
        "query() runs SQL given to it as text and is not allowed",
    ),
    (
        "SELECT * FROM checkpoint()",
        "checkpoint() is not allowed: a query may use only table functions that generate rows"
        " (range(), unnest() …) or read the catalog (duckdb_tables() …)",
    ),
    ("SELECT write_log('x')", "write_log() writes to the database's log and is not allowed"),
    ("ATTACH '{older}' AS old (READ_WRITE)", "ATTACH is not allowed: queries are read-only"),
    (
        "ATTACH '{older}' AS old (READ_WRITE); DELETE FROM old.core.fct_invoice",
        "only one statement is allowed (found 2)",
    ),
    ("DETACH sandbox", "DETACH is not allowed: queries are read-only"),
    ("INSTALL httpfs", "INSTALL is not allowed: queries are read-only"),
    ("LOAD httpfs", "LOAD is not allowed: queries are read-only"),
    ("SET enable_external_access = true", "SET is not allowed: queries are read-only"),
    ("SET lock_configuration = false", "SET is not allowed: queries are read-only"),
    ("RESET TimeZone", "RESET is not allowed: queries are read-only"),
    ("PRAGMA database_list", "PRAGMA is not allowed: queries are read-only"),
    ("CALL pragma_version()", "CALL is not allowed: queries are read-only"),
    ("CHECKPOINT", "CHECKPOINT is not allowed: queries are read-only"),
    ("USE memory", "USE is not allowed: queries are read-only"),
    ("CREATE TABLE t AS SELECT 1 AS a", "CREATE is not allowed: queries are read-only"),
    ("CREATE TEMP TABLE t AS SELECT 1 AS a", "CREATE is not allowed: queries are read-only"),
    (
        "INSERT INTO core.fct_invoice (invoice_id) VALUES ('x')",
        "INSERT is not allowed: queries are read-only",
    ),
    ("UPDATE core.fct_invoice SET net_amount = 0", "UPDATE is not allowed: queries are read-only"),
    ("DELETE FROM core.fct_invoice", "DELETE is not allowed: queries are read-only"),
    (
        "WITH doomed AS (SELECT 1) DELETE FROM core.fct_invoice",
        "DELETE is not allowed: queries are read-only",
    ),
    ("DROP TABLE core.fct_invoice", "DROP is not allowed: queries are read-only"),
    (
        "ALTER TABLE core.fct_invoice ADD COLUMN x INTEGER",
        "ALTER is not allowed: queries are read-only",
    ),
    (
        "-- a comment first\nCOPY core.fct_invoice TO '{out}/x.csv'",
        "COPY is not allowed: queries are read-only",
    ),
    (
        "EXPLAIN COPY core.fct_invoice TO '{out}/x.csv'",
        "COPY is not allowed: queries are read-only",
    ),
    ("SELECT 1; SELECT 2", "only one statement is allowed (found 2)"),
    ("SELECT 1; COPY core.fct_invoice TO '{out}/x.csv'", "only one statement is allowed (found 2)"),
    ("", "empty query"),
    ("  -- only a comment", "empty query"),
    ("SELECT * FROM core.fct_invoice WHERE (", 'syntax error at line 1, column 38: at or near "("'),
    (
        "SELECT *\nFROM core.fct_invoice\nWHERE x = 'ab",
        "syntax error at line 3, column 11: unterminated string literal",
    ),
]


@pytest.mark.parametrize(("query", "message"), ATTACKS, ids=[a[0][:40] for a in ATTACKS])
def test_an_attack_is_refused_in_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    untouched: Path,
    query: str,
    message: str,
) -> None:
    snapshots = project / "warehouse" / "snapshots"
    sql = query.format(
        out=untouched,
        older=snapshots / f"{OLDER}.duckdb",
        snapshot=snapshots / f"{CURRENT}.duckdb",
        project=project,
    )
    code, out, err = kpiboard_sql(capsys, project, sql)
    assert (code, out, err) == (2, "", f"error: kpiboard sql: {message}\n")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT count(*) AS n FROM core.fct_invoice", [{"n": INVOICES}]),
        (
            "WITH b AS (SELECT branch_id FROM core.dim_branch) "
            "SELECT b.branch_id, sum(net_amount) AS total FROM core.fct_invoice JOIN b USING"
            " (branch_id) GROUP BY 1",
            [{"branch_id": "denver", "total": "301.50"}],
        ),
        ("SELECT 1 AS a UNION ALL SELECT 2 ORDER BY a", [{"a": 1}, {"a": 2}]),
        ("VALUES (7)", [{"col0": 7}]),
        ("FROM range(2) AS t(i)", [{"i": 0}, {"i": 1}]),
        (
            "SELECT current_setting('enable_external_access') AS external,"
            " current_setting('lock_configuration') AS locked,"
            " current_setting('TimeZone') AS zone",
            [{"external": False, "locked": True, "zone": "UTC"}],
        ),
        (
            "SELECT column_name FROM (DESCRIBE core.fct_invoice) LIMIT 2",
            [{"column_name": "invoice_id"}, {"column_name": "branch_id"}],
        ),
        (
            "SELECT table_name FROM duckdb_tables() WHERE table_name = 'fct_invoice'",
            [{"table_name": "fct_invoice"}],
        ),
        ("SELECT count(*) AS n FROM (SUMMARIZE core.fct_invoice)", [{"n": 21}]),
        ("-- invoices\nSELECT count(*) AS n FROM core.fct_invoice;", [{"n": INVOICES}]),
    ],
)
def test_a_query_runs(
    capsys: pytest.CaptureFixture[str],
    project: Path,
    untouched: Path,
    query: str,
    expected: list[dict[str, object]],
) -> None:
    code, out, err = kpiboard_sql(capsys, project, query, "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == expected


def test_describe_and_explain_run(
    capsys: pytest.CaptureFixture[str], project: Path, untouched: Path
) -> None:
    code, out, err = kpiboard_sql(capsys, project, "DESCRIBE core.fct_invoice", "-f", "json")
    assert (code, err) == (0, "")
    assert [r["column_name"] for r in json.loads(out)][:3] == [
        "invoice_id",
        "branch_id",
        "issued_on",
    ]
    code, out, err = kpiboard_sql(
        capsys, project, "EXPLAIN SELECT count(*) FROM core.fct_invoice", "-f", "json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out)[0]["explain_key"] == "physical_plan"


def test_a_failing_query_is_one_line(
    capsys: pytest.CaptureFixture[str], project: Path, untouched: Path
) -> None:
    code, out, err = kpiboard_sql(capsys, project, "SELECT * FROM core.fct_invoice WHERE x = 1")
    assert (code, out) == (2, "")
    assert err.startswith("error: kpiboard sql: query failed: Binder Error: Referenced column")
    assert err.count("\n") == 1


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose snapshot has ``orders`` in two schemas, as a source's staging and raw
    copies, beside the core model."""
    folder = tmp_path_factory.mktemp("shop") / "p"
    init_project(folder, name="shop")
    warehouse = load_settings(folder).open_warehouse()
    with warehouse.lock():
        building = warehouse.start(OLDER)
        con = duckdb.connect(str(building))
        try:
            for schema in ("stg_northwind", "raw_northwind"):
                con.execute(f"CREATE SCHEMA {schema}")
                con.execute(f"CREATE TABLE {schema}.orders (order_id INTEGER)")
            con.execute("CREATE TABLE raw_northwind.order_lines (order_id INTEGER)")
        finally:
            con.close()
        warehouse.publish(building)
    return folder


UNKNOWN_TABLES = [
    (
        "SELECT * FROM orders",
        "no table orders — did you mean stg_northwind.orders or raw_northwind.orders?",
    ),
    (
        "SELECT * FROM ordrs",
        "no table ordrs — did you mean stg_northwind.orders or raw_northwind.orders?",
    ),
    ("SELECT * FROM dim_branch", "no table dim_branch — did you mean core.dim_branch?"),
    (
        "SELECT * FROM core.fct_invoicez",
        "no table core.fct_invoicez — did you mean core.fct_invoice?",
    ),
    (
        "SELECT * FROM core.dim_branch AS b JOIN order_lnes AS l ON true",
        "no table order_lnes — did you mean raw_northwind.order_lines?",
    ),
    (
        "SELECT * FROM stg_nortwind.orders",
        "no schema 'stg_nortwind' (in table stg_nortwind.orders) — did you mean 'stg_northwind'?",
    ),
    (
        "SELECT * FROM zzzz",
        "no table zzzz (`SHOW ALL TABLES` lists the warehouse's tables)",
    ),
]


@pytest.mark.parametrize(("query", "message"), UNKNOWN_TABLES, ids=[q for q, _ in UNKNOWN_TABLES])
def test_an_unknown_table_names_the_tables_it_may_be(
    capsys: pytest.CaptureFixture[str], shop: Path, query: str, message: str
) -> None:
    code, out, err = kpiboard_sql(capsys, shop, query)
    assert (code, out, err) == (2, "", f"error: kpiboard sql: {message}\n")


# -- the connection alone: what it refuses when the statement check is not asked -------------

DIRECT = [
    ("COPY core.fct_invoice TO '{out}/x.csv'", duckdb.PermissionException),
    ("COPY (SELECT 'x') TO '{project}/warehouse/CURRENT'", duckdb.PermissionException),
    ("EXPORT DATABASE '{out}/d'", duckdb.PermissionException),
    ("SELECT * FROM read_text('/etc/hostname')", duckdb.PermissionException),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", duckdb.PermissionException),
    ("SELECT * FROM glob('/etc/*')", duckdb.PermissionException),
    ("ATTACH '{older}' AS old (READ_WRITE)", duckdb.PermissionException),
    ("INSTALL httpfs", duckdb.PermissionException),
    ("SET enable_external_access = true", duckdb.InvalidInputException),
    ("SET lock_configuration = false", duckdb.InvalidInputException),
    ("SET autoload_known_extensions = true", duckdb.InvalidInputException),
    ("SET TimeZone = 'Asia/Tokyo'", duckdb.InvalidInputException),
    ("DELETE FROM core.fct_invoice", duckdb.InvalidInputException),
]


@pytest.mark.parametrize(("statement", "error"), DIRECT, ids=[d[0][:40] for d in DIRECT])
def test_the_connection_alone_refuses(
    project: Path, untouched: Path, statement: str, error: type[Exception]
) -> None:
    sql = statement.format(
        out=untouched,
        older=project / "warehouse" / "snapshots" / f"{OLDER}.duckdb",
        project=project,
    )
    con = sandbox.connect(load_settings(project).open_warehouse())
    try:
        with pytest.raises(error):
            con.execute(sql)
        # and so does every cursor of it
        with pytest.raises(error):
            con.cursor().execute(sql)
    finally:
        con.close()


def test_a_cursor_of_a_sandboxed_connection_is_in_utc_without_a_progress_bar(
    project: Path,
) -> None:
    """In a plain process (where DuckDB turns a connection's progress bar on) whose local time
    zone is not UTC: the connection and every cursor of it are in UTC, without a progress bar,
    also for a second connection of the process to the snapshot, which finds its database
    already locked."""
    code = f"""
import duckdb
from pathlib import Path
from kpiboard import sandbox
from kpiboard.config import load_settings

ASK = "SELECT current_setting('TimeZone'), current_setting('enable_progress_bar')"
print(duckdb.connect().cursor().execute(ASK).fetchone())
warehouse = load_settings(Path({str(project)!r})).open_warehouse()
first = sandbox.connect(warehouse)
second = sandbox.connect(warehouse)
for con in (first, first.cursor(), second, second.cursor()):
    print(con.execute(ASK).fetchone())
"""
    environment = {**os.environ, "TZ": "America/Denver"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False
    )
    assert result.returncode == 0, result.stderr
    plain, *sandboxed = result.stdout.splitlines()
    assert plain == "('America/Denver', False)"  # DuckDB's default follows TZ
    assert sandboxed == ["('UTC', False)"] * 4


def test_a_scratch_database_can_be_attached_in_memory(project: Path) -> None:
    """What the KPI engine does: its tables go in a database attached in memory, which the
    sandbox allows while it refuses any file."""
    con = sandbox.connect(load_settings(project).open_warehouse())
    try:
        con.execute("ATTACH IF NOT EXISTS ':memory:' AS scratch (READ_WRITE)")
        con.execute("CREATE TABLE scratch.t AS SELECT count(*) AS n FROM core.fct_invoice")
        assert con.cursor().execute("SELECT n FROM scratch.t").fetchall() == [(INVOICES,)]
        con.execute("DETACH scratch")
    finally:
        con.close()


def test_a_plain_connection_is_not_a_sandboxed_one(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    try:
        with pytest.raises(RuntimeError, match="not a sandboxed connection"):
            sandbox.require_sandboxed(con)
    finally:
        con.close()
