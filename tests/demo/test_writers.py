"""The bulk writers on real engines: values survive exactly, and MariaDB's fallback works."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from kpiboard import urls
from kpiboard.demo.writers import DatabaseWriter

metadata = sa.MetaData()
table = sa.Table(
    "samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("note", sa.Text),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("ref_id", sa.Integer),
    sa.Column("at", sa.DateTime),
    sa.Column("on", sa.Date),
    sa.Column("flag", sa.Boolean, nullable=False),
)

# the awkward values: escapes, tabs and newlines in text, NULLs everywhere NULL can be
FRAME = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "note": ["plain", "tab\there\nnew line \\N back\\slash 'quote' \"dq\"", None],
        "amount": [12.5, 0.01, float("nan")],
        "ref_id": [7.0, float("nan"), 9.0],
        "at": pd.to_datetime(["2026-10-31 23:59:59", None, "2024-11-01 00:00:00"]).to_numpy(),
        "on": pd.to_datetime(["2026-01-01", "2025-02-28", None]).to_numpy(),
        "flag": [True, False, True],
    }
)
EXPECTED = [
    (
        1,
        "plain",
        Decimal("12.50"),
        7,
        dt.datetime(2026, 10, 31, 23, 59, 59),
        dt.date(2026, 1, 1),
        True,
    ),
    (
        2,
        "tab\there\nnew line \\N back\\slash 'quote' \"dq\"",
        Decimal("0.01"),
        None,
        None,
        dt.date(2025, 2, 28),
        False,
    ),
    (3, None, None, 9, dt.datetime(2024, 11, 1), None, True),
]


def write_and_read(
    url: sa.URL, *, local_infile: bool = True
) -> tuple[list[tuple[object, ...]], DatabaseWriter]:
    urls.ensure_database(url)
    engine = sa.create_engine(url)
    with engine.begin() as con:
        metadata.drop_all(con)
        metadata.create_all(con)
    writer = DatabaseWriter(url, local_infile=local_infile)
    try:
        writer.write(table, FRAME)
        writer.commit()
    finally:
        writer.close()
    with engine.connect() as con:
        rows = [tuple(r) for r in con.execute(sa.select(table).order_by(table.c.id))]
    engine.dispose()
    return rows, writer


def test_sqlite_keeps_every_value(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows, _ = write_and_read(urls.parse_url(f"sqlite:///{tmp_path}/w.sqlite"))
    assert rows == EXPECTED


def test_postgres_copy_keeps_every_value(postgres_template: str) -> None:
    rows, _ = write_and_read(urls.expand(postgres_template, "stock"))
    assert rows == EXPECTED


def test_mariadb_load_data_keeps_every_value(mariadb_template: str) -> None:
    rows, writer = write_and_read(urls.expand(mariadb_template, "stock"))
    assert writer.load_data, "LOAD DATA LOCAL INFILE was refused; the fast path did not run"
    assert rows == EXPECTED


def test_mariadb_falls_back_to_insert_when_local_infile_is_refused(mariadb_template: str) -> None:
    rows, writer = write_and_read(urls.expand(mariadb_template, "stock"), local_infile=False)
    assert not writer.load_data
    assert rows == EXPECTED
