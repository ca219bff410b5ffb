"""The transform step on small hand-made raw tables in an in-memory DuckDB.

Two branch shops (``shop_north``, ``shop_south``, group ``shop``) and a head office (``hq``, no
branch) are loaded as raw tables following the raw contract; the models fill a small ``core``
of their own (``core.customers``, ``core.orders``, ``core.summary``) so that each test states
exactly what it expects. The broken-model table at the end pins the message each mistake gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import pytest

from etl.errors import EtlError, TransformError
from etl.transform import (
    Model,
    StagingSource,
    create_staging_views,
    load_models,
    order_models,
    run_models,
    staging_sources,
)
from kpiboard.config import SourceSettings
from kpiboard.errors import UserError

LOADED = dt.datetime(2026, 1, 2, 3, 4, 5)
DELETED = dt.datetime(2026, 1, 1, 0, 0, 0)

SOURCES = (
    StagingSource("shop_north", "shop", "north", ("customers", "orders")),
    StagingSource("shop_south", "shop", "south", ("customers",)),
    StagingSource("hq", None, None, ("regions",)),
)

TARGETS = frozenset({"core.customers", "core.orders", "core.summary"})

CUSTOMERS = """
SELECT
    c._source || ':' || c.id AS customer_id,
    c._branch AS branch_id,
    upper(c.name) AS name,
    c._source,
    c._loaded_at
FROM stg_shop.customers AS c
"""

ORDERS = """
SELECT
    o._source || ':' || o.id AS order_id,
    o._branch AS branch_id,
    o._source || ':' || o.customer_id AS customer_id,
    o.amount,
    o._source,
    o._loaded_at
FROM stg_shop.orders AS o
"""

SUMMARY = """
WITH counted AS (
    SELECT branch_id, count(*) AS customers
    FROM core.customers
    GROUP BY branch_id
)
SELECT
    c.branch_id,
    c.customers,
    coalesce(sum(o.amount), 0) AS revenue,
    'summary' AS _source,
    TIMESTAMP '2026-01-02 03:04:05' AS _loaded_at
