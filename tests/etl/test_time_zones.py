"""Dates that cannot shift silently: the time-zone macros every snapshot has, and the run's
warning when a core timestamp is a local date cast to midnight UTC."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from etl import pipeline
from etl.midnight import midnight_warnings
from kpiboard import appdb, sandbox
from kpiboard.config import load_settings
from kpiboard.core_model import create_core_schema
from kpiboard.warehouse import start_session

LA = "America/Los_Angeles"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = start_session(duckdb.connect(":memory:"))
    create_core_schema(connection)
    yield connection
    connection.close()


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


# --- the macros -------------------------------------------------------------------------------

CASES = [
    # a local date is its local midnight: the 1st of March in Los Angeles starts at 08:00 UTC
    (f"utc_from_local(DATE '2024-03-01', '{LA}')", dt.datetime(2024, 3, 1, 8, 0)),
    (f"utc_from_local(TIMESTAMP '2024-07-01 17:45:00', '{LA}')", dt.datetime(2024, 7, 2, 0, 45)),
    ("utc_from_local(DATE '2024-03-01', 'Europe/Berlin')", dt.datetime(2024, 2, 29, 23, 0)),
    ("utc_from_local(DATE '2024-03-01', 'UTC')", dt.datetime(2024, 3, 1, 0, 0)),
    # spring forward, 2024-03-10 in Los Angeles: 02:00–02:59 does not exist; a time in the gap
    # is read with the offset before the change (-8), i.e. it lands an hour later on the clock
    (
        f"utc_from_local(TIMESTAMP '2024-03-10 01:59:59', '{LA}')",
        dt.datetime(2024, 3, 10, 9, 59, 59),
    ),
    (f"utc_from_local(TIMESTAMP '2024-03-10 02:30:00', '{LA}')", dt.datetime(2024, 3, 10, 10, 30)),
    (f"utc_from_local(TIMESTAMP '2024-03-10 03:00:00', '{LA}')", dt.datetime(2024, 3, 10, 10, 0)),
    # fall back, 2024-11-03: 01:00–01:59 happens twice; it is read as the second one (standard
    # time, -8), as PostgreSQL does
    (f"utc_from_local(TIMESTAMP '2024-11-03 01:30:00', '{LA}')", dt.datetime(2024, 11, 3, 9, 30)),
    (f"utc_from_local(TIMESTAMP '2024-11-03 00:59:00', '{LA}')", dt.datetime(2024, 11, 3, 7, 59)),
    # Santiago skips its midnight (00:00 → 01:00 on 2024-09-08): the date still starts that day
    ("utc_from_local(DATE '2024-09-08', 'America/Santiago')", dt.datetime(2024, 9, 8, 4, 0)),
    # UTC → local
    (
        f"local_timestamp(TIMESTAMP '2024-03-01 07:59:59', '{LA}')",
        dt.datetime(2024, 2, 29, 23, 59, 59),
    ),
    (f"local_date(TIMESTAMP '2024-03-01 07:59:59', '{LA}')", dt.date(2024, 2, 29)),
    (f"local_date(TIMESTAMP '2024-03-01 08:00:00', '{LA}')", dt.date(2024, 3, 1)),
    # both occurrences of the repeated hour are told apart going UTC → local
    (f"local_timestamp(TIMESTAMP '2024-11-03 08:30:00', '{LA}')", dt.datetime(2024, 11, 3, 1, 30)),
    (f"local_timestamp(TIMESTAMP '2024-11-03 09:30:00', '{LA}')", dt.datetime(2024, 11, 3, 1, 30)),
    (f"local_timestamp(TIMESTAMP '2024-03-10 10:30:00', '{LA}')", dt.datetime(2024, 3, 10, 3, 30)),
    # null in, null out
    (f"utc_from_local(CAST(NULL AS DATE), '{LA}')", None),
    ("local_date(TIMESTAMP '2024-03-01 08:00:00', NULL)", None),
]


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0] for c in CASES])
def test_time_zone_macros(con: duckdb.DuckDBPyConnection, sql: str, expected: object) -> None:
    assert _one(con, f"SELECT {sql}") == expected


def test_utc_from_local_returns_a_naive_utc_timestamp(con: duckdb.DuckDBPyConnection) -> None:
    kinds = con.execute(
        f"SELECT typeof(utc_from_local(DATE '2024-03-01', '{LA}')), "
        f"typeof(local_timestamp(TIMESTAMP '2024-03-01 00:00:00', '{LA}')), "
        f"typeof(local_date(TIMESTAMP '2024-03-01 00:00:00', '{LA}'))"
    ).fetchone()
    assert kinds == ("TIMESTAMP", "TIMESTAMP", "DATE")


@pytest.mark.parametrize(
    "zone", [LA, "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Kiritimati"]
)
def test_every_local_date_comes_back_as_itself(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    """A local date sent to UTC and read back in its zone is the same date, every day of two
    years, DST changes included; and its UTC instant is never midnight UTC."""
    wrong = _one(
        con,
        f"SELECT count(*) FROM range(DATE '2024-01-01', DATE '2026-01-01', INTERVAL 1 DAY) t(d) "
        f"WHERE local_date(utc_from_local(CAST(d AS DATE), '{zone}'), '{zone}') <> CAST(d AS DATE)",
    )
    assert wrong == 0


def test_the_macros_work_in_the_sandbox(tmp_path: Path) -> None:
    """``kpiboard sql`` and KPI SQL read snapshots through the sandbox: the macros are in the
    snapshot, and the statement check lets them be called."""
    path = tmp_path / "snapshot.duckdb"
    writer = duckdb.connect(str(path))
    create_core_schema(writer)
    writer.close()
    reader = sandbox.open_snapshot(path)
    try:
        cursor = sandbox.run(
            reader,
            f"SELECT utc_from_local(DATE '2024-03-01', '{LA}'), "
            f"local_date(TIMESTAMP '2024-03-01 07:00:00', '{LA}')",
            who="kpiboard sql",
        )
        assert cursor.fetchall() == [(dt.datetime(2024, 3, 1, 8, 0), dt.date(2024, 2, 29))]
    finally:
        reader.close()


# --- the midnight warning ---------------------------------------------------------------------


def _branches(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO core.dim_branch (branch_id, name, timezone, currency, _source, _loaded_at) "
        f"VALUES ('la', 'LA', '{LA}', 'USD', 't', now()), "
        "('london', 'London', 'Europe/London', 'GBP', 't', now()), "
        "('utc', 'Online', 'UTC', 'USD', 't', now()), "
        "('none', 'No zone', NULL, 'USD', 't', now())"
    )


def _deals(
    con: duckdb.DuckDBPyConnection, branch: str, n: int, *, timed: int = 0, start: int = 0
) -> None:
    """``n`` deals of ``branch`` opened at midnight UTC on consecutive days, the first ``timed``
    of them at 14:25 instead."""
    con.execute(
        "INSERT INTO core.fct_deal (deal_id, branch_id, opened_at, _source, _loaded_at) "
        "SELECT ? || ':' || i, ?, TIMESTAMP '2024-03-01' + INTERVAL (i) DAY "
        "+ CASE WHEN i < ? THEN INTERVAL 865 MINUTE ELSE INTERVAL 0 MINUTE END, 't', now() "
        "FROM range(?, ?) t(i)",
        [branch, branch, start + timed, start, start + n],
    )


def test_dates_cast_to_midnight_utc_are_named_with_the_fix(con: duckdb.DuckDBPyConnection) -> None:
    _branches(con)
    _deals(con, "la", 20)
    [warning] = midnight_warnings(con)
    assert warning.startswith(
        "core.fct_deal.opened_at: all 20 values of branch 'la' (America/Los_Angeles) are at "
        "00:00:00 UTC"
    )
    assert "utc_from_local(<the date>, 'America/Los_Angeles')" in warning
    assert "DATE column" in warning


@pytest.mark.parametrize(
    ("branch", "n", "timed", "warned"),
    [
        ("la", 20, 0, True),
        ("la", 19, 0, False),  # too few to mean anything
        ("la", 40, 1, False),  # one value with a time: real times that happen to be midnight
        ("london", 20, 0, True),  # GMT in winter, but not all year
        ("utc", 50, 0, False),  # midnight UTC is midnight there
        ("none", 50, 0, False),  # no zone known
    ],
)
def test_midnight_warning_fires_only_on_a_zone_not_utc_with_enough_rows_all_at_midnight(
    con: duckdb.DuckDBPyConnection, branch: str, n: int, timed: int, warned: bool
) -> None:
    _branches(con)
    _deals(con, branch, n, timed=timed)
    assert bool(midnight_warnings(con)) is warned


def test_each_branch_is_judged_on_its_own_rows(con: duckdb.DuckDBPyConnection) -> None:
    _branches(con)
    _deals(con, "la", 25)
    _deals(con, "london", 25, timed=25, start=100)
    warnings = midnight_warnings(con)
    assert [w.split(":")[0] + " " + w.split("'")[1] for w in warnings] == [
        "core.fct_deal.opened_at la"
    ]


# --- in a run ---------------------------------------------------------------------------------

MODELS = {
    "dim_branch": """
        SELECT 'la' AS branch_id, 'Los Angeles' AS name, 'America/Los_Angeles' AS timezone,
               'USD' AS currency, 'config' AS _source, TIMESTAMP '2024-01-01' AS _loaded_at
    """,
    "fct_deal": """
        SELECT o._source || ':' || o.id AS deal_id, o._branch AS branch_id,
               {opened_at} AS opened_at, o._source, o._loaded_at
        FROM stg_orders.orders AS o
        LEFT JOIN core.dim_branch AS b ON b.branch_id = o._branch
    """,
}


def _orders_project(folder: Path, opened_at: str) -> Path:
    source = folder / "orders.sqlite"
    engine = sa.create_engine(f"sqlite:///{source}")
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE orders (id INTEGER PRIMARY KEY, order_date DATE)"))
        db.execute(
            sa.text("INSERT INTO orders VALUES (:id, :d)"),
            [{"id": i, "d": str(dt.date(2024, 3, 1) + dt.timedelta(days=i))} for i in range(30)],
        )
    engine.dispose()
    (folder / "kpiboard.toml").write_text(
        textwrap.dedent(
            f"""
            [[sources]]
            name = "orders"
            url = "sqlite:///{source}"
            branch = "la"
            """
        ),
        encoding="utf-8",
    )
    _write_models(folder, opened_at)
    return folder


def _write_models(folder: Path, opened_at: str) -> None:
    core = folder / "models" / "core"
    core.mkdir(parents=True, exist_ok=True)
    for name, sql in MODELS.items():
        text = textwrap.dedent(sql.replace("{opened_at}", opened_at)).strip()
        (core / f"{name}.sql").write_text(text + "\n", encoding="utf-8")


def test_a_run_warns_of_a_date_cast_to_a_timestamp_and_records_it(tmp_path: Path) -> None:
    project = _orders_project(tmp_path, "CAST(o.order_date AS TIMESTAMP)")
    settings = load_settings(project)
    result = pipeline.run(settings)
    assert result.status == pipeline.SUCCESS
    [warning] = result.warnings
    assert warning.startswith("core.fct_deal.opened_at: all 30 values of branch 'la'")
    engine = appdb.engine(settings)
    with engine.connect() as db:
        recorded = db.execute(
            sa.select(appdb.etl_runs.c.warnings).where(appdb.etl_runs.c.run_id == result.run_id)
        ).scalar_one()
    engine.dispose()
    assert recorded == warning

    # the fix the message names: the local date's midnight, in the branch's zone
    _write_models(project, "utc_from_local(o.order_date, b.timezone)")
    result = pipeline.run(settings)
    assert result.warnings == []
    con = settings.open_warehouse().connect()
    try:
        first = con.execute(
            "SELECT min(opened_at), min(local_date(opened_at, 'America/Los_Angeles')) "
            "FROM core.fct_deal"
        ).fetchone()
    finally:
        con.close()
    assert first == (dt.datetime(2024, 3, 1, 8, 0), dt.date(2024, 3, 1))
