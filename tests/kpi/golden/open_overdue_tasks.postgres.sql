-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
-- before_4 = datetime.date(2025, 12, 31)
-- zone_from_5 = datetime.date(2025, 12, 31)
-- zone_to_6 = datetime.date(2026, 7, 2)
WITH "zone_days" AS MATERIALIZED (
  SELECT
    "branch_id",
    "utc_date",
    "day_0",
    "day_0" + 1 AS "day_1",
    CAST(CAST("day_0" + 1 AS TIMESTAMP) AT TIME ZONE "zone" AT TIME ZONE 'UTC' AS TIMESTAMP) AS "cut_1",
    "day_0" + 2 AS "day_2",
    CAST(CAST("day_0" + 2 AS TIMESTAMP) AT TIME ZONE "zone" AT TIME ZONE 'UTC' AS TIMESTAMP) AS "cut_2"
  FROM (
    SELECT
      "b"."branch_id" AS "branch_id",
      "d"."calendar_date" AS "utc_date",
      COALESCE("b"."timezone", 'UTC') AS "zone",
      CAST(CAST("d"."calendar_date" AS TIMESTAMP) AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE) AS day_0
    FROM "core"."dim_branch" AS "b"
    CROSS JOIN "core"."dim_date" AS "d"
    WHERE
      "d"."calendar_date" BETWEEN %(zone_from_5)s AND %(zone_to_6)s
  ) AS "zd"
)
SELECT
  "period",
  "employee",
  "value"
FROM (
  WITH "spans_1" AS MATERIALIZED (
    SELECT
      CASE
        WHEN CAST("f"."due_at" AS DATE) + 1 > CASE
          WHEN "f"."created_at" < CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
          THEN %(before_4)s
          ELSE COALESCE(
            CASE
              WHEN "f"."created_at" >= "z"."cut_2"
              THEN "z"."day_2"
              WHEN "f"."created_at" >= "z"."cut_1"
              THEN "z"."day_1"
              ELSE "z"."day_0"
            END,
            CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
          )
        END
        THEN CAST("f"."due_at" AS DATE) + 1
        ELSE CASE
          WHEN "f"."created_at" < CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
          THEN %(before_4)s
          ELSE COALESCE(
            CASE
              WHEN "f"."created_at" >= "z"."cut_2"
              THEN "z"."day_2"
              WHEN "f"."created_at" >= "z"."cut_1"
              THEN "z"."day_1"
              ELSE "z"."day_0"
            END,
            CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
          )
        END
      END AS "day",
      CASE
        WHEN "f"."done_at" >= CAST(%(end_1)s AS TIMESTAMP) + INTERVAL '2 DAY'
        THEN NULL
        ELSE COALESCE(
          CASE
            WHEN "f"."done_at" >= "z_done_at"."cut_2"
            THEN "z_done_at"."day_2"
            WHEN "f"."done_at" >= "z_done_at"."cut_1"
            THEN "z_done_at"."day_1"
            ELSE "z_done_at"."day_0"
          END,
          CAST("f"."done_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
        )
      END AS "stop",
      "f"."assignee_id" AS "employee",
      COUNT(*) AS "v",
      COUNT(*) AS "n"
    FROM "core"."fct_task" AS "f"
    LEFT JOIN "zone_days" AS "z"
      ON "z"."branch_id" = "f"."branch_id"
      AND "z"."utc_date" = CAST("f"."created_at" AS DATE)
    LEFT JOIN "core"."dim_branch" AS "b"
      ON "b"."branch_id" = "f"."branch_id"
    LEFT JOIN "zone_days" AS "z_done_at"
      ON "z_done_at"."branch_id" = "f"."branch_id"
      AND "z_done_at"."utc_date" = CAST("f"."done_at" AS DATE)
    WHERE
      (
        "f"."branch_id" IN (%(scope_2)s, %(scope_3)s)
        AND "f"."status" <> 'cancelled'
        AND "f"."created_at" < CAST(%(end_1)s AS TIMESTAMP) + INTERVAL '2 DAY'
        AND (
          "f"."done_at" IS NULL
          OR "f"."done_at" >= CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
        )
      )
      AND NOT CAST("f"."due_at" AS DATE) + 1 IS NULL
    GROUP BY
      1,
      2,
      3
  )
  SELECT
    "c"."period",
    "r"."employee",
    CAST(SUM("r"."v") AS DOUBLE PRECISION) AS "value"
  FROM (
    SELECT
      CAST(DATE_TRUNC('WEEK', "d"."calendar_date") AS DATE) AS "period",
      MAX("d"."calendar_date") AS "period_end",
      NULL AS "window_start"
    FROM "core"."dim_date" AS "d"
    WHERE
      "d"."calendar_date" BETWEEN %(start_0)s AND %(end_1)s
    GROUP BY
      1
  ) AS "c"
  JOIN (
    SELECT
      "day" AS "day",
      "employee",
      SUM("v") AS "v",
      SUM("n") AS "n"
    FROM "spans_1"
    WHERE
      "stop" IS NULL OR "stop" > "day"
    GROUP BY
      1,
      2
    UNION ALL
    SELECT
      "stop" AS "day",
      "employee",
      -SUM("v") AS "v",
      -SUM("n") AS "n"
    FROM "spans_1"
    WHERE
      "stop" > "day"
    GROUP BY
      1,
      2
  ) AS "r"
    ON "r"."day" <= "c"."period_end"
  GROUP BY
    1,
    2
  HAVING
    SUM("r"."n") > 0
) AS "kpi"
ORDER BY
  "period",
  "employee";
