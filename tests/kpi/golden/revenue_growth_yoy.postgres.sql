-- start_0 = datetime.date(2025, 1, 1)
-- end_1 = datetime.date(2025, 6, 30)
-- scope_2 = 'denver'
-- scope_3 = 'austin'
-- start_4 = datetime.date(2026, 1, 1)
-- end_5 = datetime.date(2026, 6, 30)
SELECT
  "period",
  "value"
FROM (
  WITH "input_1" AS MATERIALIZED (
    SELECT
      CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "period",
      CAST(SUM("f"."net_amount") AS DOUBLE PRECISION) AS "value"
    FROM "core"."fct_invoice" AS "f"
    WHERE
      (
        "f"."issued_on" BETWEEN %(start_0)s AND %(end_1)s
        AND "f"."branch_id" IN (%(scope_2)s, %(scope_3)s)
      )
      AND NOT "f"."status" IN ('draft', 'cancelled')
    GROUP BY
      1
  ), "input_2" AS MATERIALIZED (
    SELECT
      CAST(DATE_TRUNC('MONTH', "f"."issued_on") AS DATE) AS "period",
      CAST(SUM("f"."net_amount") AS DOUBLE PRECISION) AS "value"
    FROM "core"."fct_invoice" AS "f"
    WHERE
      (
        "f"."issued_on" BETWEEN %(start_4)s AND %(end_5)s
        AND "f"."branch_id" IN (%(scope_2)s, %(scope_3)s)
      )
      AND NOT "f"."status" IN ('draft', 'cancelled')
    GROUP BY
      1
  )
  SELECT
    "spine"."period",
    CAST(CAST((
      (
        COALESCE("i1"."value", 0)
      ) - (
        COALESCE("i0"."value", 0)
      )
    ) AS DOUBLE PRECISION) / NULLIF((
      COALESCE("i0"."value", 0)
    ), 0) AS DOUBLE PRECISION) AS "value"
  FROM (
    SELECT
      CAST("period" + INTERVAL '12 MONTH' AS DATE) AS "period"
    FROM "input_1"
    WHERE
      CAST("period" + INTERVAL '12 MONTH' AS DATE) BETWEEN %(start_4)s AND %(end_5)s
    UNION
    SELECT
      "period" AS "period"
    FROM "input_2"
  ) AS "spine"
  LEFT JOIN "input_1" AS "i0"
    ON CAST("spine"."period" - INTERVAL '12 MONTH' AS DATE) IS NOT DISTINCT FROM "i0"."period"
  LEFT JOIN "input_2" AS "i1"
    ON "spine"."period" IS NOT DISTINCT FROM "i1"."period"
) AS "kpi"
ORDER BY
  "period";