FROM counted AS c
LEFT JOIN core.orders AS o ON o.branch_id = c.branch_id
GROUP BY c.branch_id, c.customers
"""


def _raw(con: duckdb.DuckDBPyConnection, source: str, table: str, columns: str, rows: str) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS raw_{source}")
    con.execute(
        f"CREATE TABLE raw_{source}.{table} ({columns}, "
        "_source VARCHAR, _loaded_at TIMESTAMP, _deleted_at TIMESTAMP)"
    )
    con.execute(f"INSERT INTO raw_{source}.{table} VALUES {rows}")


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """Raw tables of three sources, staging views over them, and an empty target schema."""
    con = duckdb.connect()
    loaded, deleted = f"TIMESTAMP '{LOADED}'", f"TIMESTAMP '{DELETED}'"
    _raw(
        con,
        "shop_north",
        "customers",
        "id INTEGER, name VARCHAR",
        f"(1, 'ann', 'shop_north', {loaded}, NULL), (2, 'bob', 'shop_north', {loaded}, NULL), "
        f"(3, 'gone', 'shop_north', {loaded}, {deleted})",
    )
    _raw(
        con,
        "shop_north",
        "orders",
        "id INTEGER, customer_id INTEGER, amount DECIMAL(12,2)",
        f"(10, 1, 100.50, 'shop_north', {loaded}, NULL), "
        f"(11, 2, 20.25, 'shop_north', {loaded}, NULL), "
        f"(12, 3, 999.99, 'shop_north', {loaded}, {deleted})",
    )
    _raw(
        con,
        "shop_south",
        "customers",
        "id INTEGER, name VARCHAR",
        f"(1, 'cat', 'shop_south', {loaded}, NULL)",
    )
    _raw(
        con,
        "hq",
        "regions",
        "code VARCHAR, name VARCHAR",
        f"('w', 'West', 'hq', {loaded}, NULL)",
    )
    create_staging_views(con, SOURCES)
    con.execute("CREATE SCHEMA core")
    con.execute(
        "CREATE TABLE core.customers (customer_id VARCHAR PRIMARY KEY, branch_id VARCHAR NOT NULL, "
        "name VARCHAR, _source VARCHAR NOT NULL, _loaded_at TIMESTAMP NOT NULL)"
    )
    con.execute(
        "CREATE TABLE core.orders (order_id VARCHAR PRIMARY KEY, branch_id VARCHAR NOT NULL, "
        "customer_id VARCHAR, amount DECIMAL(18,2), _source VARCHAR NOT NULL, "
        "_loaded_at TIMESTAMP NOT NULL)"
    )
    con.execute(
        "CREATE TABLE core.summary (branch_id VARCHAR PRIMARY KEY, customers INTEGER, "
        "revenue DECIMAL(18,2), _source VARCHAR NOT NULL, _loaded_at TIMESTAMP NOT NULL)"
    )
    yield con
    con.close()


def _write(models_dir: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = models_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return models_dir


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "models",
        {"core/customers.sql": CUSTOMERS, "core/orders.sql": ORDERS, "core/summary.sql": SUMMARY},
    )


# --- staging views ------------------------------------------------------------------------------


def test_source_views_leave_out_rows_deleted_at_the_source(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT id, name FROM stg_shop_north.customers ORDER BY id").fetchall()
    assert rows == [(1, "ann"), (2, "bob")]
    assert con.execute("SELECT count(*) FROM raw_shop_north.customers").fetchone() == (3,)


def test_source_views_keep_every_raw_column_and_add_the_branch(
    con: duckdb.DuckDBPyConnection,
) -> None:
    columns = con.execute("DESCRIBE stg_shop_north.customers").fetchall()
    assert [(c[0], c[1]) for c in columns] == [
        ("id", "INTEGER"),
        ("name", "VARCHAR"),
        ("_source", "VARCHAR"),
        ("_loaded_at", "TIMESTAMP"),
        ("_deleted_at", "TIMESTAMP"),
        ("_branch", "VARCHAR"),
    ]
    assert con.execute("SELECT DISTINCT _branch FROM stg_shop_north.customers").fetchall() == [
        ("north",)
    ]


def test_group_view_stacks_its_members_told_apart_by_source_and_branch(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "SELECT _source, _branch, id, name FROM stg_shop.customers ORDER BY _source, id"
    ).fetchall()
    assert rows == [
        ("shop_north", "north", 1, "ann"),
        ("shop_north", "north", 2, "bob"),
        ("shop_south", "south", 1, "cat"),
    ]


def test_group_view_of_a_table_only_some_members_have(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT _source, id FROM stg_shop.orders ORDER BY id").fetchall()
    assert rows == [("shop_north", 10), ("shop_north", 11)]


def test_source_without_branch_has_a_null_varchar_branch(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute("SELECT _branch, typeof(_branch), name FROM stg_hq.regions").fetchone()
    assert row == (None, "VARCHAR", "West")


def test_create_staging_views_names_every_view(con: duckdb.DuckDBPyConnection) -> None:
    assert create_staging_views(con, SOURCES) == [
        "stg_shop_north.customers",
        "stg_shop_north.orders",
        "stg_shop_south.customers",
        "stg_hq.regions",
        "stg_shop.customers",
        "stg_shop.orders",
    ]


def test_staging_is_rebuilt_without_stale_views(con: duckdb.DuckDBPyConnection) -> None:
    fewer = (StagingSource("shop_north", "shop", "north", ("customers",)), *SOURCES[1:])
    create_staging_views(con, fewer)
    views = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN ('stg_shop', 'stg_shop_north') ORDER BY 1"
    ).fetchall()
    assert views == [("stg_shop.customers",), ("stg_shop_north.customers",)]


def test_a_group_named_like_a_source_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    clash = (*SOURCES, StagingSource("other", "hq", "east", ("customers",)))
    with pytest.raises(TransformError) as caught:
        create_staging_views(con, clash)
    assert str(caught.value) == (
        "staging: group 'hq' has the name of a source; both would be stg_hq, so rename one of them"
    )


def test_staging_sources_lists_the_loaded_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    settings = [
        SourceSettings(name="shop_north", url="sqlite:///n.db", group="shop", branch="north"),
        SourceSettings(name="hq", url="sqlite:///hq.db"),
        SourceSettings(name="not_loaded", url="sqlite:///x.db"),
    ]
    assert staging_sources(con, settings) == [
        StagingSource("shop_north", "shop", "north", ("customers", "orders")),
        StagingSource("hq", None, None, ("regions",)),
        StagingSource("not_loaded", None, None, ()),
    ]


# --- loading and ordering -----------------------------------------------------------------------


def test_load_models_reads_dependencies_without_cte_names(models_dir: Path) -> None:
    models = {m.name: m for m in load_models(models_dir, targets=TARGETS)}
    assert models["customers"].depends_on == frozenset({"stg_shop.customers"})
    assert models["summary"].depends_on == frozenset({"core.customers", "core.orders"})
    assert models["summary"].schema == "core"
    assert models["summary"].path == models_dir / "core" / "summary.sql"
    assert models["summary"].sql == SUMMARY


def test_a_model_reading_core_runs_after_the_model_of_that_table(tmp_path: Path) -> None:
    # alphabetically a_total would come first; it reads core.z_base, so it must wait
    models_dir = _write(
        tmp_path / "models",
        {
            "core/a_total.sql": "SELECT * FROM core.m_middle",
            "core/m_middle.sql": "SELECT * FROM core.z_base",
            "core/z_base.sql": "SELECT 1 AS x",
            "core/b_free.sql": "SELECT 2 AS x",
        },
    )
    targets = {"core.a_total", "core.m_middle", "core.z_base", "core.b_free"}
    order = [m.name for m in load_models(models_dir, targets=targets)]
    assert order == ["b_free", "z_base", "m_middle", "a_total"]


def test_order_models_reorders_whatever_order_it_is_given(models_dir: Path) -> None:
    models = load_models(models_dir, targets=TARGETS)
    assert [m.name for m in order_models(reversed(models))] == ["customers", "orders", "summary"]


# --- running ------------------------------------------------------------------------------------


def test_run_models_fills_the_targets_in_order(
    con: duckdb.DuckDBPyConnection, models_dir: Path
) -> None:
    seen: list[str] = []
    runs = run_models(
        con, load_models(models_dir, targets=TARGETS), progress=lambda m: seen.append(m.target)
    )
    assert [(r.name, r.rows) for r in runs] == [
        ("core.customers", 3),
        ("core.orders", 2),
        ("core.summary", 2),
    ]
    assert all(r.seconds >= 0 for r in runs)
    assert seen == ["core.customers", "core.orders", "core.summary"]
    assert con.execute("SELECT * FROM core.customers ORDER BY customer_id").fetchall() == [
        ("shop_north:1", "north", "ANN", "shop_north", LOADED),
        ("shop_north:2", "north", "BOB", "shop_north", LOADED),
        ("shop_south:1", "south", "CAT", "shop_south", LOADED),
    ]
    summary = con.execute("SELECT branch_id, customers, revenue FROM core.summary ORDER BY 1")
    assert [(b, n, str(r)) for b, n, r in summary.fetchall()] == [
        ("north", 2, "120.75"),
        ("south", 1, "0.00"),
    ]


def test_run_models_replaces_the_previous_content(
    con: duckdb.DuckDBPyConnection, models_dir: Path
) -> None:
    con.execute(
        "INSERT INTO core.customers VALUES ('old:1', 'north', 'OLD', 'old', TIMESTAMP '2020-01-01')"
    )
    models = load_models(models_dir, targets=TARGETS)
    run_models(con, models)
    con.execute("UPDATE raw_shop_south.customers SET _deleted_at = TIMESTAMP '2026-01-03'")
    run_models(con, models)
    ids = con.execute("SELECT customer_id FROM core.customers ORDER BY 1").fetchall()
    assert ids == [("shop_north:1",), ("shop_north:2",)]


def test_a_failing_model_leaves_every_target_as_it_was(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    first = _write(
        tmp_path / "first",
        {"core/customers.sql": CUSTOMERS, "core/orders.sql": ORDERS, "core/summary.sql": SUMMARY},
    )
    run_models(con, load_models(first, targets=TARGETS))
    before = {
        table: con.execute(f"SELECT * FROM core.{table} ORDER BY 1").fetchall()
        for table in ("customers", "orders", "summary")
    }
    # the second run changes customers and orders (which run first) and then fails in summary:
    # a value that does not fit its column only shows while the rows are written
    second = _write(
        tmp_path / "second",
        {
            "core/customers.sql": CUSTOMERS.replace("upper(c.name)", "lower(c.name) || '!'"),
            "core/orders.sql": ORDERS.replace("o.amount,", "o.amount * 2 AS amount,"),
            "core/summary.sql": SUMMARY.replace("c.customers,", "'many' AS customers,", 1),
        },
    )
    with pytest.raises(TransformError) as caught:
        run_models(con, load_models(second, targets=TARGETS))
    assert str(caught.value) == (
        "second/core/summary.sql:9: Conversion Error: Could not convert string 'many' to INT32 "
        "when casting from source column customers"
    )
    after = {
        table: con.execute(f"SELECT * FROM core.{table} ORDER BY 1").fetchall()
        for table in ("customers", "orders", "summary")
    }
    assert after == before
    assert before["customers"][0][2] == "ANN"
    # the connection is usable again: the transaction was rolled back, not left open
    run_models(con, load_models(first, targets=TARGETS))


def test_run_models_checks_every_model_before_writing_anything(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    models_dir = _write(
        tmp_path / "models",
        {
            "core/customers.sql": CUSTOMERS,
            "core/orders.sql": ORDERS.replace("o.amount,", "o.amuont AS amount,"),
        },
    )
    with pytest.raises(TransformError) as caught:
        run_models(con, load_models(models_dir, targets=TARGETS))
    assert caught.value.path == "models/core/orders.sql"
    assert caught.value.line == 6
    assert con.execute("SELECT count(*) FROM core.customers").fetchone() == (0,)


def test_transform_error_is_a_located_user_error(tmp_path: Path) -> None:
    models_dir = _write(tmp_path / "models", {"core/customers.sql": "SELECT\n  1 +\n"})
    with pytest.raises(TransformError) as caught:
        load_models(models_dir, targets=TARGETS)
    error = caught.value
    assert isinstance(error, UserError) and isinstance(error, EtlError)
    assert (error.path, error.line) == ("models/core/customers.sql", 2)
    assert len(error.problems) == 1


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    models_dir = _write(
        tmp_path / "models",
        {
            "core/customers.sql": "SELECT id\nFROM raw_shop_north.customers",
            "core/orders.sql": "SELECT (1",
            "core/sumary.sql": "SELECT 1 AS x\nFROM customers",
        },
    )
    with pytest.raises(TransformError) as caught:
        load_models(models_dir, targets=TARGETS)
    assert str(caught.value).splitlines() == [
        "models/core/customers.sql:2: models read staging views, not raw tables: use "
        "stg_shop_north.customers instead of raw_shop_north.customers (it leaves out rows "
        "deleted at the source)",
        "models/core/orders.sql:1: syntax error: Expecting ), near '1'",
        "models/core/sumary.sql:1: no table core.sumary to fill — did you mean core.summary? "
        "(the file is named after its target table)",
        "models/core/sumary.sql:2: table 'customers' needs its schema: "
        "stg_<source or group>.customers or core.customers",
    ]


# --- broken models and the message each gives ---------------------------------------------------

LOAD_TIME: list[tuple[str, dict[str, str], str]] = [
    (
        "syntax_error_with_line",
        {
            "core/customers.sql": (
                "SELECT\n    id,\n    name\nFROM stg_shop.customers\nWHERE (id > 1\n"
            )
        },
        "models/core/customers.sql:5: syntax error: Expecting ), near '1'",
    ),
    (
        "incomplete_expression",
        {"core/customers.sql": "SELECT id, name\nFROM stg_shop.customers\nWHERE id >\n"},
        "models/core/customers.sql:3: syntax error: incomplete expression, near '>'",
    ),
    (
        "unclosed_string",
        {"core/customers.sql": "SELECT id,\n  'north AS branch_id\nFROM stg_shop.customers"},
        "models/core/customers.sql:2: syntax error: a string ('…') is never closed",
    ),
    (
        "not_a_select",
        {"core/customers.sql": "-- clear it first\nDELETE FROM core.customers"},
        "models/core/customers.sql:2: a model is one SELECT statement (CTEs allowed); "
        "found a DELETE statement",
    ),
    (
        "two_statements",
        {"core/customers.sql": "SELECT 1 AS id;\n\nSELECT 2 AS id;\n"},
        "models/core/customers.sql:3: a model is one SELECT statement (CTEs allowed), "
        "but the file has 2",
    ),
    (
        "empty_file",
        {"core/customers.sql": "-- to do\n"},
        "models/core/customers.sql:1: a model is one SELECT statement (CTEs allowed), "
        "but the file has none",
    ),
    (
        "unknown_target_did_you_mean",
        {"core/customer.sql": "SELECT 1 AS id"},
        "models/core/customer.sql:1: no table core.customer to fill — did you mean "
        "core.customers? (the file is named after its target table)",
    ),
    (
        "unknown_target_without_a_near_name",
        {"mart/kpis.sql": "SELECT 1 AS id"},
        "models/mart/kpis.sql:1: no table mart.kpis to fill; models fill the tables of core, "
        "one file per table",
    ),
    (
        "dependency_cycle",
        {
            "core/customers.sql": "SELECT *\nFROM core.orders",
            "core/orders.sql": "WITH s AS (SELECT 1)\nSELECT *\nFROM core.summary",
            "core/summary.sql": "SELECT * FROM core.customers",
        },
        "models/core/customers.sql:2: dependency cycle: "
        "core.customers → core.orders → core.summary → core.customers",
    ),
    (
        "model_reading_its_own_table",
        {"core/customers.sql": "SELECT * FROM core.customers"},
        "models/core/customers.sql:1: dependency cycle: core.customers → core.customers",
    ),
    (
        "reads_a_raw_table",
        {"core/customers.sql": "SELECT id\nFROM raw_shop_north.customers"},
        "models/core/customers.sql:2: models read staging views, not raw tables: use "
        "stg_shop_north.customers instead of raw_shop_north.customers (it leaves out rows "
        "deleted at the source)",
    ),
    (
        "table_without_schema",
        {"core/customers.sql": "SELECT id\nFROM customers"},
        "models/core/customers.sql:2: table 'customers' needs its schema: "
        "stg_<source or group>.customers or core.customers",
    ),
    (
        "file_outside_a_schema_folder",
        {"customers.sql": "SELECT 1"},
        "models/customers.sql: a model file goes in <schema>/<table>.sql, e.g. core/dim_client.sql",
    ),
]


@pytest.mark.parametrize(
    ("files", "message"), [c[1:] for c in LOAD_TIME], ids=[c[0] for c in LOAD_TIME]
)
def test_broken_model_at_load(tmp_path: Path, files: dict[str, str], message: str) -> None:
    models_dir = _write(tmp_path / "models", files)
    with pytest.raises(TransformError) as caught:
        load_models(models_dir, targets=TARGETS)
    assert str(caught.value) == message


def test_unknown_target_is_checked_against_the_canonical_model_by_default(
    tmp_path: Path,
) -> None:
    models_dir = _write(tmp_path / "models", {"core/dim_clinet.sql": "SELECT 1 AS client_id"})
    with pytest.raises(TransformError) as caught:
        load_models(models_dir)
    assert str(caught.value) == (
        "models/core/dim_clinet.sql:1: no table core.dim_clinet to fill — did you mean "
        "core.dim_client? (the file is named after its target table)"
    )


RUN_TIME: list[tuple[str, str, str]] = [
    (
        "missing_column_in_a_staging_view",
        "SELECT\n    c._source || ':' || c.id AS customer_id,\n    c._branch AS branch_id,\n"
        "    c.nme AS name,\n    c._source,\n    c._loaded_at\nFROM stg_shop.customers AS c\n",
        'models/core/customers.sql:4: Binder Error: Values list "c" does not have a column '
        "named \"nme\" — c is stg_shop.customers; did you mean 'name'?",
    ),
    (
        "unknown_staging_table",
        "SELECT *\nFROM stg_shop.customer",
        "models/core/customers.sql:2: unknown table stg_shop.customer — "
        "did you mean stg_shop.customers?",
    ),
    (
        "unknown_source_schema",
        "SELECT *\nFROM stg_warehouse.pallets",
        "models/core/customers.sql:2: unknown table stg_warehouse.pallets: "
        "no source or group 'warehouse' has that table loaded",
    ),
    (
        "column_the_target_lacks",
        CUSTOMERS.replace("upper(c.name) AS name", "upper(c.name) AS nmae"),
        "models/core/customers.sql:5: column 'nmae' is not a column of core.customers — "
        "did you mean 'name'?",
    ),
    (
        "required_column_missing",
        CUSTOMERS.replace("    c._branch AS branch_id,\n", ""),
        "models/core/customers.sql:2: required column 'branch_id' of core.customers is missing "
        "from the SELECT",
    ),
    (
        "duplicate_key",
        CUSTOMERS.replace("c._source || ':' || c.id AS customer_id", "c.name AS customer_id")
        .replace("upper(c.name) AS name", "'x' AS name")
        .replace("FROM stg_shop.customers AS c", "FROM stg_shop.customers AS c, range(2)"),
        "models/core/customers.sql: Constraint Error: PRIMARY KEY or UNIQUE constraint "
        'violation: duplicate key "ann"',
    ),
]


@pytest.mark.parametrize(
    ("sql", "message"), [c[1:] for c in RUN_TIME], ids=[c[0] for c in RUN_TIME]
)
def test_broken_model_at_run(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, sql: str, message: str
) -> None:
    models_dir = _write(tmp_path / "models", {"core/customers.sql": sql})
    models = load_models(models_dir, targets=TARGETS)
    with pytest.raises(TransformError) as caught:
        run_models(con, models)
    assert str(caught.value) == message
    assert con.execute("SELECT count(*) FROM core.customers").fetchone() == (0,)


def test_a_target_missing_from_the_warehouse(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    models_dir = _write(tmp_path / "models", {"core/summary.sql": SUMMARY})
    con.execute("DROP TABLE core.summary")
    with pytest.raises(TransformError) as caught:
        run_models(con, load_models(models_dir, targets=TARGETS))
    assert str(caught.value) == (
        "models/core/summary.sql:1: target table core.summary does not exist in the warehouse; "
        "create the core schema before running models"
    )


def test_model_is_a_frozen_value(models_dir: Path) -> None:
    model = load_models(models_dir, targets=TARGETS)[0]
    assert isinstance(model, Model)
    with pytest.raises(AttributeError):
        model.name = "other"  # type: ignore[misc]
