-- One row per calendar day, 2016-01-01 … 2030-12-31: a fixed range, chosen to cover Brightline's
-- whole history (its oldest CRM records, employees' hire dates, are from 2016), the demo's 24
-- months (2024-11 … 2026-10) and plans for the years after. A fixed range keeps the calendar
-- stable from run to run; a date typed wrong into the far future (validation reports those)
-- simply finds no row. Extend the range here when plans or history outgrow it.
--
-- Holidays: the US public holidays most private businesses close on — New Year's Day, Memorial
-- Day (last Monday of May), Independence Day, Labor Day (first Monday of September),
-- Thanksgiving (fourth Thursday of November) and Christmas Day. A fixed-date holiday that falls
-- on a Saturday is observed on the Friday before, on a Sunday the Monday after ('… (observed)').
-- Workdays are the days that are neither weekend nor holiday.
-- _source is 'calendar' and _loaded_at the time of the run: the rows are generated, not loaded.
WITH days AS (
    SELECT CAST(d AS DATE) AS calendar_date
    FROM range(DATE '2016-01-01', DATE '2031-01-01', INTERVAL 1 DAY) AS t (d)
),

years AS (
    SELECT CAST(y AS INTEGER) AS y
    FROM range(2015, 2032) AS t (y)
),

fixed_holidays AS (
    SELECT make_date(y, 1, 1) AS d, 'New Year''s Day' AS name FROM years
    UNION ALL
    SELECT make_date(y, 7, 4), 'Independence Day' FROM years
    UNION ALL
    SELECT make_date(y, 12, 25), 'Christmas Day' FROM years
),

holidays AS (
    SELECT
        CASE isodow(d) WHEN 6 THEN d - 1 WHEN 7 THEN d + 1 ELSE d END AS holiday_on,
        name || CASE WHEN isodow(d) >= 6 THEN ' (observed)' ELSE '' END AS name
    FROM fixed_holidays
    UNION ALL
    -- last Monday of May: back from May 31 to its Monday
    SELECT make_date(y, 5, 31) - CAST(isodow(make_date(y, 5, 31)) - 1 AS INTEGER), 'Memorial Day'
    FROM years
    UNION ALL
    -- first Monday of September: forward from September 1 to the next Monday
    SELECT make_date(y, 9, 1) + CAST((8 - isodow(make_date(y, 9, 1))) % 7 AS INTEGER), 'Labor Day'
    FROM years
    UNION ALL
    -- fourth Thursday of November: the first Thursday plus three weeks
    SELECT
        make_date(y, 11, 1) + CAST((11 - isodow(make_date(y, 11, 1))) % 7 + 21 AS INTEGER),
        'Thanksgiving Day'
    FROM years
),

holiday_days AS (
    SELECT holiday_on, string_agg(name, ' / ' ORDER BY name) AS holiday_name
    FROM holidays
    GROUP BY holiday_on
),

calendar AS (
    SELECT
        d.calendar_date,
        h.holiday_name,
        isodow(d.calendar_date) >= 6 AS is_weekend,
        h.holiday_name IS NOT NULL AS is_holiday,
        isodow(d.calendar_date) < 6 AND h.holiday_name IS NULL AS is_workday,
        CAST(date_trunc('month', d.calendar_date) AS DATE) AS month_start
    FROM days AS d
    LEFT JOIN holiday_days AS h ON h.holiday_on = d.calendar_date
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
    is_weekend,
    is_holiday,
    holiday_name,
    is_workday,
    CASE
        WHEN is_workday THEN sum(CAST(is_workday AS INTEGER)) OVER (
            PARTITION BY month_start ORDER BY calendar_date
        )
    END AS workday_of_month,
    sum(CAST(is_workday AS INTEGER)) OVER (PARTITION BY month_start) AS workdays_in_month,
    CAST(date_trunc('week', calendar_date) AS DATE) AS week_start,
    month_start,
    last_day(calendar_date) AS month_end,
    CAST(date_trunc('quarter', calendar_date) AS DATE) AS quarter_start,
    CAST(date_trunc('year', calendar_date) AS DATE) AS year_start,
    'calendar' AS _source,
    CAST(timezone('UTC', current_timestamp) AS TIMESTAMP) AS _loaded_at
FROM calendar
