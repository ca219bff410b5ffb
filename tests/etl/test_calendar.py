"""The built-in calendar: a project without a ``dim_date`` model still has every day."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb

from etl import pipeline
from etl.calendar import FIRST_DAY, YEARS_AHEAD
from kpiboard.config import load_settings
from kpiboard.project import init_project


def _project(tmp_path: Path) -> Path:
    source = tmp_path / "shop.sqlite"
    with sqlite3.connect(source) as con:
        con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, order_date DATE)")
        con.execute("INSERT INTO orders VALUES (1, '2026-03-02')")
    project = tmp_path / "p"
    init_project(project, sources=[("shop", f"sqlite:///{source}")])
    return project


def _calendar(project: Path) -> list[tuple[object, ...]]:
    settings = load_settings(project)
    with duckdb.connect(settings.open_warehouse().published(), read_only=True) as con:
        return con.execute(
            "SELECT min(calendar_date), max(calendar_date), count(*), count(DISTINCT _source),"
            " sum(CASE WHEN month_start = DATE '2026-03-01' THEN is_workday::INT END),"
            " max(workdays_in_month) FILTER (WHERE month_start = DATE '2026-03-01'),"
            " bool_or(is_holiday)"
            " FROM core.dim_date"
        ).fetchall()


def test_a_project_without_a_calendar_model_gets_every_day(tmp_path: Path) -> None:
    project = _project(tmp_path)
    pipeline.run(load_settings(project))
    last = dt.date(dt.date.today().year + YEARS_AHEAD, 12, 31)
    days = (last - FIRST_DAY).days + 1
    # March 2026 has 22 weekdays; the built-in calendar knows no holidays
    assert _calendar(project) == [(FIRST_DAY, last, days, 1, 22, 22, False)]


def test_the_project_s_own_calendar_model_wins(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "models" / "core" / "dim_date.sql").write_text(
        "SELECT calendar_date, year(calendar_date) AS year, quarter(calendar_date) AS quarter,"
        " month(calendar_date) AS month, monthname(calendar_date) AS month_name,"
        " dayofmonth(calendar_date) AS day_of_month, dayofyear(calendar_date) AS day_of_year,"
        " isoyear(calendar_date) AS iso_year, weekofyear(calendar_date) AS iso_week,"
        " isodow(calendar_date) AS day_of_week, dayname(calendar_date) AS day_name,"
        " false AS is_weekend, calendar_date = DATE '2026-03-02' AS is_holiday,"
        " calendar_date <> DATE '2026-03-02' AS is_workday, 30 AS workdays_in_month,"
        " calendar_date AS week_start, DATE '2026-03-01' AS month_start,"
        " DATE '2026-03-31' AS month_end, DATE '2026-01-01' AS quarter_start,"
        " DATE '2026-01-01' AS year_start, 'mine' AS _source, now()::TIMESTAMP AS _loaded_at"
        " FROM (SELECT CAST(d AS DATE) AS calendar_date"
        "       FROM range(DATE '2026-03-01', DATE '2026-04-01', INTERVAL 1 DAY) t (d))"
    )
    pipeline.run(load_settings(project))
    first, last = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    assert _calendar(project) == [(first, last, 31, 1, 30, 30, True)]
