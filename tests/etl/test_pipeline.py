"""The pipeline on real SQLite, PostgreSQL and MariaDB sources: full and incremental loads, soft
and hard deletes, schema drift, bad sources, publishing, run history, crash safety."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from etl import pipeline
from kpiboard import urls
from kpiboard.config import load_settings
from kpiboard.faults import ENV as CRASH_ENV
from kpiboard.warehouse import WarehouseBusy

T0 = dt.datetime(2026, 1, 1, 9, 0, 0)

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("is_deleted", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
notes = sa.Table(  # no incremental column: copied in full every run
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text),
)


def _rows(n: int, start: int = 1) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "name": f"item {i}\twith tab",
            "amount": Decimal(i) + Decimal("0.05"),
            "is_deleted": False,
            "updated_at": T0 + dt.timedelta(minutes=i),
        }
        for i in range(start, start + n)
    ]


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh source database with ``items`` and ``notes``, on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/source.sqlite"
        yield from _seeded(url)
        return
    fixture = "postgres_template" if request.param == "postgres" else "mariadb_template"
    template: str = request.getfixturevalue(fixture)
    yield from _seeded(template.replace("{db}", "stock"))


def _seeded(url: str) -> Iterator[str]:
    parsed = urls.parse_url(url)
    urls.ensure_database(parsed)
    engine = sa.create_engine(parsed)
    with engine.begin() as con:
        metadata.drop_all(con)
        metadata.create_all(con)
        con.execute(items.insert(), _rows(50))
        con.execute(notes.insert(), [{"id": i, "body": f"note {i}"} for i in range(1, 6)])
    engine.dispose()
    yield url


def _project(folder: Path, source_url: str, *, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kpiboard.toml").write_text(
        textwrap.dedent(
            f"""
            [[sources]]
            name = "shop"
            url = "{source_url}"
            {extra}
            """
        ),
        encoding="utf-8",
    )
    return folder


def _execute(url: str, *statements: sa.Executable | str) -> None:
    engine = sa.create_engine(urls.parse_url(url))
    with engine.begin() as con:
        for statement in statements:
            con.execute(sa.text(statement) if isinstance(statement, str) else statement)
    engine.dispose()


def _published(project: Path, sql: str) -> list[tuple[object, ...]]:
    con = load_settings(project).open_warehouse().connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


LIVE_ITEMS = (
    "SELECT id, name, amount, is_deleted, updated_at FROM raw_shop.items "
    "WHERE _deleted_at IS NULL ORDER BY id"
)


def test_full_load_copies_rows_and_types_exactly(source_url: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "p", source_url)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    rows = _published(project, LIVE_ITEMS)
    assert len(rows) == 50
    assert rows[0] == (1, "item 1\twith tab", Decimal("1.05"), False, T0 + dt.timedelta(minutes=1))
    types = dict(
        _published(
            project,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw_shop' AND table_name = 'items'",
        )
    )
    assert types["amount"] == "DECIMAL(12,2)"
    assert types["updated_at"] == "TIMESTAMP"
    assert types["is_deleted"] == "BOOLEAN"
    by_table = {t.table: t for t in result.tables}
    assert by_table["items"].rows_read == by_table["items"].rows_loaded == 50
    assert by_table["items"].watermark_after == "2026-01-01 09:50:00"
    assert _published(project, "SELECT count(*) FROM raw_shop.notes") == [(5,)]


def test_incremental_run_equals_a_fresh_full_load(source_url: str, tmp_path: Path) -> None:
    project = _project(tmp_path / "p", source_url)
    pipeline.run(load_settings(project))
    later = T0 + dt.timedelta(days=1)
    _execute(
        source_url,
        items.insert().values(_rows(3, start=51)[0] | {"updated_at": later}),
        items.update()
        .where(items.c.id == 7)
        .values(name="renamed", amount=Decimal("70.00"), updated_at=later),
        items.update().where(items.c.id == 8).values(is_deleted=True, updated_at=later),  # soft
        items.delete().where(items.c.id.in_([9, 10])),  # hard
        notes.delete().where(notes.c.id == 1),
    )
    result = pipeline.run(load_settings(project), check_deletes=True)
    assert result.status == pipeline.SUCCESS, result.errors
    by_table = {t.table: t for t in result.tables}
    assert by_table["items"].mode == "incremental"
    # the two changed rows, the new one, and the row at the watermark's second (read again by
    # design: ">=" never misses a row committed late within that second)
    assert by_table["items"].rows_read == 4
    assert by_table["items"].rows_deleted == 2

    fresh = _project(tmp_path / "fresh", source_url)
    pipeline.run(load_settings(fresh))
    assert _published(project, LIVE_ITEMS) == _published(fresh, LIVE_ITEMS)
    assert _published(project, "SELECT * FROM raw_shop.notes ORDER BY id") != []
    assert _published(
        project, "SELECT id FROM raw_shop.items WHERE _deleted_at IS NOT NULL ORDER BY id"
    ) == [(9,), (10,)]
    assert _published(project, "SELECT is_deleted FROM raw_shop.items WHERE id = 8") == [(True,)]
    assert _published(project, "SELECT count(*) FROM stg_shop.items") == [(49,)]


def test_new_source_column_is_added_and_a_dropped_one_stops_only_its_table(
    source_url: str, tmp_path: Path
) -> None:
    project = _project(tmp_path / "p", source_url)
    pipeline.run(load_settings(project))
    _execute(source_url, "ALTER TABLE items ADD COLUMN colour VARCHAR(20)")
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    columns = [
        r[0]
        for r in _published(
            project,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'items' AND table_schema = 'raw_shop'",
        )
    ]
    assert "colour" in columns

    _execute(source_url, "ALTER TABLE notes DROP COLUMN body")
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.PARTIAL
    failed = {t.table: t.error for t in result.tables if t.error}
    assert list(failed) == ["notes"]
    assert "source shop.notes: column 'body' dropped" in failed["notes"]
    assert _published(project, "SELECT count(*) FROM raw_shop.notes") == [(5,)]  # as it was


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://postgres@127.0.0.1:1/nowhere", "Connection refused"),
        (
            "postgresql://nobody_at_all@127.0.0.1:5432/postgres",
            'role "nobody_at_all" does not exist',
        ),
        ("mysql://root:wrong@127.0.0.1:3306/mysql", "Access denied for user 'root'"),
    ],
    ids=["unreachable-host", "unknown-user", "wrong-password"],
)
def test_a_bad_source_fails_alone_with_a_clear_message(
    source_url: str, tmp_path: Path, url: str, message: str
) -> None:
    project = tmp_path / "p"
    _project(project, source_url)
    with (project / "kpiboard.toml").open("a") as fh:
        fh.write(f'\n[[sources]]\nname = "broken"\nurl = "{url}"\n')
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.PARTIAL
    assert len(result.errors) == 1
    assert result.errors[0].startswith("source broken: ")
    assert message in result.errors[0]
    assert _published(project, "SELECT count(*) FROM raw_shop.items") == [(50,)]


def test_a_configured_table_missing_from_the_source_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url, extra='tables = ["items", "itemz"]')
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.PARTIAL
    assert result.errors == [
        "source shop: table 'itemz' is configured but the database has none — did you mean 'items'?"
    ]


def test_readers_keep_their_snapshot_while_the_next_is_published(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    pipeline.run(load_settings(project))
    reader = load_settings(project).open_warehouse().connect()
    _execute(
        url,
        items.insert().values(_rows(1, start=100)[0] | {"updated_at": T0 + dt.timedelta(days=2)}),
    )
    second = pipeline.run(load_settings(project))
    assert reader.execute("SELECT count(*) FROM raw_shop.items").fetchall() == [(50,)]
    reader.close()
    assert _published(project, "SELECT count(*) FROM raw_shop.items") == [(51,)]
    assert load_settings(project).open_warehouse().published() == second.snapshot


def test_runs_are_recorded_with_per_table_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    first = pipeline.run(load_settings(project))
    engine = sa.create_engine(f"sqlite:///{project}/app.sqlite")
    with engine.connect() as con:
        runs = con.execute(sa.text("SELECT run_id, status, snapshot FROM etl_runs")).fetchall()
        tables = con.execute(
            sa.text(
                "SELECT table_name, mode, rows_read, watermark_after FROM etl_table_runs "
                "ORDER BY table_name"
            )
        ).fetchall()
    engine.dispose()
    assert runs == [(first.run_id, "success", first.snapshot.name if first.snapshot else None)]
    assert tables == [("items", "full", 50, "2026-01-01 09:50:00"), ("notes", "full", 5, None)]


CRASH_POINTS = [
    "started",
    "batch:shop.items",
    "commit:shop.items",
    "extracted",
    "transformed",
    "publishing",
    "renamed",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_run_killed_anywhere_leaves_the_published_snapshot_and_the_rerun_converges(
    tmp_path: Path, point: str
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url, extra="")
    (project / "kpiboard.toml").write_text(
        (project / "kpiboard.toml").read_text() + "\n[etl]\nbatch_rows = 1000\n"
    )
    pipeline.run(load_settings(project))
    before = _published(project, LIVE_ITEMS)
    _execute(
        url,
        items.update()
        .where(items.c.id == 3)
        .values(name="changed", updated_at=T0 + dt.timedelta(days=3)),
        items.insert().values(_rows(1, start=77)[0] | {"updated_at": T0 + dt.timedelta(days=3)}),
    )
    env = {**os.environ, CRASH_ENV: point}
    killed = subprocess.run(
        [sys.executable, "-m", "kpiboard", "etl", "run", "-p", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no cleanup ran
    # readers see a complete snapshot: the old one, or (killed after the rename) the new one
    after_crash = _published(project, LIVE_ITEMS)
    assert after_crash == before or len(after_crash) == 51

    rerun = pipeline.run(load_settings(project))
    assert rerun.status == pipeline.SUCCESS, rerun.errors
    fresh = _project(tmp_path / "fresh", url)
    pipeline.run(load_settings(fresh))
    assert _published(project, LIVE_ITEMS) == _published(fresh, LIVE_ITEMS)
    leftovers = list((project / "warehouse" / "snapshots").glob("*.building*"))
    assert leftovers == []


def test_only_one_run_at_a_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    warehouse = load_settings(project).open_warehouse()
    busy = pytest.raises(WarehouseBusy, match="another pipeline run is working on this warehouse")
    with warehouse.lock(), busy:
        pipeline.run(load_settings(project))


def test_published_snapshot_is_read_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    pipeline.run(load_settings(project))
    con = load_settings(project).open_warehouse().connect()
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM raw_shop.items")
    con.close()


def test_warehouse_connections_print_no_progress_bar(tmp_path: Path) -> None:
    """DuckDB would print one into any output for a long query. Its default is off under
    pytest and on in a plain process, so the connection is opened in one."""
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    pipeline.run(load_settings(project))
    code = (
        "from pathlib import Path\nfrom kpiboard.config import load_settings\n"
        f"con = load_settings(Path({str(project)!r})).open_warehouse().connect()\n"
        "print(con.execute(\"SELECT current_setting('enable_progress_bar')\").fetchone()[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_readers_never_see_a_mixed_state(tmp_path: Path) -> None:
    """Two tables change together at the source; every snapshot a reader opens while runs
    publish must show them in step (their row counts always agree)."""
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    _execute(url, "DELETE FROM notes", "INSERT INTO notes SELECT id, 'n' FROM items")
    project = _project(tmp_path / "p", url)
    settings = load_settings(project)
    pipeline.run(settings)
    seen: list[tuple[int, int]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            poll()
        except BaseException as exc:  # an exception in a thread would not fail the test
            failures.append(exc)

    def poll() -> None:
        while not stop.is_set():
            con = settings.open_warehouse().connect()
            try:
                row = con.execute(
                    "SELECT (SELECT count(*) FROM raw_shop.items WHERE _deleted_at IS NULL), "
                    "(SELECT count(*) FROM raw_shop.notes WHERE _deleted_at IS NULL)"
                ).fetchone()
            finally:
                con.close()
            assert row is not None
            seen.append((int(row[0]), int(row[1])))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(3):
            start = 1000 + 10 * n
            _execute(
                url,
                items.insert().values(
                    [r | {"updated_at": T0 + dt.timedelta(days=5 + n)} for r in _rows(5, start)]
                ),
                f"INSERT INTO notes SELECT id, 'n' FROM items WHERE id >= {start}",
            )
            assert pipeline.run(load_settings(project)).status == pipeline.SUCCESS
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(seen) > 3
    assert all(a == b for a, b in seen), [s for s in seen if s[0] != s[1]][:5]
    assert len({a for a, _ in seen}) >= 2  # it read across at least one publish
    assert _published(project, "SELECT count(*) FROM raw_shop.items") == [(65,)]


# -- values that do not convert, and what runs leave behind -------------------------------------

CONVERSION_CASES = [
    # column (SQLite declared type), stored text, what _invalid says
    ("qty INTEGER", "'12 pcs'", "qty: '12 pcs' is not an integer"),
    ("price NUMERIC(12,2)", "'1,200.00'", "price: '1,200.00' is not a number"),
    ("ratio FLOAT", "'pi'", "ratio: 'pi' is not a number"),
    ("paid BOOLEAN", "'maybe'", "paid: 'maybe' is not a boolean"),
    ("day DATE", "'n/a'", "day: 'n/a' is not a date"),
    ("at DATETIME", "'31/12/2026 10:00'", "at: '31/12/2026 10:00' is not a timestamp"),
    (
        "due DATE",
        "'" + "x" * 60 + "'",
        "due: '" + "x" * 39 + "…' is not a date",  # cut to 40 characters
    ),
    ("note TEXT", "'anything'", None),  # text takes every value
    ("day DATE", "NULL", None),  # NULL is a value of every type
]


@pytest.mark.parametrize(("column", "stored", "reason"), CONVERSION_CASES)
def test_a_value_that_does_not_convert_is_null_and_its_row_says_why(
    tmp_path: Path, column: str, stored: str, reason: str | None
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    _execute(
        url,
        f"CREATE TABLE odd (id INTEGER PRIMARY KEY, {column})",
        f"INSERT INTO odd VALUES (1, {stored})",
    )
    project = _project(tmp_path / "p", url)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    name = column.split()[0]
    rows = _published(project, f'SELECT id, "{name}" IS NULL, _invalid FROM raw_shop.odd')
    assert rows == [(1, stored == "NULL" or reason is not None, reason)]
    by_table = {t.table: t for t in result.tables}
    assert by_table["odd"].rows_invalid == (1 if reason else 0)
    assert by_table["items"].rows_invalid == 0
    assert _published(project, "SELECT count(*) FROM raw_shop.items WHERE _invalid IS NULL") == [
        (50,)
    ]


def test_every_value_of_a_row_that_does_not_convert_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    _execute(
        url,
        "UPDATE items SET amount = '1,200.00', updated_at = 'yesterday' WHERE id = 3",
        "UPDATE items SET is_deleted = 'nope' WHERE id = 4",
    )
    project = _project(tmp_path / "p", url)
    result = pipeline.run(load_settings(project))
    assert result.status == pipeline.SUCCESS, result.errors
    assert _published(
        project,
        "SELECT id, amount, is_deleted, updated_at, _invalid FROM raw_shop.items "
        "WHERE _invalid IS NOT NULL ORDER BY id",
    ) == [
        (
            3,
            None,
            False,
            None,
            "amount: '1,200.00' is not a number; updated_at: 'yesterday' is not a timestamp",
        ),
        (
            4,
            Decimal("4.05"),
            None,
            T0 + dt.timedelta(minutes=4),
            "is_deleted: 'nope' is not a boolean",
        ),
    ]
    assert {t.table: t.rows_invalid for t in result.tables} == {"items": 2, "notes": 0}


def test_a_key_that_does_not_convert_reloads_its_table_instead_of_merging(tmp_path: Path) -> None:
    """A NULL key matches no earlier version of its row: merged, each change would add a copy;
    and it matches no key at the source: the delete check would call it deleted."""
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    _execute(
        url,
        "CREATE TABLE rates (day DATE PRIMARY KEY, rate NUMERIC(8,4), updated_at DATETIME)",
        "INSERT INTO rates VALUES ('2026-01-01', 1.1, '2026-01-01 09:00:00'), "
        "('someday', 1.2, '2026-01-01 09:00:00')",
    )
    project = _project(tmp_path / "p", url)
    pipeline.run(load_settings(project))
    _execute(
        url,
        "UPDATE rates SET rate = 1.3, updated_at = '2026-02-01 09:00:00' WHERE day = 'someday'",
    )
    result = pipeline.run(load_settings(project), check_deletes=True)
    assert result.status == pipeline.SUCCESS, result.errors
    rates = next(t for t in result.tables if t.table == "rates")
    assert (rates.mode, rates.rows_read, rates.rows_invalid, rates.rows_deleted) == (
        "full",
        2,
        1,
        0,
    )
    assert next(t for t in result.tables if t.table == "items").mode == "incremental"
    assert _published(
        project, "SELECT day, rate, _deleted_at, _invalid FROM raw_shop.rates ORDER BY day"
    ) == [
        (dt.date(2026, 1, 1), Decimal("1.1000"), None, None),
        (None, Decimal("1.3000"), None, "day: 'someday' is not a date"),
    ]


def test_raw_tables_of_an_older_snapshot_get_the_invalid_column_without_a_full_run(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    pipeline.run(load_settings(project))
    published = load_settings(project).open_warehouse().published()
    assert published is not None
    con = duckdb.connect(str(published))  # as a kpiboard without _invalid left it
    for table in ("items", "notes"):
        con.execute(f"ALTER TABLE raw_shop.{table} DROP COLUMN _invalid")
    con.close()
    _execute(
        url, "UPDATE items SET amount = 'lots', updated_at = '2026-03-01 00:00:00' WHERE id = 1"
    )
    result = pipeline.run(load_settings(project), tables=["items"])  # notes is not synced
    assert result.status == pipeline.SUCCESS, result.errors
    assert [t.mode for t in result.tables] == ["incremental"]
    assert _published(
        project, "SELECT id, _invalid FROM raw_shop.items WHERE id < 3 ORDER BY id"
    ) == [
        (1, "amount: 'lots' is not a number"),
        (2, None),
    ]
    assert _published(project, "SELECT count(_invalid), count(*) FROM raw_shop.notes") == [(0, 5)]


def _history(project: Path, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(f"sqlite:///{project}/app.sqlite")
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(sa.text(sql))]
    finally:
        engine.dispose()


def test_an_app_database_of_an_older_kpiboard_gets_the_new_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    pipeline.run(load_settings(project))
    engine = sa.create_engine(f"sqlite:///{project}/app.sqlite")
    with engine.begin() as con:
        con.execute(sa.text("ALTER TABLE etl_table_runs DROP COLUMN rows_invalid"))
    engine.dispose()
    _execute(
        url, "UPDATE items SET amount = 'lots', updated_at = '2026-03-01 00:00:00' WHERE id = 1"
    )
    second = pipeline.run(load_settings(project))
    assert _history(
        project,
        f"SELECT table_name, rows_invalid FROM etl_table_runs WHERE run_id = '{second.run_id}' "
        "ORDER BY table_name",
    ) == [("items", 1), ("notes", 0)]


def test_a_run_failed_by_an_unexpected_error_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)

    def broken(*args: object, **kwargs: object) -> None:
        raise duckdb.ConversionException("Conversion Error: something\nLINE 1: SELECT …")

    monkeypatch.setattr(pipeline.transform, "create_staging_views", broken)
    with pytest.raises(duckdb.ConversionException):
        pipeline.run(load_settings(project))
    assert _history(project, "SELECT status, error, snapshot FROM etl_runs") == [
        ("failed", "ConversionException: Conversion Error: something", None)
    ]
    assert load_settings(project).open_warehouse().published() is None


@pytest.mark.parametrize(
    ("point", "status", "published"),
    [("extracted", "died", False), ("published", "published", True)],
)
def test_a_run_whose_process_died_is_recorded_by_the_next_run(
    tmp_path: Path, point: str, status: str, published: bool
) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url)
    killed = subprocess.run(
        [sys.executable, "-m", "kpiboard", "etl", "run", "-p", str(project)],
        env={**os.environ, CRASH_ENV: point},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    [(dead, before)] = _history(project, "SELECT run_id, status FROM etl_runs")
    assert before == "running"

    rerun = pipeline.run(load_settings(project))
    runs = dict(
        (r[0], r[1:])
        for r in _history(project, "SELECT run_id, status, snapshot, error FROM etl_runs")
    )
    assert runs[rerun.run_id][0] == "success"
    dead_status, dead_snapshot, dead_error = runs[dead]
    assert dead_status == status
    assert dead_snapshot == (f"{dead}.duckdb" if published else None)
    assert isinstance(dead_error, str)
    assert dead_error.endswith(f"(found by run {rerun.run_id})")
    assert ("after publishing" in dead_error) == published


def test_a_snapshot_never_published_is_removed_and_does_not_count_as_kept(tmp_path: Path) -> None:
    """A run killed between renaming its snapshot into place and pointing CURRENT at it leaves a
    ``.duckdb`` newer than the published one; keeping it would push a published one out."""
    url = f"sqlite:///{tmp_path}/s.sqlite"
    list(_seeded(url))
    project = _project(tmp_path / "p", url, extra="")
    with (project / "kpiboard.toml").open("a") as fh:
        fh.write("\n[warehouse]\nkeep_snapshots = 2\n")
    first = pipeline.run(load_settings(project))
    killed = subprocess.run(
        [sys.executable, "-m", "kpiboard", "etl", "run", "-p", str(project)],
        env={**os.environ, CRASH_ENV: "renamed"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    snapshots = project / "warehouse" / "snapshots"
    assert len(list(snapshots.glob("*.duckdb"))) == 2  # the published one and the stray
    third = pipeline.run(load_settings(project))
    assert first.snapshot is not None and third.snapshot is not None
    assert sorted(p.name for p in snapshots.glob("*.duckdb")) == sorted(
        [first.snapshot.name, third.snapshot.name]
    )
    assert load_settings(project).open_warehouse().published() == third.snapshot
