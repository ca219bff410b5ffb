-- scope_0 = 'denver'
-- scope_1 = 'austin'
-- end_2 = datetime.date(2026, 6, 30)
-- start_3 = datetime.date(2026, 1, 1)
SELECT
  "period",
  "value"
FROM (
  WITH "events_1" AS MATERIALIZED (
    SELECT
      COALESCE("d_client"."master_client_id", "f"."client_id") AS "entity_0",
      "f"."issued_on" AS "day",
      "f"."branch_id" IN (%(scope_0)s, %(scope_1)s) AS "counted"
    FROM "core"."fct_invoice" AS "f"
    LEFT JOIN "core"."dim_client" AS "d_client"
      ON "d_client"."client_id" = "f"."client_id"
    WHERE
      NOT COALESCE("d_client"."master_client_id", "f"."client_id") IS NULL
      AND (
        "f"."kind" = 'invoice' AND NOT "f"."status" IN ('draft', 'cancelled')
      )
      AND "f"."issued_on" <= %(end_2)s
  )
  SELECT
    "period",
    CAST(COUNT(*) AS DOUBLE PRECISION) AS "value"
  FROM (
    SELECT
      CAST(DATE_TRUNC('QUARTER', "day") AS DATE) AS "period",
      "entity_0"
    FROM (
      SELECT
        "r"."entity_0",
        "r"."day",
        "r"."counted"
      FROM "events_1" AS "r"
      JOIN (
        SELECT
          "entity_0",
          "day",
          LAG("day") OVER (PARTITION BY "entity_0" ORDER BY "day") AS "previous_day"
        FROM "events_1"
        GROUP BY
          1,
          2
      ) AS "k"
        ON "k"."entity_0" = "r"."entity_0"
        AND "k"."day" = "r"."day"
        AND CAST("k"."previous_day" + INTERVAL '180 DAY' AS DATE) <= "r"."day"
    ) AS "c"
    WHERE
      "counted" AND "day" BETWEEN %(start_3)s AND %(end_2)s
    GROUP BY
      1,
      2
  ) AS "a"
  GROUP BY
    1
) AS "kpi"
ORDER BY
  "period";
