-- start_0 = datetime.date(2026, 1, 1)
-- end_1 = datetime.date(2026, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
-- after_4 = datetime.date(2026, 7, 14)
-- zone_from_5 = datetime.date(2025, 12, 31)
-- zone_to_6 = datetime.date(2026, 7, 16)
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
  "value"
FROM (
  SELECT
    "period",
    CAST(COUNT(*) FILTER(WHERE
      "converted") AS DOUBLE PRECISION) / NULLIF(CAST(COUNT(*) AS DOUBLE PRECISION), 0) AS "value"
  FROM (
    SELECT
      CAST(DATE_TRUNC(
        'WEEK',
        COALESCE(
          CASE
            WHEN "f"."received_at" >= "z"."cut_2"
            THEN "z"."day_2"
            WHEN "f"."received_at" >= "z"."cut_1"
            THEN "z"."day_1"
            ELSE "z"."day_0"
          END,
          CAST("f"."received_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
        )
      ) AS DATE) AS "period",
      "f"."received_at" >= CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
      AND "f"."received_at" < CAST(%(end_1)s AS TIMESTAMP) + INTERVAL '2 DAY'
      AND (
        (
          "f"."received_at" >= CAST(%(start_0)s AS TIMESTAMP) + INTERVAL '1 DAY'
          AND "f"."received_at" < CAST(%(end_1)s AS TIMESTAMP)
        )
        OR COALESCE(
          CASE
            WHEN "f"."received_at" >= "z"."cut_2"
            THEN "z"."day_2"
            WHEN "f"."received_at" >= "z"."cut_1"
            THEN "z"."day_1"
            ELSE "z"."day_0"
          END,
          CAST("f"."received_at" AT TIME ZONE 'UTC' AT TIME ZONE COALESCE("b"."timezone", 'UTC') AS DATE)
        ) BETWEEN %(start_0)s AND %(end_1)s
      )
      AND "f"."branch_id" IN (%(scope_2)s, %(scope_3)s) AS "is_base",
      NOT COALESCE("d_client"."master_client_id", "f"."client_id") IS NULL
      AND COALESCE(
        (
          LEAD("f"."received_at") OVER (
            PARTITION BY COALESCE("d_client"."master_client_id", "f"."client_id")
            ORDER BY "f"."received_at"
          ) <= "f"."received_at" + INTERVAL '14 DAY'
          OR LAG("f"."received_at") OVER (
            PARTITION BY COALESCE("d_client"."master_client_id", "f"."client_id")
            ORDER BY "f"."received_at"
          ) = "f"."received_at"
        ),
        FALSE
      ) AS "converted"
    FROM "core"."fct_service_request" AS "f"
    LEFT JOIN "zone_days" AS "z"
      ON "z"."branch_id" = "f"."branch_id"
      AND "z"."utc_date" = CAST("f"."received_at" AS DATE)
    LEFT JOIN "core"."dim_branch" AS "b"
      ON "b"."branch_id" = "f"."branch_id"
    LEFT JOIN "core"."dim_client" AS "d_client"
      ON "d_client"."client_id" = "f"."client_id"
    WHERE
      "f"."status" <> 'cancelled'
      AND "f"."received_at" >= CAST(%(start_0)s AS TIMESTAMP) - INTERVAL '1 DAY'
      AND "f"."received_at" < CAST(%(after_4)s AS TIMESTAMP) + INTERVAL '2 DAY'
  ) AS "e"
  WHERE
    "is_base"
  GROUP BY
    "period"
) AS "kpi"
ORDER BY
  "period";
