-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
-- zone_from_4 = datetime.date(2025, 12, 31)
-- zone_to_5 = datetime.date(2026, 7, 2)
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
      "d"."calendar_date" BETWEEN $zone_from_4 AND $zone_to_5
  ) AS "zd"
)
SELECT
  "period",
  "branch",
  "value"
FROM (
  SELECT
    CAST(DATE_TRUNC(
      'MONTH',
      COALESCE(
        CASE
          WHEN "f"."created_at" >= "z"."cut_2"
          THEN "z"."day_2"
          WHEN "f"."created_at" >= "z"."cut_1"
          THEN "z"."day_1"
          ELSE "z"."day_0"
        END,
        CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
      )
    ) AS DATE) AS "period",
    "f"."branch_id" AS "branch",
    CAST(AVG(DATE_DIFF('MINUTE', "f"."created_at", "f"."first_response_at") / 60.0) AS DOUBLE) AS "value"
  FROM "core"."fct_lead" AS "f"
  LEFT JOIN "zone_days" AS "z"
    ON "z"."branch_id" = "f"."branch_id"
    AND "z"."utc_date" = CAST("f"."created_at" AS DATE)
  LEFT JOIN "core"."dim_branch" AS "b"
    ON "b"."branch_id" = "f"."branch_id"
  WHERE
    (
      "f"."created_at" >= CAST($start_0 AS TIMESTAMP) - INTERVAL '1' DAY
      AND "f"."created_at" < CAST($end_1 AS TIMESTAMP) + INTERVAL '2' DAY
      AND (
        (
          "f"."created_at" >= CAST($start_0 AS TIMESTAMP) + INTERVAL '1' DAY
          AND "f"."created_at" < CAST($end_1 AS TIMESTAMP)
        )
        OR COALESCE(
          CASE
            WHEN "f"."created_at" >= "z"."cut_2"
            THEN "z"."day_2"
            WHEN "f"."created_at" >= "z"."cut_1"
            THEN "z"."day_1"
            ELSE "z"."day_0"
          END,
          CAST("f"."created_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
        ) BETWEEN $start_0 AND $end_1
      )
      AND "f"."branch_id" IN ($scope_2, $scope_3)
    )
    AND NOT "f"."first_response_at" IS NULL
  GROUP BY
    1,
    2
) AS "kpi"
ORDER BY
  "period",
  "branch";
