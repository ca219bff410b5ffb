"""The calendar every project has: ``core.dim_date`` built by kpiboard when no model fills it.

KPIs place timestamps on local days and count running totals over the calendar's periods, so a
project whose ``core.dim_date`` is empty gets no values from them at all. A company's own
database has no calendar table, and writing one is not where a new user should start. So, unless
the project has its own ``models/core/dim_date.sql`` (for its public holidays, as the demo's,
or another range), the pipeline adds the model :func:`calendar_model` returns: every day from
:data:`FIRST_DAY` to the end of the year :data:`YEARS_AHEAD` years after the run, weekdays as
workdays and no holidays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from etl.transform import TARGET_SCHEMA, Model, builtin_model
from kpiboard.config import Settings

DIM_DATE = f"{TARGET_SCHEMA}.dim_date"
FIRST_DAY = dt.date(1990, 1, 1)
"""The first day of the built-in calendar: older than the history of any system kpiboard reads."""
YEARS_AHEAD = 10
"""The built-in calendar runs to the end of the year this many years after the run (plans)."""
SHOWN = "the built-in calendar (no models/core/dim_date.sql)"


def calendar_sql(first: dt.date, last: dt.date) -> str:
    """A model's ``SELECT`` of every day from ``first`` to ``last``, Monday to Friday workdays."""
    return f"""
WITH days AS (
    SELECT CAST(d AS DATE) AS calendar_date
    FROM range(DATE '{first.isoformat()}', DATE '{(last + dt.timedelta(days=1)).isoformat()}',
               INTERVAL 1 DAY) AS t (d)
)
SELECT
    calendar_date,
    year(calendar_date) AS year,
    quarter(calendar_date) AS quarter,
    month(calendar_date) AS month,
    monthname(calendar_date) AS month_name,
    dayofmonth(calendar_date) AS day_of_month,
    dayofyear(calendar_date) AS day_of_year,
    isoyear(calendar_date) AS iso_year,
    weekofyear(calendar_date) AS iso_week,
    isodow(calendar_date) AS day_of_week,
    dayname(calendar_date) AS day_name,
    isodow(calendar_date) >= 6 AS is_weekend,
    false AS is_holiday,
    CAST(NULL AS VARCHAR) AS holiday_name,
    isodow(calendar_date) < 6 AS is_workday,
    CASE WHEN isodow(calendar_date) < 6 THEN sum(CAST(isodow(calendar_date) < 6 AS INTEGER))
        OVER (PARTITION BY date_trunc('month', calendar_date) ORDER BY calendar_date) END
        AS workday_of_month,
    sum(CAST(isodow(calendar_date) < 6 AS INTEGER))
        OVER (PARTITION BY date_trunc('month', calendar_date)) AS workdays_in_month,
    CAST(date_trunc('week', calendar_date) AS DATE) AS week_start,
    CAST(date_trunc('month', calendar_date) AS DATE) AS month_start,
    last_day(calendar_date) AS month_end,
    CAST(date_trunc('quarter', calendar_date) AS DATE) AS quarter_start,
    CAST(date_trunc('year', calendar_date) AS DATE) AS year_start,
    'calendar' AS _source,
    CAST(timezone('UTC', current_timestamp) AS TIMESTAMP) AS _loaded_at
FROM days
"""


def calendar_model(
    settings: Settings, models: Sequence[Model], today: dt.date | None = None
) -> Model | None:
    """The built-in model of ``core.dim_date``; ``None`` when a model of the project fills it."""
    if any(m.target.lower() == DIM_DATE for m in models):
        return None
    year = (today or dt.date.today()).year + YEARS_AHEAD
    sql = calendar_sql(FIRST_DAY, dt.date(year, 12, 31))
    return builtin_model("dim_date", sql, settings.project_dir / "models", SHOWN)


def with_calendar(settings: Settings, models: list[Model]) -> list[Model]:
    """``models`` plus the built-in calendar when the project has none (:func:`calendar_model`)."""
    extra = calendar_model(settings, models)
    return models if extra is None else [*models, extra]
